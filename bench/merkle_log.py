"""The Merkle log at scale (issue 18, must-hold 4): flat append cost, proofs at 10 million leaves.

    .venv/bin/python bench/merkle_log.py                        # both parts on SQLite (a temporary folder)
    .venv/bin/python bench/merkle_log.py --postgresql           # both parts on PostgreSQL as well
    .venv/bin/python bench/merkle_log.py --skip proofs          # only the appends (--skip appends: only proofs)
    .venv/bin/python bench/merkle_log.py --appends 20000 --leaves 1000000   # a quick run
    .venv/bin/python bench/merkle_log.py --skip appends --postgresql --keep --proofs-file /tmp/proofs.sqlite3
    .venv/bin/python bench/merkle_log.py --skip appends --postgresql --reuse --proofs-file /tmp/proofs.sqlite3
                                    # build the 10 M logs once (--keep), then time proofs again (--reuse)

1. **Appends**: `--appends` (100,000) audit events through the real `ews_cases.audit.chain.append`, one
   transaction per event as a request or task writes them, and `ews_cases.audit.log.integrate` every
   `--integrate-every` (1,000) appends in a transaction of its own, as a beat run takes in what is new. Printed
   per block of 10,000 appends: the wall time of the appends and of the integrations in that block; the first
   and the last block side by side. At the end the stored root is checked against a one-pass recomputation
   from the events (`merkle.Frontier`).
2. **Proofs**: a log of `--leaves` (10,000,000) leaves written straight into `audit_log_nodes` of a migrated,
   otherwise empty database (the leaf hashes stand for events that are not there: proofs read only nodes).
   The nodes are made by the app's own `merkle.nodes_completed_by` in one streaming pass (O(log n) memory)
   and inserted with the driver's executemany in batches (SQLite: a raw `sqlite3` connection with the journal
   off while building; PostgreSQL: COPY). Then `log.inclusion_proof` and `log.consistency_proof` (each call
   on a new session, as an API request makes them) for `--samples` random leaves / old sizes at the full size;
   every proof is verified against the root of the same pass. Target: p95 < 50 ms per proof (wall clock;
   the CPU time of this process is printed beside it, since the machine is shared).

PostgreSQL: `EWS_BENCH_ADMIN_URL` (default: the local server's `test` database, used to create ours);
databases `ews_bench_merkle_appends`, `ews_bench_merkle_proofs` (dropped at the end unless `--keep`).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from _database import ADMIN_URL, drop_database, fresh_database, outcome, uptime
from sqlalchemy import select

from ews_cases.audit import chain, log, merkle
from ews_cases.db.engine import Database
from ews_cases.db.migrate import upgrade
from ews_cases.models import AuditEvent, AuditLogLeaf
from workflows import Actor

BLOCK = 10_000
PROOF_LIMIT_MS = 50.0
ACTOR = Actor.system("bench_merkle_log")


# -- 1. appends -----------------------------------------------------------------------------------------


def appends(db: Database, total: int, integrate_every: int) -> tuple[list[Block], list[str]]:
    """Append `total` events, integrating every `integrate_every`; wall and CPU seconds per block of 10,000."""
    blocks: list[Block] = []
    block = Block()
    for n in range(1, total + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        with db.transaction() as session:
            chain.append(session, actor=ACTOR, action="reminders.queued", data={"queued": n})
        block.append_wall += time.perf_counter() - wall
        block.append_cpu += time.process_time() - cpu
        if n % integrate_every == 0 or n == total:
            wall, cpu = time.perf_counter(), time.process_time()
            with db.transaction() as session:
                log.integrate(session)
            block.integrate_wall += time.perf_counter() - wall
            block.integrate_cpu += time.process_time() - cpu
        if n % BLOCK == 0 or n == total:
            blocks.append(block)
            print(f"  appends {n - BLOCK + 1:>7,}–{n:>7,}: {block}", flush=True)
            block = Block()
    return blocks, check_appended(db, total)


@dataclass
class Block:
    """Seconds spent in one block of appends: wall clock, and this process's CPU (immune to other load)."""

    append_wall: float = 0.0
    append_cpu: float = 0.0
    integrate_wall: float = 0.0
    integrate_cpu: float = 0.0

    @property
    def wall(self) -> float:
        return self.append_wall + self.integrate_wall

    @property
    def cpu(self) -> float:
        return self.append_cpu + self.integrate_cpu

    def __str__(self) -> str:
        return (
            f"append {self.append_wall:6.2f} s ({self.append_wall / BLOCK * 1e3:.2f} ms each; CPU "
            f"{self.append_cpu:5.2f} s), integrate {self.integrate_wall:5.2f} s (CPU {self.integrate_cpu:5.2f} s)"
        )


