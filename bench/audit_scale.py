"""The audit trail at scale (issue 6, benchmark 3): 10 million events in PostgreSQL.

    .venv/bin/python bench/audit_scale.py                   # 10,000,000 events (built once, then reused)
    .venv/bin/python bench/audit_scale.py --events 1000000  # a quicker run
    .venv/bin/python bench/audit_scale.py --rebuild         # generate the data again

Builds (or reuses) the database `ews_bench_audit_<events>` with valid hash chains (`bench/audit_load.py`,
`bench/audit_data.py`), then prints:

1. one case's history: p50/p99 of the API's query (SQL alone; the view's ORM query with the records and the
   chain check; through the Flask test client, `GET /api/v1/cases/<id>/history`);
2. the auditor's filtered global log (`GET /api/v1/audit`: actor + `transition.*` + time range, first page and
   a deep keyset page; cohort + action; a week of one action prefix);
3. chain verification: the project's verifier against reading + hashing the same rows with plain psycopg,
   and against bare `hashlib.sha256` over pre-built canonical bytes (the ceiling);
4. peak RSS and rate of the streamed JSON Lines export (`ews audit export`) at a tenth of the events and at
   all of them.

PostgreSQL: `EWS_TEST_POSTGRES_URL` (default: the local server's `test` database, used to create ours).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
from audit_data import BENCH_TOKEN, COORDINATORS
from audit_load import BenchDatabase, prepare
from sqlalchemy import Engine, event, select

from ews_cases.api.pagination import encode_cursor, paginate
from ews_cases.app import create_app
from ews_cases.audit.chain import (
    RECORD_FIELDS,
    canonical_json,
    chain_hash,
    event_record,
    format_time,
    iter_db_records,
    verify_database,
    verify_records,
)
from ews_cases.audit.queries import AuditFilter, conditions, iter_records, select_events
from ews_cases.db.engine import Database
from ews_cases.models import AuditEvent
from ews_cases.settings import Settings

REPO = Path(__file__).resolve().parents[1]
HISTORY_LIMIT_MS = 10.0
CEILING_EVENTS = 1_000_000
EVENT_SQL = (
    "SELECT id, chain, position, case_id, cohort_number, occurred_at, actor, actor_role, action, from_state, "
    "to_state, data, request_id, prev_hash, hash FROM audit_events"
)
ACTIONS = (
    "transition.certify",
    "transition.drop_out",
    "certificate.issued",
    "review.recorded",
    "case.created",
)
figures: list[tuple[str, str]] = []  # (what, figure) for the closing table


def report(what: str, figure: str) -> None:
    figures.append((what, figure))
    print(f"  {what}: {figure}", flush=True)


@dataclass
class Timings:
    """Wall time of each call, and the CPU time this process spent in it (the machine is shared)."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def p99(self) -> float:
        ordered = sorted(self.wall)
        return ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]

    def __str__(self) -> str:
        return (
            f"p50 {statistics.median(self.wall):.2f} ms, p99 {self.p99:.2f} ms, max {max(self.wall):.1f} ms "
            f"(CPU here p50 {statistics.median(self.cpu):.2f} ms; n={len(self.wall)})"
        )


def timed(calls: list[Callable[[], Any]]) -> Timings:
    times = Timings()
    for call in calls:
        began, cpu = time.perf_counter(), time.process_time()
        call()
        times.cpu.append((time.process_time() - cpu) * 1000)
        times.wall.append((time.perf_counter() - began) * 1000)
    return times


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


#: `--nice`: the niceness given to this process and to the PostgreSQL backends serving its connections, so
#: that latencies can be measured apart from the other work on a shared machine (0: leave as is).
NICE = 0


def prioritise(backend_pid: int) -> None:
    if NICE:
        os.setpriority(os.PRIO_PROCESS, backend_pid, NICE)


def prioritised(engine: Engine) -> Engine:
    """Renice the backend of every new connection of `engine`."""
    event.listen(engine, "connect", lambda connection, _record: prioritise(connection.info.backend_pid))
    return engine


