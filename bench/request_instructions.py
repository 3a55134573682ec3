"""CPU instructions per transition request, EWS against the minimal app: a figure the machine's load does not move.

    .venv/bin/python bench/request_instructions.py        # needs valgrind; about 4 minutes

Builds the throughput benchmark's database (`bench/throughput_fixture.py`), then runs, under
`valgrind --tool=callgrind`, a process that sends N sequential `POST /api/v1/cases/{id}/transitions`
(`waitlist`, each on a fresh case) through the Flask test client — EWS with JSON logs on (to /dev/null), and
`bench/minimal_app.py`. Each target runs with N = 50 and N = 250; (instructions(250) − instructions(50)) / 200
is the cost of one request without the start-up.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from throughput_fixture import (
    EXPECTED_VERSION,
    TRANSITION,
    add_pool,
    build_world,
    recreate_database,
    sqlalchemy_url,
)

BENCH = Path(__file__).resolve().parent
SMALL, LARGE = 50, 250
WARM_UP = 20


def send(kind: str, world: dict, first: int, count: int) -> None:
    """The measured process: `count` transitions (after a warm-up) through the test client."""
    os.environ.update(EWS_ENV="production", EWS_SECRET_KEY=secrets.token_hex(32), EWS_DATA_DIR=world["data"])
    if kind == "ews":
        os.environ.update(EWS_DATABASE_URL=sqlalchemy_url(world["url"]), EWS_LOG_FORMAT="json")
        from ews_cases.app import create_app
        from ews_cases.observability.logs import logging_config

        app = create_app()
        logging.config.dictConfig(logging_config(app.extensions["ews"].settings))
        logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    else:
        os.environ["EWS_DATABASE_URL"] = world["url"]
        sys.path.insert(0, str(BENCH.parent))
        from bench.minimal_app import app
    client = app.test_client()
    headers = {"Authorization": f"Bearer {world['token']}"}
    for case_id in range(first, first + WARM_UP + count):
        answer = client.post(
            f"/api/v1/cases/{case_id}/transitions",
            json={"name": TRANSITION, "version": EXPECTED_VERSION},
            headers=headers,
        )
        if answer.status_code != 200:
            raise SystemExit(f"{kind}: {answer.status_code} {answer.get_data(as_text=True)[:300]}")


def instructions(kind: str, world_file: Path, first: int, count: int) -> int:
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--send", kind, str(world_file), str(first), str(count),
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or found is None:
        raise SystemExit(f"{kind} failed:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--send", nargs=4, metavar=("KIND", "WORLD", "FIRST", "COUNT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.send:
        kind, world_file, first, count = args.send
        send(kind, json.loads(Path(world_file).read_text()), int(first), int(count))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="ews-instructions-"))
    url = recreate_database()
    built = build_world(url, folder)
    pool = add_pool(built, 2 * (SMALL + LARGE + 2 * WARM_UP))
    world_file = folder / "world.json"
    world_file.write_text(json.dumps({"url": url, "token": built.token, "data": str(folder)}))
    next_case = pool.first
    per_request = {}
    for kind in ("minimal", "ews"):
        counts = []
        for n in (SMALL, LARGE):
            counts.append(instructions(kind, world_file, next_case, n))
            next_case += WARM_UP + n
        per_request[kind] = (counts[1] - counts[0]) / (LARGE - SMALL)
        print(f"{kind}: {per_request[kind] / 1e6:.2f} M instructions per request")
    print(f"EWS / minimal app: {per_request['ews'] / per_request['minimal']:.1f} x the instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
