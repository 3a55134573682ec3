"""What keeps the audit tables append-only in the database, declared once, and the check that it still holds.

The hash chains (and the Merkle log) detect a changed history; the triggers and the application role's
privileges (docs/audit.md §5, docs/operations.md) are what make changing it hard in the first place. A
verification that only recomputes hashes cannot see that the triggers were dropped or disabled, or that the
role it runs as could do so: `check_storage` reports both (`ews audit verify`, `GET /api/v1/audit/verify`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, bindparam, text
from sqlalchemy.orm import Session

#: The tables no one may change or delete rows of: each has the triggers below (where it exists; the Merkle
#: log and the checkpoints add theirs with their migration), and the application role may only read and
#: insert (`ews db roles`).
APPEND_ONLY_TABLES = (
    "audit_events",
    "audit_log_leaves",
    "audit_log_nodes",
    "audit_checkpoints",
    "audit_cosignatures",
)
#: The PostgreSQL functions an append-only trigger may call; each raises SQLSTATE 42501: the initial
#: migration's for `audit_events`, and the Merkle log's, which names the table in its message.
APPEND_ONLY_FUNCTIONS = ("audit_events_append_only", "audit_append_only")
#: Privileges that would let the connected role change or empty an append-only table.
WRITE_PRIVILEGES = ("UPDATE", "DELETE", "TRUNCATE")

# pg_trigger.tgtype bits (PostgreSQL's include/catalog/pg_trigger.h).
_ROW, _BEFORE, _DELETE, _UPDATE, _TRUNCATE = 1, 2, 8, 16, 32


@dataclass(frozen=True, slots=True)
class Trigger:
    """One trigger an append-only table must have: its name and what it must fire on."""

    name: str
    fires: str  # as written in CREATE TRIGGER, for the report
    tgtype: int  # PostgreSQL: the bits of pg_trigger.tgtype it must have; SQLite: unused


def postgres_triggers(table: str) -> tuple[Trigger, ...]:
    """The triggers that refuse UPDATE, DELETE and TRUNCATE on `table` in PostgreSQL."""
    return (
        Trigger(
            f"{table}_no_update_delete",
            "BEFORE UPDATE OR DELETE FOR EACH ROW",
            _BEFORE | _ROW | _UPDATE | _DELETE,
        ),
        Trigger(f"{table}_no_truncate", "BEFORE TRUNCATE", _BEFORE | _TRUNCATE),
    )


def sqlite_triggers(table: str) -> tuple[Trigger, ...]:
    """The triggers that refuse UPDATE and DELETE on `table` in SQLite (which has no TRUNCATE)."""
    return (
        Trigger(f"{table}_no_update", f"BEFORE UPDATE ON {table}", 0),
        Trigger(f"{table}_no_delete", f"BEFORE DELETE ON {table}", 0),
    )


@dataclass(slots=True)
class StorageCheck:
    """What protects the append-only tables, as found in the database.

    `triggers`: the database would accept a change of history (verification fails). `privileges`: the role
    connected could lift that protection itself (a warning: development and migrations run as the owner).
    """

    triggers: list[str] = field(default_factory=list)
    privileges: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return self.triggers + self.privileges


def check_storage(session: Session) -> StorageCheck:
    """Look at the append-only tables' triggers and at what the connected role may do to them."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        tables = _postgres_tables(connection)
        return StorageCheck(
            _postgres_trigger_problems(connection, tables), _privilege_problems(connection, tables)
        )
    return StorageCheck(_sqlite_trigger_problems(connection), [])


def storage_problems(session: Session) -> list[str]:
    """Every problem `check_storage` finds, one English sentence each (empty: all in place)."""
    return check_storage(session).problems


# --- PostgreSQL ---------------------------------------------------------------------------------------------

_TABLES = text(
    """
    SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
           pg_has_role(current_user, c.relowner, 'USAGE') AS acts_as_owner,
           has_table_privilege(current_user, c.oid, 'UPDATE') AS "UPDATE",
           has_table_privilege(current_user, c.oid, 'DELETE') AS "DELETE",
           has_table_privilege(current_user, c.oid, 'TRUNCATE') AS "TRUNCATE"
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname IN :tables
    """
).bindparams(bindparam("tables", expanding=True))

_TRIGGERS = text(
    """
    SELECT c.relname, t.tgname, t.tgenabled, t.tgtype, p.proname, p.prosrc,
           t.tgqual IS NOT NULL OR t.tgattr <> ''::int2vector AS conditional
    FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE n.nspname = current_schema() AND NOT t.tgisinternal AND c.relname IN :tables
    """
).bindparams(bindparam("tables", expanding=True))

_RAISES = re.compile(r"\bRAISE\s+EXCEPTION\b", re.IGNORECASE)


def _postgres_tables(connection: Connection) -> dict[str, Row[Any]]:
    """The append-only tables that exist in the current schema, with their owners and what the connected
    role may do to them."""
    rows = connection.execute(_TABLES, {"tables": list(APPEND_ONLY_TABLES)})
    return {row.relname: row for row in rows}


