"""The streamed audit export keeps memory flat however many events there are (SPEC §6: "any size").

100,000 events are written straight into the table (hash-chained like `audit.append` does, but in bulk),
then exported through the API; the peak memory of the whole request is measured with tracemalloc while
the stream is consumed. The JSON Lines file must verify with `ews audit verify FILE`, and one changed byte
inside a `data` value must break it.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from ews_cases.audit.chain import GENESIS_HASH, chain_hash, format_time
from ews_cases.models import AuditChainHead, AuditEvent, utcnow
from tests.api.test_participation_api import bearer, token_for

REPO = Path(__file__).resolve().parents[2]
EVENTS_PER_CHAIN = 20
SMALL_CHAINS, LARGE_CHAINS = 500, 5000  # 10,000 and 100,000 events
FORMATS = ("jsonl", "csv")
TAMPERED_LINE = 54_321
MB = 1024 * 1024


def insert_chains(session, first_chain: int, chains: int) -> int:
    """Bulk-insert `chains` case chains of EVENTS_PER_CHAIN events each, with correct hashes and heads."""
    start = utcnow()
    rows: list[dict[str, Any]] = []
    heads: list[dict[str, Any]] = []
    for n in range(first_chain, first_chain + chains):
        chain, prev = f"case:{n}", GENESIS_HASH
        for position in range(1, EVENTS_PER_CHAIN + 1):
            moment = start + timedelta(microseconds=len(rows))
            record = {
                "chain": chain,
                "position": position,
                "case_id": None,  # no case rows needed: verification reads only the chain
                "cohort": None,
                "occurred_at": format_time(moment),
                "actor": "system:bulk",
                "actor_role": "system",
                "action": "bulk.recorded",
                "from_state": None,
                "to_state": None,
                "data": {"n": len(rows), "note": "Prüfung für Köln", "items": [position, "ä"]},
                "request_id": None,
            }
            digest = chain_hash(prev, record)
            rows.append(
                {
                    **{k: v for k, v in record.items() if k not in ("cohort", "occurred_at")},
                    "cohort_number": None,
                    "occurred_at": moment,
                    "prev_hash": prev,
                    "hash": digest,
                }
            )
            prev = digest
        heads.append({"chain": chain, "position": EVENTS_PER_CHAIN, "hash": prev})
    session.execute(insert(AuditEvent), rows)
    session.execute(insert(AuditChainHead), heads)
    session.commit()
    return len(rows)


def stream_export(client, token: str, fmt: str, target: Path | None = None) -> dict[str, Any]:
    """Consume the export chunk by chunk, tracing memory for the whole request (view, query, stream)."""
    tracemalloc.start()
    began = time.perf_counter()
    try:
        response = client.get(f"/api/v1/audit/export?format={fmt}", headers=bearer(token), buffered=False)
        assert response.status_code == 200
        size = lines = 0
        first = b""
        with target.open("wb") if target is not None else io.BytesIO() as sink:
            for chunk in response.response:
                first = first or chunk
                size += len(chunk)
                lines += chunk.count(b"\n")
                if target is not None:
                    sink.write(chunk)
        response.close()
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "peak": peak,
        "size": size,
        "lines": lines,
        "first": first,
        "seconds": time.perf_counter() - began,
    }


def ews_verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from ews_cases.cli.commands import main; main()",
            "audit",
            "verify",
            str(path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_export_memory_stays_flat_and_the_export_verifies(app, session, factory, tmp_path):
    token = token_for(session, factory, "auditor")
    client = app.test_client()

    began = time.perf_counter()
    small = insert_chains(session, 1, SMALL_CHAINS)
    small_exports = {fmt: stream_export(client, token, fmt) for fmt in FORMATS}
    total = small + insert_chains(session, SMALL_CHAINS + 1, LARGE_CHAINS - SMALL_CHAINS)
    inserted = time.perf_counter() - began
    assert total == 100_000
    export = tmp_path / "audit.jsonl"
    large_exports = {
        fmt: stream_export(client, token, fmt, export if fmt == "jsonl" else None) for fmt in FORMATS
    }

    print(f"\n{total} events inserted and {small} exported in {inserted:.1f}s")
    for fmt in FORMATS:
        low, high = small_exports[fmt], large_exports[fmt]
        print(
            f"{fmt}: peak {low['peak'] / MB:.1f} MB at {small} events, {high['peak'] / MB:.1f} MB at {total} "
            f"events ({high['size'] / MB:.0f} MB body, {high['seconds']:.1f}s under tracemalloc)"
        )
        assert high["peak"] < 50 * MB, f"{fmt} export peaked at {high['peak'] / MB:.1f} MB"
        assert high["peak"] < 1.5 * low["peak"], (
            f"{fmt}: 10x the events, peak {low['peak']} -> {high['peak']}"
        )
    jsonl, csv_export = large_exports["jsonl"], large_exports["csv"]
    assert jsonl["lines"] > total  # plus the auditor's user and token events in the global chain
    assert csv_export["lines"] == jsonl["lines"] + 1  # the header row
    rows = list(csv.reader(io.StringIO(csv_export["first"].decode("utf-8"))))
    assert rows[0][:3] == ["sequence", "chain", "position"]
    assert rows[1][1:3] == ["case:1", "1"]

    verified = ews_verify(export)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"{jsonl['lines']} events in {LARGE_CHAINS + 1} chains" in verified.stdout

    tampered = tmp_path / "tampered.jsonl"
    with export.open("rb") as source, tampered.open("wb") as sink:
        for number, line in enumerate(source, start=1):
            if number == TAMPERED_LINE:
                record = json.loads(line)
                changed = line.replace("Prüfung".encode(), "Prüfunk".encode(), 1)  # one byte in `data`
                assert len(changed) == len(line)
                assert sum(a != b for a, b in zip(changed, line, strict=True)) == 1
                line = changed
            sink.write(line)
    broken = ews_verify(tampered)
    assert broken.returncode == 1, broken.stdout
    assert (
        f"BROKEN chain {record['chain']} at position {record['position']} (event {record['sequence']}): "
        "hash does not match the event's content"
    ) in broken.stdout