def connect(bench: BenchDatabase) -> psycopg.Connection:
    conn = psycopg.connect(bench.dsn)
    prioritise(conn.info.backend_pid)
    return conn


# -- 1. one case's history ----------------------------------------------------------------------------


def api_history(db: Database, case_id: int) -> bool:
    """What `GET /api/v1/cases/<id>/history` does after loading the case (`ews_cases.api.cases`)."""
    with db.session() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case_id).order_by(AuditEvent.position)
        ).all()
        records = [event_record(e) for e in events]
        return verify_records(records).ok


def page_history(db: Database, case_id: int) -> bool:
    """The auditor page's chain check of one case (`audit_queries.iter_records`, `ews_cases.web.auditing`)."""
    with db.session() as session:
        return verify_records(iter_records(session, AuditFilter(case_id=case_id))).ok


def history(
    bench: BenchDatabase, db: Database, samples: int, rng: random.Random, explain: bool
) -> dict[str, Timings]:
    print(f"\n1. One case's history ({samples} random cases per level, each case measured once)")
    with connect(bench) as conn:
        (cases,) = conn.execute("SELECT max(id) FROM cases").fetchone()
        ids = rng.sample(range(1, cases + 1), min(cases, 4 * samples))
        chunks = [ids[i::4] for i in range(4)]
        sizes = [
            conn.execute("SELECT count(*) FROM audit_events WHERE case_id = %s", (i,)).fetchone()[0]
            for i in chunks[0][:200]
        ]
        report("events per history (sample)", f"median {statistics.median(sizes):.0f}, max {max(sizes)}")
        query = f"{EVENT_SQL} WHERE case_id = %s ORDER BY position"
        sql_ms = timed([lambda i=i: conn.execute(query, (i,)).fetchall() for i in chunks[0]])
    if explain:
        stmt = select(AuditEvent).where(AuditEvent.case_id == chunks[0][0]).order_by(AuditEvent.position)
        print_plan(bench, db, stmt)
    report("history, SQL only (psycopg)", str(sql_ms))
    api_ms = timed([lambda i=i: api_history(db, i) for i in chunks[1]])
    report("history, API query + records + chain check", str(api_ms))
    page_ms = timed([lambda i=i: page_history(db, i) for i in chunks[2]])
    report("history, auditor page chain check (iter_records)", str(page_ms))
    client, headers = api_client(bench)
    http_ms = timed(
        [lambda i=i: expect_ok(client.get(f"/api/v1/cases/{i}/history", headers=headers)) for i in chunks[3]]
    )
    report("history, GET /api/v1/cases/<id>/history (test client)", str(http_ms))
    return {"the API's query with records and chain check": api_ms, "GET over the Flask test client": http_ms}


def api_client(bench: BenchDatabase) -> tuple[Any, dict[str, str]]:
    logging.getLogger("ews.access").setLevel(logging.WARNING)
    settings = Settings(
        env="test",
        database_url=bench.url,
        data_dir=Path(tempfile.mkdtemp()),
        secret_key="bench-secret-key-not-used-for-anything",
        public_url="http://ews.test",
    )
    app = create_app(settings)
    prioritised(app.extensions["ews"].db.engine)
    return app.test_client(), {"Authorization": f"Bearer {BENCH_TOKEN}"}


def expect_ok(response: Any) -> Any:
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code}: {response.get_data(as_text=True)[:300]}")
    body = response.get_json()
    if "chain_ok" in body and not body["chain_ok"]:
        raise RuntimeError("a chain did not verify")
    return body


