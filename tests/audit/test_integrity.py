"""The storage check of verification: the append-only triggers are in place, and the connected role cannot
lift them (docs/audit.md §5 and §6).

Each tampering happens inside a transaction that is rolled back at the end (DDL is transactional on both
databases), so the test database keeps its triggers whatever the outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from ews_cases.audit.integrity import (
    APPEND_ONLY_TABLES,
    StorageCheck,
    check_storage,
    postgres_triggers,
    sqlite_triggers,
    storage_problems,
)
from ews_cases.db.engine import Database

SUPERUSER_WARNING = (
    "the current role postgres is a superuser: it can disable the append-only triggers and change the audit "
    "tables (the application should run as its own role, see ews db roles)"
)


def expected_privilege_warnings(db: Database) -> list[str]:
    """What the test suite's own connection is told: nothing on SQLite, that it is a superuser on PostgreSQL."""
    return [] if db.is_sqlite else [SUPERUSER_WARNING]


@contextmanager
def tampering(db: Database) -> Iterator[tuple[Connection, Callable[[], StorageCheck]]]:
    """A connection to tamper with in a transaction that is rolled back, and the check as seen from it."""
    with db.engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection, lambda: check_storage(Session(bind=connection))
        finally:
            transaction.rollback()


@contextmanager
def trigger_lifted(db: Database, table: str = "audit_events") -> Iterator[str]:
    """Committed: the first append-only trigger of `table` dropped (SQLite) or disabled (PostgreSQL), back
    afterwards; for checks made by another process or request. Yields the trigger's name."""
    if db.is_sqlite:
        name = sqlite_triggers(table)[0].name
        with db.engine.begin() as connection:
            sql = connection.execute(
                text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"), {"name": name}
            ).scalar_one()
            connection.execute(text(f"DROP TRIGGER {name}"))
        try:
            yield name
        finally:
            with db.engine.begin() as connection:
                connection.execute(text(sql))
    else:
        name = postgres_triggers(table)[0].name
        with db.engine.begin() as connection:
            connection.execute(text("SET LOCAL lock_timeout = '10s'"))  # an open reader fails, not hangs
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {name}"))
        try:
            yield name
        finally:
            with db.engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {name}"))


def test_the_migrated_database_has_every_trigger(db):
    with tampering(db) as (_connection, check):
        result = check()
    assert result.triggers == []
    assert result.privileges == expected_privilege_warnings(db)


def test_storage_problems_lists_both_kinds(db):
    with tampering(db) as (connection, _check):
        trigger = (sqlite_triggers if db.is_sqlite else postgres_triggers)("audit_events")[1].name
        connection.execute(text(f"DROP TRIGGER {trigger}" + ("" if db.is_sqlite else " ON audit_events")))
        problems = storage_problems(Session(bind=connection))
    assert problems == [
        f"append-only trigger {trigger} on audit_events is missing",
        *expected_privilege_warnings(db),
    ]


@pytest.mark.parametrize("index", [0, 1])
def test_a_dropped_trigger_is_reported(db, index):
    trigger = (sqlite_triggers if db.is_sqlite else postgres_triggers)("audit_events")[index].name
    with tampering(db) as (connection, check):
        connection.execute(text(f"DROP TRIGGER {trigger}" + ("" if db.is_sqlite else " ON audit_events")))
        result = check()
    assert result.triggers == [f"append-only trigger {trigger} on audit_events is missing"]


def test_a_table_of_the_merkle_log_without_its_triggers_is_reported(db):
    """The tables added by the Merkle log are checked as soon as they exist (here made without triggers)."""
    table = "audit_log_leaves"
    assert table in APPEND_ONLY_TABLES
    triggers = sqlite_triggers(table) if db.is_sqlite else postgres_triggers(table)
    with tampering(db) as (connection, check):
        connection.execute(text(f"CREATE TABLE IF NOT EXISTS {table} (id integer PRIMARY KEY)"))
        for trigger in triggers:
            on = "" if db.is_sqlite else f" ON {table}"
            connection.execute(text(f"DROP TRIGGER IF EXISTS {trigger.name}{on}"))
        result = check()
    assert result.triggers == [f"append-only trigger {t.name} on {table} is missing" for t in triggers]


@pytest.mark.sqlite
@pytest.mark.parametrize(
    ("replacement", "problem"),
    [
        (
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events WHEN 0 "
            "BEGIN SELECT RAISE(ABORT, 'append-only'); END",
            "append-only trigger audit_events_no_update on audit_events does not fire BEFORE UPDATE ON "
            "audit_events for every row",
        ),
        (
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE OF action ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'append-only'); END",
            "append-only trigger audit_events_no_update on audit_events does not fire BEFORE UPDATE ON "
            "audit_events for every row",
        ),
        (
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events BEGIN SELECT 1; END",
            "append-only trigger audit_events_no_update on audit_events does not abort the statement",
        ),
    ],
)
def test_a_sqlite_trigger_that_no_longer_refuses_is_reported(db, replacement, problem):
    with tampering(db) as (connection, check):
        connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text(replacement))
        assert check().triggers == [problem]


