"""How many case transitions per second does the real app serve, against two ceilings? (issue 6)

    .venv/bin/python bench/transition_throughput.py [--duration 20] [--warmup 5] [--rounds 4]
                                                    [--settings 2x8,5x4] [--profile FILE]

One run:

1. `throughput_fixture`: drops and recreates the PostgreSQL database `ews_bench_throughput`, migrates it
   (`ews_cases.db.migrate.upgrade`, what `ews db upgrade` runs), makes a coordinator with an API token
   (`create_account`, as `ews users create`) and one case in `reviewed` through the services, and copies
   that case into pools of fresh cases as needed;
2. for each gunicorn setting WORKERSxTHREADS, serves the real app with `ews web --workers W --threads T`
   (gthread; EWS_ENV=production with a random secret made for this run; no broker) and, with the same
   gunicorn options, ceiling A `bench/minimal_app.py` (the same writes in plain SQL). `wrk` (2 threads,
   16 connections, `bench/transition.lua`) sends `POST /api/v1/cases/{id}/transitions
   {"name": "waitlist", "version": 3}` to each, every request on a case no other request touches: the
   whole transition (row lock, version check, workflow, audit event on the case's chain, outbox email),
   answered 200. Ceiling B is `pgbench -f bench/pgbench_transition.sql`, 16 clients, the same writes;
3. after a warm-up of each, the measured time is split into rounds that take turns (EWS, minimal app,
   pgbench, then the other way round), so load from other processes on the machine falls on all three;
4. checks the work: waitlisted cases, audit events and outbox rows match the 200s, and a sample of the
   changed cases' audit chains verifies;
5. prints requests/s, p50 and p99 of each, and the ratios; exits 1 if EWS < 0.5 × the minimal app
   (2 if the run is invalid: failed requests or work that does not add up).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from throughput_fixture import (
    DB_NAME,
    EXPECTED_VERSION,
    TRANSITION,
    Pool,
    World,
    add_pool,
    build_world,
    check_work,
    recreate_database,
    settle,
)

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENV_BIN = Path(sys.executable).parent
CLIENTS, LOAD_THREADS = 16, 2
KINDS = ("ews", "minimal", "pgbench")
LABELS = {"ews": "EWS", "minimal": "minimal Flask", "pgbench": "pgbench"}


# -- servers ---------------------------------------------------------------------------------------------


@dataclass
class Server:
    kind: str
    process: subprocess.Popen
    port: int


def start_server(kind: str, world: World, workers: int, threads: int, tmp: Path) -> Server:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EWS_", "PROMETHEUS_"))}
    env.update(
        EWS_ENV="production",
        EWS_SECRET_KEY=secrets.token_urlsafe(48),  # made for this run only
        EWS_DATABASE_URL=world.url,
        EWS_DATA_DIR=str(tmp / "data"),
        EWS_HOST="127.0.0.1",
        EWS_PORT=str(port),
        EWS_API_RATE_LIMIT="0",  # one token sends thousands of requests a second: the rate limit would refuse
    )
    if kind == "ews":
        command = [str(VENV_BIN / "ews"), "web", "--workers", str(workers), "--threads", str(threads)]
    else:
        # The options ews_cases.cli.server.serve gives gunicorn (EWS logs requests itself; gunicorn's access
        # log is off there, so here too).
        command = [
            str(VENV_BIN / "gunicorn"),
            "--bind", f"127.0.0.1:{port}",
            "--workers", str(workers),
            "--threads", str(threads),
            "--worker-class", "gthread",
            "--timeout", "60",
            "--graceful-timeout", "20",
            "--chdir", str(BENCH),
            "minimal_app:app",
        ]  # fmt: skip
    log = tmp / f"{kind}-{workers}x{threads}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    server = Server(kind, process, port)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{kind} server exited:\n{log.read_text()[-3000:]}")
        if _answers(port) and _workers_idle(process.pid, workers):
            return server
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"{kind} server did not start:\n{log.read_text()[-3000:]}")


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
    except urllib.error.HTTPError:
        return True  # any HTTP answer: the minimal app has no health route
    except OSError:
        return False
    return True


def _workers_idle(master: int, workers: int) -> bool:
    """All workers forked and done loading the app: none used CPU during half a second."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) < workers:
        return False
    try:
        before = [_cpu_ticks(int(pid)) for pid in children]
        time.sleep(0.5)
        return before == [_cpu_ticks(int(pid)) for pid in children]
    except FileNotFoundError:
        return False


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def stop_server(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


# -- load ------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one target did in the measured rounds."""

    kind: str
    requests: int = 0
    failed: int = 0  # non-2xx answers, socket errors, failed pgbench transactions
    seconds: float = 0.0
    latencies_ms: list[tuple[float, float]] = field(default_factory=list)  # (value, weight) samples
    used: list[range] = field(default_factory=list)
    warm_ok: int = 0
    runs: int = 0
    check: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        total = sum(w for _, w in ordered)
        seen = 0.0
        for value, weight in ordered:
            seen += weight
            if seen >= p / 100 * total:
                return value
        return float("nan")


@dataclass
class Feed:
    """Where a target's next cases come from: its current pool and the first case not used yet."""

    kind: str
    pool: Pool
    next_id: int
    expected_rate: float

    def ensure(self, world: World, seconds: float, *, then_settle: bool = True) -> bool:
        """A fresh pool if this one might run dry within `seconds` (made while nothing is measured)."""
        need = int(self.expected_rate * seconds * 2) + 200
        if self.pool.last - self.next_id >= need:
            return False
        self.pool = add_pool(world, need, then_settle=then_settle)
        self.next_id = self.pool.first
        return True


@dataclass
class Run:
    requests: int
    failed: int
    seconds: float
    latencies_ms: list[tuple[float, float]]
    next_id: int
    used: range = range(0)


def run_wrk(world: World, port: int, feed: Feed, seconds: float) -> Run:
    command = [
        "wrk", f"-t{LOAD_THREADS}", f"-c{CLIENTS}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(BENCH / "transition.lua"), f"http://127.0.0.1:{port}",
        "--", world.token, str(feed.next_id), str(feed.pool.last), TRANSITION, str(EXPECTED_VERSION),
        str(LOAD_THREADS),
    ]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no figures:\n{out}")
    f = json.loads(line.removeprefix("WRKJSON "))
    weight = f["requests"] / len(f["quantiles_us"])
    return Run(
        requests=f["requests"],
        failed=f["non2xx"] + f["connect"] + f["read"] + f["write"] + f["timeout"],
        seconds=f["duration_us"] / 1e6,
        latencies_ms=[(q / 1000, weight) for q in f["quantiles_us"]],
        next_id=f["next_id"],
    )


def run_pgbench(world: World, feed: Feed, seconds: float, logs: Path | None) -> Run:
    """pgbench takes its cases from a sequence over the rest of the feed's pool."""
    with psycopg.connect(world.url, autocommit=True) as conn:
        conn.execute("DROP SEQUENCE IF EXISTS bench_pgbench_case")
        conn.execute(
            f"CREATE SEQUENCE bench_pgbench_case START {feed.next_id} MINVALUE {feed.next_id} "
            f"MAXVALUE {feed.pool.last - 1}"
        )
    token_hash = hashlib.sha256(world.token.encode()).hexdigest()
    command = [
        "pgbench", "-n", "-M", "prepared", f"-c{CLIENTS}", f"-j{LOAD_THREADS}", f"-T{math.ceil(seconds)}",
        "-f", str(BENCH / "pgbench_transition.sql"), "-D", f"token_hash={token_hash}",
        "-h", "127.0.0.1", "-U", "postgres", DB_NAME,
    ]  # fmt: skip
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        command += ["--log", "--log-prefix", str(logs / "tx")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    out = done.stdout + done.stderr
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if processed is None:
        raise SystemExit(f"pgbench failed:\n{out[-3000:]}")
    errors = sum(1 for x in out.splitlines() if "aborted" in x)
    with psycopg.connect(world.url) as conn:
        last, called = conn.execute("SELECT last_value, is_called FROM bench_pgbench_case").fetchone()
    latencies: list[tuple[float, float]] = []
    if logs is not None:
        for path in logs.iterdir():
            latencies += [(int(line.split()[2]) / 1000, 1.0) for line in path.read_text().splitlines()]
            path.unlink()
    return Run(
        requests=int(processed.group(1)),
        failed=(int(failed.group(1)) if failed else 0) + errors,
        seconds=math.ceil(seconds),
        latencies_ms=latencies,
        next_id=last + 1 if called else last,
    )


def drive(kind: str, world: World, servers: dict[str, Server], feed: Feed, seconds: float, tmp: Path) -> Run:
    if feed.ensure(world, seconds):
        print(f"  ({kind}: pool topped up)", flush=True)
    first = feed.next_id
    if kind == "pgbench":
        run = run_pgbench(world, feed, seconds, tmp / "pgbench")
    else:
        run = run_wrk(world, servers[kind].port, feed, seconds)
    feed.next_id = max(run.next_id, first)
    run.used = range(first, feed.next_id)
    feed.expected_rate = max(feed.expected_rate, run.requests / max(run.seconds, 0.1))
    return run


# -- one setting -----------------------------------------------------------------------------------------


def measure(
    world: World, workers: int, threads: int, args: argparse.Namespace, tmp: Path
) -> dict[str, Tally]:
    """Warm up all three, then take turns for `args.rounds` rounds; returns the tallies by target."""
    kinds = [k for k in KINDS if not (k == "pgbench" and args.skip_pgbench)]
    feeds = {
        kind: Feed(kind, Pool(0, 0), 0, rate)
        for kind, rate in (
            ("ews", args.ews_rate),
            ("minimal", args.minimal_rate),
            ("pgbench", args.pgbench_rate),
        )
    }
    tallies = {kind: Tally(kind) for kind in kinds}
    servers = {kind: start_server(kind, world, workers, threads, tmp) for kind in ("ews", "minimal")}
    profiler = None
    try:
        for kind in kinds:
            feeds[kind].ensure(world, args.warmup)
            warm = drive(kind, world, servers, feeds[kind], args.warmup, tmp)
            tallies[kind].warm_ok = warm.requests - warm.failed
            tallies[kind].used.append(warm.used)
        # Cases for all rounds now, so that no bulk load, VACUUM or CHECKPOINT falls between them.
        for kind in kinds:
            feeds[kind].ensure(world, args.duration, then_settle=False)
        settle(world)
        if args.profile:
            profiler = _start_profiler(servers["ews"], args.duration * len(kinds) * 2, Path(args.profile))
            time.sleep(1)  # py-spy attaches
        share = max(1, round(args.duration / args.rounds))  # wrk takes whole seconds
        for number in range(args.rounds):
            order = kinds if number % 2 == 0 else kinds[::-1]
            for kind in order:
                run = drive(kind, world, servers, feeds[kind], share, tmp)
                tally = tallies[kind]
                tally.requests += run.requests
                tally.failed += run.failed
                tally.seconds += run.seconds
                tally.latencies_ms += run.latencies_ms
                tally.used.append(run.used)
                tally.runs += 1
                print(
                    f"  round {number + 1} {kind:<8} {run.requests / run.seconds:7.1f}/s "
                    f"({run.requests} done, {run.failed} failed); {load_average()}",
                    flush=True,
                )
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it has
            profiler.wait()
        for server in servers.values():
            stop_server(server)
    for tally in tallies.values():
        in_flight = CLIENTS * (tally.runs + 1)  # requests cut off when wrk stopped may have committed
        ok = tally.warm_ok + tally.requests - tally.failed
        tally.check = check_work(world, tally.used, ok, in_flight)
    return tallies


def _start_profiler(server: Server, seconds: int, out: Path) -> subprocess.Popen:
    """py-spy (a dev dependency) samples the EWS workers' Python (threads holding the
    GIL, so waiting on the database does not show) during the rounds."""
    command = [
        str(VENV_BIN / "py-spy"), "record", "--pid", str(server.process.pid), "--subprocesses",
        "--duration", str(seconds), "--rate", "200", "--gil", "--format", "raw", "--output", str(out),
    ]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# -- the run ---------------------------------------------------------------------------------------------


def load_average() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per target")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds per target")
    parser.add_argument("--rounds", type=int, default=4, help="turns the measured time is split into")
    parser.add_argument(
        "--settings", default="2x8,5x4", help="gunicorn WORKERSxTHREADS, comma-separated (5x4: `ews web`)"
    )
    parser.add_argument("--ews-rate", type=float, default=200, help="first guess of EWS requests/s")
    parser.add_argument("--minimal-rate", type=float, default=800, help="first guess for the minimal app")
    parser.add_argument("--pgbench-rate", type=float, default=1500, help="first guess for pgbench")
    parser.add_argument("--skip-pgbench", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="py-spy the EWS workers into FILE (raw stacks)")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ews-throughput-"))
    started = time.monotonic()
    world = build_world(recreate_database(), tmp / "data")
    print(f"database {DB_NAME} migrated, template case {world.template_id}; {load_average()}", flush=True)
    results: dict[str, dict[str, Tally]] = {}
    for item in args.settings.split(","):
        workers, threads = (int(x) for x in item.lower().split("x"))
        print(f"gunicorn {workers} workers × {threads} threads", flush=True)
        results[f"{workers}x{threads}"] = measure(world, workers, threads, args, tmp)
    return report(results, time.monotonic() - started)


def report(results: dict[str, dict[str, Tally]], elapsed: float) -> int:
    print(
        f"\nTransition throughput: {CLIENTS} clients, `{TRANSITION}` on a different case per request; "
        f"{load_average()}; run took {elapsed:.0f} s"
    )
    print("| gunicorn | target | req/s | p50 ms | p99 ms | failed | EWS / target |")
    print("|---|---|---|---|---|---|---|")
    for setting, tallies in results.items():
        ews = tallies["ews"]
        for kind, tally in tallies.items():
            print(
                f"| {setting if kind != 'pgbench' else '–'} | {LABELS[kind]} | {tally.rate:.0f} | "
                f"{tally.percentile(50):.1f} | {tally.percentile(99):.1f} | {tally.failed} | "
                f"{ews.rate / tally.rate:.2f} |"
            )
    invalid = [
        f"{setting} {LABELS[kind]}: {tally.check or f'{tally.failed} failed of {tally.requests}'}"
        for setting, tallies in results.items()
        for kind, tally in tallies.items()
        if tally.check or tally.failed > 0.01 * tally.requests or not tally.requests
    ]
    best, tallies = max(results.items(), key=lambda item: item[1]["ews"].rate)
    ratio = tallies["ews"].rate / tallies["minimal"].rate
    line = f"\nbest setting for EWS {best}: EWS / minimal Flask = {ratio:.2f}"
    if "pgbench" in tallies:
        line += f", EWS / pgbench = {tallies['ews'].rate / tallies['pgbench'].rate:.2f}"
    print(line)
    if invalid:
        print("INVALID RUN: " + "; ".join(invalid))
        return 2
    if ratio < 0.5:
        print("FAIL: EWS reaches less than half of the minimal Flask ceiling")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