def print_plan(bench: BenchDatabase, db: Database, stmt: Any) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of an SQLAlchemy statement, with its parameters bound by psycopg."""
    compiled = stmt.compile(db.engine)
    with connect(bench) as conn:
        for (line,) in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", compiled.params):
            print(f"      {line}")


# -- 2. the auditor's global log ----------------------------------------------------------------------


def global_log(bench: BenchDatabase, db: Database, samples: int, rng: random.Random, explain: bool) -> None:
    print(f"\n2. Filtered global log (`GET /api/v1/audit`, 50 per page; {samples} random filters each)")
    with connect(bench) as conn:
        first, last, cohorts = conn.execute(
            "SELECT min(occurred_at), max(occurred_at), max(cohort_number) FROM audit_events"
        ).fetchone()
    span = (last - first).total_seconds()

    def window(days: int) -> tuple[Any, Any]:
        since = first + timedelta(seconds=rng.uniform(0, max(0.0, span - days * 86400)))
        return since, since + timedelta(days=days)

    def actor_filter() -> AuditFilter:
        since, until = window(182)
        return AuditFilter(
            actor=f"user:{rng.randint(1, COORDINATORS)}", action="transition.*", since=since, until=until
        )

    def week_filter() -> AuditFilter:
        since, until = window(7)
        return AuditFilter(action="email.*", since=since, until=until)

    variants = {
        "coordinator + transition.* + 6 months, first page": (actor_filter, False),
        "coordinator + transition.* + 6 months, deep page (90 % in)": (actor_filter, True),
        "cohort + transition.admit, first page": (
            lambda: AuditFilter(cohort=rng.randint(1, cohorts), action="transition.admit"),
            False,
        ),
        "email.* within one week, first page": (week_filter, False),
        "one cohort, first page": (lambda: AuditFilter(cohort=rng.randint(1, cohorts)), False),
        "one cohort, deep page (90 % in)": (lambda: AuditFilter(cohort=rng.randint(1, cohorts)), True),
        "one action, first page": (lambda: AuditFilter(action=rng.choice(ACTIONS)), False),
        "one coordinator, first page": (
            lambda: AuditFilter(actor=f"user:{rng.randint(1, COORDINATORS)}"),
            False,
        ),
    }
    for label, (make, deep) in variants.items():
        filters = [make() for _ in range(samples)]
        cursors = [deep_cursor(db, f) if deep else None for f in filters]
        times = timed([lambda f=f, c=c: api_page(db, f, c) for f, c in zip(filters, cursors, strict=True)])
        report(f"global log, {label}", str(times))
        if explain:
            stmt = select_events(filters[0]).order_by(AuditEvent.id).limit(51)
            if deep:
                stmt = stmt.where(AuditEvent.id > deep_id(db, filters[0]))
            print_plan(bench, db, stmt)
    client, headers = api_client(bench)
    since, until = window(182)
    url = f"/api/v1/audit?actor=user:1&action=transition.*&from={since.isoformat()}&to={until.isoformat()}"
    http = timed([lambda: expect_ok(client.get(url.replace("+", "%2B"), headers=headers))] * samples)
    report(
        "global log, GET /api/v1/audit (actor + transition.* + 6 months, test client, same URL)",
        str(http),
    )


def deep_id(db: Database, filters: AuditFilter) -> int:
    with db.session() as session:
        stmt = select(AuditEvent.id).where(*conditions(filters)).order_by(AuditEvent.id)
        ids = session.scalars(stmt).all()
    return ids[int(len(ids) * 0.9)] if ids else 0


def deep_cursor(db: Database, filters: AuditFilter) -> str:
    return encode_cursor(deep_id(db, filters))


def api_page(db: Database, filters: AuditFilter, cursor: str | None) -> dict[str, Any]:
    """What `GET /api/v1/audit` does (`ews_cases.api.audit.list_audit_events`)."""
    with db.session() as session:
        return paginate(
            session, select_events(filters), AuditEvent.id, {"limit": 50, "cursor": cursor}, event_record
        )


# -- 3. verification ----------------------------------------------------------------------------------


def throughput(run: Callable[[], int]) -> tuple[int, float, float]:
    """(events, events per wall second, events per CPU second of this process)."""
    began, cpu = time.perf_counter(), time.process_time()
    events = run()
    return events, events / (time.perf_counter() - began), events / (time.process_time() - cpu)


def verification(bench: BenchDatabase, db: Database, limit: int | None) -> None:
    scope = "all events" if limit is None else f"the first {limit:,} events in chain order"
    print(f"\n3. Chain verification over {scope}")
    outcome = []

    def project_verifier() -> int:
        with db.session() as session:
            if limit is None:
                result = verify_database(session)
            else:
                result = verify_records(itertools.islice(iter_db_records(session), limit))
        if not result.ok:
            raise RuntimeError(f"verification failed: {result.breaks[:3]}")
        outcome.append(result.chains)
        return result.events

    events, project, project_cpu = throughput(project_verifier)
    report(
        "project verifier (`verify_database`: iter_db_records + verify_records)",
        f"{events:,} events in {outcome[0]:,} chains, OK: {project:,.0f} events/s ({project_cpu:,.0f} per CPU s)",
    )
    blobs: list[bytes] = []
    events, lean, lean_cpu = throughput(lambda: lean_verify(bench, limit, blobs))
    report(
        "psycopg read + canonical JSON + sha256, same rows (no ORM)",
        f"{events:,} events: {lean:,.0f} events/s ({lean_cpu:,.0f} per CPU s)",
    )

    def bare() -> int:
        for blob in blobs:
            hashlib.sha256(blob).hexdigest()
        return len(blobs)

    events, ceiling, _cpu = throughput(bare)
    size = sum(map(len, blobs)) / len(blobs)
    report(
        "hashlib.sha256 over pre-built canonical bytes (ceiling)",
        f"first {events:,} of those events ({size:.0f} B each): {ceiling:,.0f} events/s",
    )
    report(
        "ratio project : psycopg read+hash : bare sha256 (wall)",
        f"1 : {lean / project:.2f} : {ceiling / project:.0f}",
    )


def lean_verify(bench: BenchDatabase, limit: int | None, blobs: list[bytes]) -> int:
    """Read the rows in chain order with a server-side cursor and check each hash; keep the first bytes."""
    query = f"{EVENT_SQL} ORDER BY chain, position" + (f" LIMIT {limit}" if limit else "")
    count, prev = 0, ""
    with psycopg.connect(bench.dsn) as conn, conn.cursor(name="lean") as cur:
        cur.itersize = 5000
        cur.execute(query)
        for row in cur:
            record = dict(zip(RECORD_FIELDS, row, strict=True))  # EVENT_SQL selects them in this order
            record["occurred_at"] = format_time(record["occurred_at"])
            if record["position"] > 1 and record["prev_hash"] != prev:
                raise RuntimeError(f"prev_hash mismatch at {record['chain']} {record['position']}")
            if len(blobs) < CEILING_EVENTS:
                blobs.append(record["prev_hash"].encode("ascii") + canonical_json(record))
            prev = chain_hash(record["prev_hash"], record)
            if prev != record["hash"]:
                raise RuntimeError(f"hash mismatch at {record['chain']} {record['position']}")
            count += 1
    return count


# -- 4. export memory ---------------------------------------------------------------------------------


#: Runs `ews audit export` and then reports the process's peak RSS. Not `ru_maxrss` from wait4: a child's
#: maxrss starts at the RSS of the (large) parent it was forked from; `VmHWM` is the exporter's own peak.
EXPORTER = """
import sys
from ews_cases.cli.commands import main
try:
    main(["audit", "export", "--format", "jsonl"])
