"""The insider of issue 18: someone who owns the database (a DBA, an operator, a restored backup) and rewrites
history so that the hash chains verify again. Used by tests/audit/test_insider.py.

On PostgreSQL the owner turns every trigger and foreign key off for one transaction
(`session_replication_role = replica`, as a superuser may); on SQLite the owner opens the file with Python's
`sqlite3` (foreign keys off, as by default) and drops the append-only triggers, putting them back afterwards.
Hashes are recomputed with the software's own code: the insider has it too.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select, text

from ews_cases.audit import log
from ews_cases.audit.chain import GENESIS_HASH, chain_hash, event_record
from ews_cases.audit.merkle import EMPTY_ROOT
from ews_cases.db.engine import Database
from ews_cases.models import AuditEvent
from ews_cases.settings import Settings

LOG_TABLES = ("audit_log_nodes", "audit_log_leaves")
REPO = Path(__file__).resolve().parents[2]


def ews(database_url: str, settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`ews` in its own process with the test installation's settings (its data folder holds the key)."""
    return subprocess.run(
        [sys.executable, "-c", "from ews_cases.cli.commands import main; main()", *args],
        env={
            **os.environ,
            "EWS_DATABASE_URL": database_url,
            "EWS_DATA_DIR": str(settings.data_dir),
            "EWS_PUBLIC_URL": settings.public_url,
            **env,
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


class Owner:
    """Plain SQL with the database's protections lifted (`:name` parameters on both databases)."""

    def __init__(self, db: Database, connection: Any) -> None:
        self.db = db
        self.connection = connection

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        if self.db.is_sqlite:
            cursor = self.connection.execute(sql, dict(params or {}))
            return cursor.fetchall()
        result = self.connection.execute(text(sql), dict(params or {}))
        return list(result) if result.returns_rows else []

    def rewrite_event(self, record: Mapping[str, Any]) -> None:
        data = json.dumps(record["data"], ensure_ascii=False)
        cast = ":data" if self.db.is_sqlite else "CAST(:data AS JSONB)"
        self.execute(
            f"UPDATE audit_events SET data = {cast}, prev_hash = :prev_hash, hash = :hash WHERE id = :id",
            {
                "data": data,
                "prev_hash": record["prev_hash"],
                "hash": record["hash"],
                "id": record["sequence"],
            },
        )

    def rechain(self, chain: str, records: list[dict[str, Any]]) -> None:
        """Recompute every hash of `chain` from its (changed) records, store them and move its head."""
        prev_hash = GENESIS_HASH
        for record in records:
            record["prev_hash"] = prev_hash
            record["hash"] = prev_hash = chain_hash(prev_hash, record)
            self.rewrite_event(record)
        position = records[-1]["position"] if records else 0
        self.execute(
            "UPDATE audit_chain_heads SET position = :position, hash = :hash WHERE chain = :chain",
            {"position": position, "hash": prev_hash, "chain": chain},
        )

    def forget_log(self) -> None:
        """Empty the Merkle log, to be built again from the rewritten events (`rebuild_log`)."""
        for table in LOG_TABLES:
            self.execute(f"DELETE FROM {table}")
        self.execute(
            "UPDATE audit_log_state SET size = 0, root = :root, max_event_id = 0 WHERE id = 1",
            {"root": EMPTY_ROOT.hex()},
        )


def chain_records(db: Database, chain: str) -> list[dict[str, Any]]:
    """A chain's events as exported (`event_record`), in position order."""
    events = AuditEvent.__table__
    with db.sessionmaker() as session:
        rows = session.execute(select(events).where(events.c.chain == chain).order_by(events.c.position))
        return [event_record(row) for row in rows]


@contextmanager
def database_owner(db: Database) -> Iterator[Owner]:
    """One transaction with the append-only triggers (and foreign keys) lifted; they are back afterwards."""
    if db.is_sqlite:
        connection = sqlite3.connect(db.engine.url.database, isolation_level=None, timeout=30)
        try:
            connection.execute("BEGIN IMMEDIATE")
            triggers = connection.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit%'"
            ).fetchall()
            for name, _sql in triggers:
                connection.execute(f"DROP TRIGGER {name}")
            yield Owner(db, connection)
            for _name, sql in triggers:
                connection.execute(sql)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.close()
        return
    with db.engine.begin() as connection:
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        yield Owner(db, connection)


def rebuild_log(db: Database) -> None:
    """Build the Merkle log again over the events as they are now, with the software's own code."""
    with db.sessionmaker() as session:
        log.integrate_pending(session, full=True)
        session.commit()


def drop_checkpoints_after(db: Database, size: int) -> int:
    """Delete the stored checkpoints the rewritten log no longer matches (the insider cannot sign new ones)."""
    with database_owner(db) as owner:
        doomed = owner.execute("SELECT id FROM audit_checkpoints WHERE tree_size > :size", {"size": size})
        owner.execute("DELETE FROM audit_signing_keys")  # they name the first and last checkpoint
        owner.execute("DELETE FROM audit_checkpoints WHERE tree_size > :size", {"size": size})
    return len(doomed)


def with_key(settings: Settings, private_text: str) -> Settings:
    return settings.model_copy(update={"audit_signing_key": private_text})
