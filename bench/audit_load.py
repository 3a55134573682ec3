"""The benchmark database for `bench/audit_scale.py`: created, migrated, filled with COPY, or reused.

A database `ews_bench_audit_<events>` is migrated with the project's migrations, then the synthetic trail of
`bench/audit_data.py` is loaded with `COPY` in batches. The indexes and constraints of `audit_events` are
dropped during the load and created again from their own definitions afterwards (what `pg_restore` does;
the definitions are compared before and after). The database's comment records the event count and the
generation time; a later run reuses the database when the comment, the row count and the chain heads agree.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import psycopg
from audit_data import (
    CASE_COLUMNS,
    COHORT_COLUMNS,
    EVENT_COLUMNS,
    TOKEN_COLUMNS,
    USER_COLUMNS,
    Trail,
    case_rows,
    cohort_rows,
    head_rows,
    token_row,
    user_rows,
)
from psycopg import sql

from ews_cases.db.migrate import upgrade

ADMIN_URL = os.environ.get("EWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
BATCH = 500_000  # events per COPY and commit
MARKER = "ews bench audit"


@dataclass(frozen=True)
class BenchDatabase:
    name: str
    events: int
    generated_seconds: float  # of the run that built it
    reused: bool

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3)."""
        return f"{ADMIN_URL.rsplit('/', 1)[0]}/{self.name}"

    @property
    def dsn(self) -> str:
        """libpq URL for psycopg."""
        return self.url.replace("postgresql+psycopg://", "postgresql://")


def database_name(events: int) -> str:
    return f"ews_bench_audit_{events}"


def _admin() -> psycopg.Connection:
    return psycopg.connect(ADMIN_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def prepare(events: int, *, rebuild: bool = False, log: bool = True) -> BenchDatabase:
    """The database with exactly `events` valid events: reused if it holds them, else (re)built."""
    name = database_name(events)
    if not rebuild:
        found = _reusable(name, events)
        if found is not None:
            db = BenchDatabase(name, events, found, reused=True)
            upgrade(db.url)  # a newer migration (e.g. an index) is applied to the existing data
            return db
    began = time.perf_counter()
    with _admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db = BenchDatabase(name, events, 0.0, reused=False)
    upgrade(db.url)
    _load(db, log=log)
    seconds = time.perf_counter() - began
    with _admin() as admin:
        admin.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name),
                sql.Literal(f"{MARKER}: events={events} generated_seconds={seconds:.0f}"),
            )
        )
    return BenchDatabase(name, events, seconds, reused=False)


def _reusable(name: str, events: int) -> float | None:
    """The generation time recorded in a complete database of `events` events, or None."""
    with _admin() as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    if row is None or not row[0] or not row[0].startswith(f"{MARKER}: events={events} "):
        return None
    seconds = float(row[0].rsplit("=", 1)[1])
    db = BenchDatabase(name, events, seconds, reused=True)
    with psycopg.connect(db.dsn) as conn:
        count = conn.execute("SELECT count(*) FROM audit_events").fetchone()
        # Every chain head names its chain's last event (the full verification is measured later).
        stale = conn.execute(
            "SELECT count(*) FROM audit_chain_heads h LEFT JOIN audit_events e "
            "ON e.chain = h.chain AND e.position = h.position "
            "WHERE h.position > 0 AND e.hash IS DISTINCT FROM h.hash"
        ).fetchone()
    return seconds if count == (events,) and stale == (0,) else None


# -- loading -------------------------------------------------------------------------------------------