def check_appended(db: Database, total: int) -> list[str]:
    """Every event is a leaf, in id order, and the stored root is the one-pass recomputation's."""
    failures = []
    with db.session() as session:
        head = log.head(session)
        hashes = session.execute(
            select(AuditEvent.hash)
            .join(AuditLogLeaf, AuditLogLeaf.event_id == AuditEvent.id)
            .order_by(AuditLogLeaf.leaf_index)
        ).scalars()
        recomputed = merkle.Frontier()
        for event_hash in hashes:
            recomputed.append(merkle.leaf_hash(event_hash))
        events = session.query(AuditEvent).count()
    if events != total or head.size != total:
        failures.append(f"appends: {events} events, log size {head.size}, expected {total}")
    if recomputed.size != head.size or recomputed.root() != head.root:
        failures.append("appends: the stored root is not the recomputed one")
    print(
        f"  check: {events:,} events, log size {head.size:,}, root recomputed from the events: "
        f"{'equal' if recomputed.root() == head.root else 'DIFFERENT'}"
    )
    return failures


def run_appends(url: str, label: str, total: int, integrate_every: int) -> list[str]:
    print(
        f"\n1. {total:,} appends on {label}, integrating every {integrate_every:,} ({uptime()})", flush=True
    )
    db = Database(url)
    try:
        began = time.perf_counter()
        blocks, failures = appends(db, total, integrate_every)
        elapsed = time.perf_counter() - began
    finally:
        db.dispose()
    first, last = blocks[0], blocks[-1]
    print(
        f"  {label}: first 10,000 appends {first.wall:.2f} s wall / {first.cpu:.2f} s CPU "
        f"(integrations {first.integrate_wall:.2f} / {first.integrate_cpu:.2f}), last 10,000 {last.wall:.2f} s "
        f"wall / {last.cpu:.2f} s CPU (integrations {last.integrate_wall:.2f} / {last.integrate_cpu:.2f}); "
        f"last/first: wall {last.wall / first.wall:.2f}, CPU {last.cpu / first.cpu:.2f}; "
        f"all {total:,} in {elapsed:.0f} s",
        flush=True,
    )
    return failures


# -- 2. proofs at 10 M leaves ---------------------------------------------------------------------------


def leaf_of(i: int) -> bytes:
    """The leaf hash standing for event `i` (its "event hash" is SHA-256 of the number)."""
    return merkle.leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest())


def build_nodes(size: int) -> Iterator[tuple[int, int, bytes] | bytes]:
    """Every stored node of a log of `size` leaves, made by `merkle.nodes_completed_by` in one pass.

    Keeps only the right edge (one node per level); yields (level, index, hash), and the root at the end."""
    edge: dict[int, tuple[int, bytes]] = {}

    def left_sibling(level: int, index: int) -> bytes:
        stored_index, digest = edge[level]
        assert stored_index == index, (level, index, stored_index)
        return digest

    check = merkle.Frontier()
    for i in range(size):
        leaf = leaf_of(i)
        check.append(leaf)
        for level, index, digest in merkle.nodes_completed_by(i, leaf, left_sibling):
            edge[level] = (index, digest)
            yield level, index, digest
    yield check.root()


def batches(nodes: Iterator[tuple[int, int, bytes] | bytes], size: int, batch: int) -> Iterator[list[Any]]:
    """Rows in lists of `batch`, with progress; the last list is [root]."""
    rows: list[tuple[int, int, bytes]] = []
    began, written = time.perf_counter(), 0
    for item in nodes:
        if isinstance(item, bytes):
            if rows:
                yield rows
            yield [item]
            return
        rows.append(item)
        if len(rows) == batch:
            yield rows
            written += len(rows)
            rows = []
            if written % (batch * 10) == 0:
                leaves = rows_to_leaves(written)
                seconds = time.perf_counter() - began
                print(
                    f"    {written:>11,} nodes (≈ {leaves:,} leaves of {size:,}) in {seconds:5.0f} s",
                    flush=True,
                )