finally:
    status = open("/proc/self/status").read().split("VmHWM:")[1].split()[0]
    print(f"peak-rss-kb {status}", file=sys.stderr)
"""


def export(bench: BenchDatabase) -> tuple[int, float]:
    """`ews audit export --format jsonl` into a pipe: the exporter's peak RSS, its rate and its CPU time."""
    env = {**os.environ, "EWS_DATABASE_URL": bench.url}
    began = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", EXPORTER], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    size = lines = 0
    assert process.stdout is not None
    assert process.stderr is not None
    for chunk in iter(lambda: process.stdout.read(1 << 20), b""):
        size += len(chunk)
        lines += chunk.count(b"\n")
    errors = process.stderr.read().decode()
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - began
    if process.returncode != 0 or lines != bench.events or "peak-rss-kb" not in errors:
        raise RuntimeError(
            f"export failed: exit {process.returncode}, {lines} lines for {bench.events}: {errors}"
        )
    peak_mb = int(errors.split("peak-rss-kb ")[1].split()[0]) / 1024
    cpu = usage.ru_utime + usage.ru_stime
    report(
        f"export of {bench.events:,} events (JSON Lines, {size / 2**30:.1f} GiB)",
        f"peak RSS {peak_mb:.0f} MB; {seconds:.0f} s = {bench.events / seconds:,.0f} events/s "
        f"({size / 2**20 / seconds:.0f} MB/s; {bench.events / cpu:,.0f} per CPU s of the exporter)",
    )
    return bench.events, peak_mb