def _postgres_trigger_problems(connection: Connection, tables: dict[str, Row[Any]]) -> list[str]:
    if not tables:
        return ["no append-only table found in the current schema"]
    found = {
        (row.relname, row.tgname): row for row in connection.execute(_TRIGGERS, {"tables": list(tables)})
    }
    problems = []
    for table in (t for t in APPEND_ONLY_TABLES if t in tables):
        for trigger in postgres_triggers(table):
            row = found.get((table, trigger.name))
            where = f"append-only trigger {trigger.name} on {table}"
            if row is None:
                problems.append(f"{where} is missing")
                continue
            if row.tgenabled == "D":
                problems.append(f"{where} is disabled")
            elif row.tgenabled == "R":
                problems.append(f"{where} fires only in replica sessions (ENABLE REPLICA TRIGGER)")
            if row.proname not in APPEND_ONLY_FUNCTIONS:
                expected = " or ".join(f"{name}()" for name in APPEND_ONLY_FUNCTIONS)
                problems.append(f"{where} calls {row.proname}() instead of {expected}")
            elif not _RAISES.search(row.prosrc or ""):
                problems.append(f"function {row.proname}() called by {where} no longer raises")
            if row.tgtype & trigger.tgtype != trigger.tgtype:
                problems.append(f"{where} does not fire {trigger.fires}")
            if row.conditional:
                problems.append(f"{where} fires only for some rows or columns (WHEN or UPDATE OF)")
    problems.extend(_replica_settings(connection))
    return problems


_REPLICA_SETTINGS = text(
    """
    SELECT CASE WHEN s.setrole = 0 THEN 'every role' ELSE pg_get_userbyid(s.setrole) END AS who
    FROM pg_db_role_setting s
    WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
      AND EXISTS (SELECT 1 FROM unnest(s.setconfig) AS c WHERE c ILIKE 'session_replication_role=replica')
    ORDER BY who
    """
)


def _replica_settings(connection: Connection) -> list[str]:
    """`session_replication_role = replica` set as a default: those sessions fire no ordinary trigger."""
    problems = [
        f"session_replication_role defaults to replica for {who}: the append-only triggers do not fire there"
        for (who,) in connection.execute(_REPLICA_SETTINGS)
    ]
    if (
        connection.execute(text("SELECT current_setting('session_replication_role')")).scalar_one()
        == "replica"
    ):
        problems.append("this session runs with session_replication_role = replica: triggers do not fire")
    return problems


def _privilege_problems(connection: Connection, tables: dict[str, Row[Any]]) -> list[str]:
    """What the connected role could do to lift the protection itself: be a superuser, act as a table's
    owner (who may disable its triggers), or hold UPDATE, DELETE or TRUNCATE on it."""
    role, superuser = connection.execute(
        text("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user")
    ).one()
    if superuser:
        return [
            f"the current role {role} is a superuser: it can disable the append-only triggers and change "
            "the audit tables (the application should run as its own role, see ews db roles)"
        ]
    problems = []
    for table in (t for t in APPEND_ONLY_TABLES if t in tables):
        row = tables[table]
        if row.acts_as_owner:
            who = "owns" if row.owner == role else f"is a member of {row.owner}, which owns"
            problems.append(f"the current role {role} {who} {table}: it can disable the table's triggers")
            continue
        held = [privilege for privilege in WRITE_PRIVILEGES if row._mapping[privilege]]
        if held:
            problems.append(f"the current role {role} holds {', '.join(held)} on {table}")
    return problems


# --- SQLite -------------------------------------------------------------------------------------------------

_SPACES = re.compile(r"\s+")
_QUOTES = re.compile(r"[\"`\[\]]")
_ABORTS = re.compile(r"\bRAISE\s*\(\s*(ABORT|FAIL|ROLLBACK)\b")


def _sqlite_trigger_problems(connection: Connection) -> list[str]:
    tables = set(
        connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'table' AND name IN :tables").bindparams(
                bindparam("tables", expanding=True)
            ),
            {"tables": list(APPEND_ONLY_TABLES)},
        ).scalars()
    )
    if not tables:
        return ["no append-only table found in the database"]
    found = {
        (table, name): sql
        for table, name, sql in connection.execute(
            text("SELECT tbl_name, name, sql FROM sqlite_master WHERE type = 'trigger'")
        )
    }
    problems = []
    for table in (t for t in APPEND_ONLY_TABLES if t in tables):
        for trigger in sqlite_triggers(table):
            sql = found.get((table, trigger.name))
            where = f"append-only trigger {trigger.name} on {table}"
            if sql is None:
                problems.append(f"{where} is missing")
                continue
            # As written: fires before every such statement (no WHEN, no UPDATE OF column) and aborts it.
            statement = _SPACES.sub(" ", _QUOTES.sub("", sql)).upper()
            head, _, body = statement.partition(" BEGIN ")
            if not head.removesuffix(" FOR EACH ROW").endswith(trigger.fires.upper()):
                problems.append(f"{where} does not fire {trigger.fires} for every row")
            if not _ABORTS.search(body):
                problems.append(f"{where} does not abort the statement")
    return problems