def rows_to_leaves(rows: int) -> int:
    return rows // 2  # a log of n leaves stores 2n − popcount(n) nodes


def build_sqlite(path: Path, size: int, batch: int) -> tuple[bytes, float]:
    """Migrate a new SQLite file, then fill `audit_log_nodes` and the state row with a raw connection.

    A file that already holds a log of `size` leaves (`--proofs-file`, an earlier run) is reused."""
    if path.exists():
        with sqlite3.connect(path) as conn:
            stored_size, root = conn.execute("SELECT size, root FROM audit_log_state WHERE id = 1").fetchone()
        if stored_size == size:
            print(f"  reusing {path}", flush=True)
            return bytes.fromhex(root), 0.0
        path.unlink()
    upgrade(f"sqlite:///{path}")
    began = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # built once, thrown away after the run: no journal needed
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")  # 256 MiB
    conn.execute("BEGIN")
    root = b""
    for rows in batches(build_nodes(size), size, batch):
        if len(rows) == 1 and isinstance(rows[0], bytes):
            root = rows[0]
            break
        conn.executemany('INSERT INTO audit_log_nodes (level, "index", hash) VALUES (?, ?, ?)', rows)
    conn.execute("UPDATE audit_log_state SET size = ?, root = ? WHERE id = 1", (size, root.hex()))
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("ANALYZE")
    conn.close()
    return root, time.perf_counter() - began


def build_postgresql(url: str, size: int, batch: int) -> tuple[bytes, float]:
    """Fill `audit_log_nodes` of a migrated PostgreSQL database with COPY, in one transaction."""
    began = time.perf_counter()
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    root = b""
    with psycopg.connect(dsn) as conn:
        for rows in batches(build_nodes(size), size, batch):
            if len(rows) == 1 and isinstance(rows[0], bytes):
                root = rows[0]
                break
            with conn.cursor().copy('COPY audit_log_nodes (level, "index", hash) FROM STDIN') as copy:
                for row in rows:
                    copy.write_row(row)
        conn.execute("UPDATE audit_log_state SET size = %s, root = %s WHERE id = 1", (size, root.hex()))
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE audit_log_nodes")
    return root, time.perf_counter() - began


def kept_postgresql(name: str, size: int) -> tuple[str, bytes] | None:
    """(URL, root) of a proofs database kept by an earlier `--keep` run, if it holds a log of `size` leaves."""
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
            row = conn.execute("SELECT size, root FROM audit_log_state WHERE id = 1").fetchone()
    except psycopg.Error:
        return None
    if row is None or row[0] != size:
        return None
    print(f"  reusing database {name}", flush=True)
    return url, bytes.fromhex(row[1])


def timed(calls: list[Callable[[], bool]]) -> tuple[list[float], list[float], int]:
    """Wall ms and this process's CPU ms of each call, and how many returned False (a proof that failed)."""
    times, cpu_times, bad = [], [], 0
    for call in calls:
        began, cpu = time.perf_counter(), time.process_time()
        ok = call()
        times.append((time.perf_counter() - began) * 1000)
        cpu_times.append((time.process_time() - cpu) * 1000)
        bad += not ok
    return times, cpu_times, bad


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def proofs(db: Database, size: int, root: bytes, samples: int, seed: int) -> tuple[list[str], float]:
    """Time inclusion and consistency proofs at `size`; each one is verified against `root`."""
    rng = random.Random(seed)
    leaves = rng.sample(range(size), samples)
    old_sizes = rng.sample(range(1, size), samples)
    failures: list[str] = []

    def inclusion(index: int) -> bool:
        with db.session() as session:
            proof = log.inclusion_proof(session, index, size)
        return merkle.verify_inclusion(leaf_of(index), index, size, proof, root)

    def consistency(old: int) -> bool:
        with db.session() as session:
            proof = log.consistency_proof(session, old, size)
            old_root = log.root_at(session, old)  # not timed separately: a verifier holds it already
        return merkle.verify_consistency(old, size, old_root, root, proof)

    with db.session() as session:
        stored = log.root_at(session, size)
        if stored != root:
            failures.append("proofs: the stored root is not the one computed while building")
    worst = 0.0
    for what, calls in (
        ("inclusion proof", [lambda i=i: inclusion(i) for i in leaves]),
        ("consistency proof (+ old root)", [lambda m=m: consistency(m) for m in old_sizes]),
    ):
        times, cpu_times, bad = timed(calls)
        worst = max(worst, percentile(times, 0.95))
        print(
            f"  {what} at {size:,} leaves: first {times[0]:.2f} ms, p50 {statistics.median(times):.2f} ms, "
            f"p95 {percentile(times, 0.95):.2f} ms, max {max(times):.2f} ms (CPU here p50 "
            f"{statistics.median(cpu_times):.2f} ms, max {max(cpu_times):.2f} ms; n={len(times)}); "
            f"{len(times) - bad} of {len(times)} verify",
            flush=True,
        )
        if bad:
            failures.append(f"proofs: {bad} {what}s did not verify")
    if worst >= PROOF_LIMIT_MS:
        failures.append(f"proofs: p95 {worst:.1f} ms ≥ {PROOF_LIMIT_MS:.0f} ms")
    return failures, worst