# -- main ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--rebuild", action="store_true", help="generate the data even if it exists")
    parser.add_argument("--samples", type=int, default=1000, help="cases per history level")
    parser.add_argument("--filter-samples", type=int, default=200, help="filters per global-log variant")
    parser.add_argument("--verify-events", type=int, default=None, help="a slice instead of all events")
    parser.add_argument("--export-small", type=int, default=None, help="default: a tenth of --events")
    parser.add_argument(
        "--skip", default="", help="comma-separated steps to skip: history,global,verify,export"
    )
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN (ANALYZE, BUFFERS) of the queries"
    )
    parser.add_argument(
        "--nice", type=int, default=0, help="niceness for this process and its PostgreSQL backends (e.g. -10)"
    )
    args = parser.parse_args()
    global NICE
    NICE = args.nice
    if NICE:
        os.setpriority(os.PRIO_PROCESS, 0, NICE)
    skip = set(filter(None, args.skip.split(",")))
    rng = random.Random(6)
    print(f"load before: {uptime()}")
    bench = prepare(args.events, rebuild=args.rebuild)
    how = "reused; generated earlier in" if bench.reused else "generated in"
    report(f"database {bench.name}", f"{bench.events:,} events, {how} {bench.generated_seconds:,.0f} s")
    db = Database(bench.url)
    prioritised(db.engine)
    histories: dict[str, Timings] = {}
    if "history" not in skip:
        histories = history(bench, db, args.samples, rng, args.explain)
    if "global" not in skip:
        global_log(bench, db, args.filter_samples, rng, args.explain)
    if "verify" not in skip:
        verification(bench, db, args.verify_events)
    peaks: list[tuple[int, float]] = []
    if "export" not in skip:
        print("\n4. Streamed JSON Lines export (a subprocess per database)")
        small = args.export_small or max(100_000, args.events // 10)
        if small != args.events:
            peaks.append(export(prepare(small)))
        peaks.append(export(bench))
    db.dispose()
    print(f"\nload after: {uptime()}")
    print("\n| what | figure |\n|---|---|")
    for what, figure in figures:
        print(f"| {what} | {figure} |")
    for level, times in histories.items():
        verdict = "holds" if times.p99 < HISTORY_LIMIT_MS else "DOES NOT HOLD"
        print(
            f"history p99 < {HISTORY_LIMIT_MS:.0f} ms at {bench.events:,} events, {level}: "
            f"{times.p99:.2f} ms, {verdict}"
        )
    if len(peaks) == 2:
        (n1, m1), (n2, m2) = peaks
        verdict = "flat" if m2 < 1.2 * m1 else "GROWS"
        print(f"export peak RSS {m1:.0f} MB at {n1:,} events, {m2:.0f} MB at {n2:,}: {verdict}")


if __name__ == "__main__":
    main()