def _load(db: BenchDatabase, *, log: bool) -> None:
    municipalities = _municipalities(db)
    trail = Trail(db.events, municipalities)
    say = print if log else (lambda *_a, **_k: None)
    say(
        f"generating {db.events:,} events into {db.name}: about {trail.per_case:.0f} events per case, "
        f"a cohort every {trail.cohort_spacing / 86_400e6:.1f} days"
    )
    with psycopg.connect(db.dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        saved = _drop_indexes(conn)
        conn.commit()
        began, loaded = time.perf_counter(), 0
        rows = trail.rows()
        while loaded < db.events:
            batch = min(BATCH, db.events - loaded)
            _copy(conn, "audit_events", EVENT_COLUMNS, _take(rows, batch))
            conn.commit()
            loaded += batch
            rate = loaded / (time.perf_counter() - began)
            say(f"  {loaded:>12,} events  {rate:,.0f}/s", flush=True)
        out = trail.out
        say(f"  {len(out.cases):,} cases in {len(out.cohorts):,} cohorts; {len(out.users)} users")
        _copy(conn, "users", USER_COLUMNS, user_rows(out))
        _copy(conn, "api_tokens", TOKEN_COLUMNS, [token_row(trail.auditors[0])])
        _copy(conn, "cohorts", COHORT_COLUMNS, cohort_rows(out))
        _copy(conn, "cases", CASE_COLUMNS, case_rows(out))
        _copy(conn, "audit_chain_heads", "chain, position, hash", head_rows(out))
        conn.execute(
            "UPDATE audit_chain_heads SET position = %s, hash = %s WHERE chain = 'global'", out.global_head
        )
        for table in ("users", "api_tokens", "cohorts", "cases"):
            conn.execute(
                sql.SQL("SELECT setval(pg_get_serial_sequence({t}, 'id'), (SELECT max(id) FROM {i}))").format(
                    t=sql.Literal(table), i=sql.Identifier(table)
                )
            )
        conn.commit()
        say(f"  COPY done in {time.perf_counter() - began:.0f}s; creating indexes and constraints")
        step = time.perf_counter()
        _create_indexes(conn, saved)
        conn.commit()
        recreated = _index_definitions(conn)
        conn.commit()
        if recreated != saved:
            raise RuntimeError("audit_events indexes differ from the migrated schema after the load")
        say(f"  indexes in {time.perf_counter() - step:.0f}s")
        step = time.perf_counter()
        conn.autocommit = True
        conn.execute("VACUUM (ANALYZE) audit_events")
        conn.execute("ANALYZE")
        say(f"  VACUUM ANALYZE in {time.perf_counter() - step:.0f}s")


def _municipalities(db: BenchDatabase) -> list[str]:
    with psycopg.connect(db.dsn) as conn:
        return [ags for (ags,) in conn.execute("SELECT ags FROM municipalities ORDER BY ags")]


def _take(rows: Iterator[str], count: int) -> Iterator[str]:
    for _ in range(count):
        yield next(rows)


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: Iterable[str]) -> None:
    """COPY text rows, written to the server in ~1 MB pieces."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), sql.SQL(columns))
    with conn.cursor() as cur, cur.copy(statement) as copy:
        pending: list[str] = []
        size = 0
        for row in rows:
            pending.append(row)
            size += len(row)
            if size > 1 << 20:
                copy.write("".join(pending).encode("utf-8"))
                pending, size = [], 0
        if pending:
            copy.write("".join(pending).encode("utf-8"))


# Definitions of the primary key, unique and foreign key constraints and the plain indexes of audit_events.
Definitions = list[tuple[str, str, str]]  # (kind, name, definition)


def _index_definitions(conn: psycopg.Connection) -> Definitions:
    constraints = conn.execute(
        "SELECT CASE contype WHEN 'f' THEN 'fk' ELSE 'key' END, conname, pg_get_constraintdef(oid) "
        "FROM pg_constraint WHERE conrelid = 'audit_events'::regclass AND contype IN ('p', 'u', 'f') "
        "ORDER BY contype = 'f', contype <> 'p', conname"
    ).fetchall()
    indexes = conn.execute(
        "SELECT 'index', indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'audit_events'::regclass) "
        "ORDER BY indexname"
    ).fetchall()
    return [*constraints, *indexes]


def _drop_indexes(conn: psycopg.Connection) -> Definitions:
    saved = _index_definitions(conn)
    for kind, name, _definition in reversed(saved):
        if kind == "index":
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        else:
            conn.execute(sql.SQL("ALTER TABLE audit_events DROP CONSTRAINT {}").format(sql.Identifier(name)))
    return saved


def _create_indexes(conn: psycopg.Connection, saved: Definitions) -> None:
    for kind, name, definition in saved:
        if kind == "index":
            conn.execute(definition)
        else:
            conn.execute(
                sql.SQL("ALTER TABLE audit_events ADD CONSTRAINT {} {}").format(
                    sql.Identifier(name), sql.SQL(definition)
                )
            )