@pytest.mark.sqlite
def test_a_sqlite_trigger_written_differently_but_refusing_is_accepted(db):
    with tampering(db) as (connection, check):
        connection.execute(text("DROP TRIGGER audit_events_no_delete"))
        connection.execute(
            text(
                'CREATE TRIGGER "audit_events_no_delete"\n  before delete on "audit_events" FOR EACH ROW\n'
                "BEGIN\n  SELECT raise ( FAIL , 'no' );\nEND"
            )
        )
        assert check().triggers == []


NO_UPDATE_DELETE = "append-only trigger audit_events_no_update_delete on audit_events"
NO_TRUNCATE = "append-only trigger audit_events_no_truncate on audit_events"


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statements", "problems"),
    [
        (
            ["ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"],
            [f"{NO_UPDATE_DELETE} is disabled"],
        ),
        (
            ["ALTER TABLE audit_events DISABLE TRIGGER USER"],
            [f"{NO_UPDATE_DELETE} is disabled", f"{NO_TRUNCATE} is disabled"],
        ),
        (
            ["ALTER TABLE audit_events ENABLE REPLICA TRIGGER audit_events_no_truncate"],
            [f"{NO_TRUNCATE} fires only in replica sessions (ENABLE REPLICA TRIGGER)"],
        ),
        (
            [
                "DROP TRIGGER audit_events_no_update_delete ON audit_events",
                "CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events "
                "FOR EACH ROW WHEN (false) EXECUTE FUNCTION audit_events_append_only()",
            ],
            [f"{NO_UPDATE_DELETE} fires only for some rows or columns (WHEN or UPDATE OF)"],
        ),
        (
            [
                "DROP TRIGGER audit_events_no_update_delete ON audit_events",
                "CREATE TRIGGER audit_events_no_update_delete AFTER UPDATE ON audit_events "
                "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
            ],
            [f"{NO_UPDATE_DELETE} does not fire BEFORE UPDATE OR DELETE FOR EACH ROW"],
        ),
        (
            [
                "CREATE FUNCTION ews_test_allow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$",
                "DROP TRIGGER audit_events_no_truncate ON audit_events",
                "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
                "FOR EACH STATEMENT EXECUTE FUNCTION ews_test_allow()",
            ],
            [
                f"{NO_TRUNCATE} calls ews_test_allow() instead of audit_events_append_only() or "
                "audit_append_only()"
            ],
        ),
        (
            [
                "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql "
                "AS $$ BEGIN RETURN NEW; END $$"
            ],
            [
                f"function audit_events_append_only() called by {NO_UPDATE_DELETE} no longer raises",
                f"function audit_events_append_only() called by {NO_TRUNCATE} no longer raises",
            ],
        ),
        (
            [
                "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET session_replication_role = replica', "
                "current_database()); END $$"
            ],
            [
                "session_replication_role defaults to replica for every role: the append-only triggers do "
                "not fire there"
            ],
        ),
        (
            ["SET LOCAL session_replication_role = replica"],
            ["this session runs with session_replication_role = replica: triggers do not fire"],
        ),
    ],
)
def test_a_postgres_trigger_that_no_longer_refuses_is_reported(db, statements, problems):
    with tampering(db) as (connection, check):
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        for statement in statements:
            connection.execute(text(statement))
        assert check().triggers == problems


@pytest.mark.postgres
def test_what_the_connected_role_could_do_is_a_warning(db):
    """Owner, member of the owner, or UPDATE/DELETE/TRUNCATE granted: each is named; as the application
    role is set up by `ews db roles` (SELECT and INSERT only) nothing is (tests/test_db_roles.py)."""
    suffix = uuid.uuid4().hex[:8]
    owner, member, granted, reader = (
        f"ews_check_{kind}_{suffix}" for kind in ("owner", "member", "granted", "reader")
    )
    with tampering(db) as (connection, check):
        connection.execute(text("SET LOCAL lock_timeout = '10s'"))
        for role in (owner, member, granted, reader):
            connection.execute(text(f"CREATE ROLE {role}"))
        connection.execute(text(f"GRANT {owner} TO {member}"))
        connection.execute(text(f"ALTER TABLE audit_events OWNER TO {owner}"))
        connection.execute(text(f"GRANT SELECT, INSERT, UPDATE, TRUNCATE ON audit_events TO {granted}"))
        connection.execute(text(f"GRANT SELECT, INSERT ON audit_events TO {reader}"))
        seen = {}
        for role in (owner, member, granted, reader):
            connection.execute(text(f"SET LOCAL ROLE {role}"))
            seen[role] = check()
            connection.execute(text("RESET ROLE"))
    assert seen[owner].privileges == [
        f"the current role {owner} owns audit_events: it can disable the table's triggers"
    ]
    assert seen[member].privileges == [
        f"the current role {member} is a member of {owner}, which owns audit_events: it can disable the "
        "table's triggers"
    ]
    assert seen[granted].privileges == [f"the current role {granted} holds UPDATE, TRUNCATE on audit_events"]
    assert seen[reader].privileges == []
    assert all(result.triggers == [] for result in seen.values())