def run_proofs(
    url: str, label: str, size: int, batch: int, samples: int, build: Callable[[], tuple[bytes, float]]
) -> list[str]:
    print(f"\n2. A log of {size:,} leaves on {label} ({uptime()})", flush=True)
    root, seconds = build()
    print(
        f"  built in {seconds:.0f} s ({2 * size - bin(size).count('1'):,} nodes); root {root.hex()}",
        flush=True,
    )
    db = Database(url)
    try:
        failures, _worst = proofs(db, size, root, samples, seed=size)
    finally:
        db.dispose()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=100_000)
    parser.add_argument("--integrate-every", type=int, default=1_000)
    parser.add_argument("--leaves", type=int, default=10_000_000)
    parser.add_argument(
        "--batch", type=int, default=200_000, help="rows per executemany / COPY while building"
    )
    parser.add_argument("--samples", type=int, default=20, help="random leaves and old sizes for the proofs")
    parser.add_argument("--postgresql", action="store_true", help="run each part on PostgreSQL as well")
    parser.add_argument("--skip", default="", help="comma-separated: appends, proofs")
    parser.add_argument("--keep", action="store_true", help="keep the databases and the temporary folder")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="part 2 on PostgreSQL: reuse a database kept by --keep if it fits",
    )
    parser.add_argument(
        "--proofs-file",
        type=Path,
        help="SQLite file for part 2: built if missing, reused if it holds --leaves",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    folder = Path(tempfile.mkdtemp(prefix="ews-bench-merkle-"))
    print(f"load before: {uptime()}\nSQLite files in {folder}; PostgreSQL via {ADMIN_URL}")
    failures: list[str] = []
    try:
        if "appends" not in skip:
            url = f"sqlite:///{folder / 'appends.sqlite3'}"
            upgrade(url)
            failures += run_appends(url, "SQLite", args.appends, args.integrate_every)
            if args.postgresql:
                url = fresh_database("ews_bench_merkle_appends")
                failures += run_appends(url, "PostgreSQL", args.appends, args.integrate_every)
        if "proofs" not in skip:
            path = args.proofs_file or folder / "proofs.sqlite3"
            failures += run_proofs(
                f"sqlite:///{path}",
                "SQLite",
                args.leaves,
                args.batch,
                args.samples,
                lambda: build_sqlite(path, args.leaves, args.batch),
            )
            if args.postgresql:
                kept = kept_postgresql("ews_bench_merkle_proofs", args.leaves) if args.reuse else None
                url = kept[0] if kept else fresh_database("ews_bench_merkle_proofs")
                failures += run_proofs(
                    url,
                    "PostgreSQL",
                    args.leaves,
                    args.batch,
                    args.samples,
                    (lambda: (kept[1], 0.0))
                    if kept
                    else (lambda: build_postgresql(url, args.leaves, args.batch)),
                )
    finally:
        if args.keep:
            print(
                f"kept: {folder}"
                + (", databases ews_bench_merkle_appends/_proofs" if args.postgresql else "")
            )
        else:
            if args.postgresql:
                drop_database("ews_bench_merkle_appends")
                drop_database("ews_bench_merkle_proofs")
            for file in folder.glob("*"):
                file.unlink()
            folder.rmdir()
    return outcome(failures)


if __name__ == "__main__":
    sys.exit(main())
