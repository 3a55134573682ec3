"""The audit trail (SPEC §6): append-only in the database, hash chains that report the first broken event.

Some tests play the attacker: they lift the append-only triggers for one transaction, change history
with plain SQL, and check that verification names exactly the event they touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import DBAPIError

from ews_cases.audit import chain
from ews_cases.audit.chain import GENESIS_HASH, Break, Verification, jsonable, verify_database, verify_jsonl
from ews_cases.audit.export import write_export
from ews_cases.db.engine import Database
from ews_cases.models import AuditEvent, case_chain
from ews_cases.services.actors import actor_for
from ews_cases.services.cohorts import update_cohort
from testkit.factories import ATTENDORN
from workflows import Actor, State

REPO = Path(__file__).resolve().parents[1]
VERIFY_SCRIPT = REPO / "docs" / "verify_audit_export.py"
SQLITE_TRIGGERS = {"audit_events_no_update", "audit_events_no_delete"}


# -- helpers (also used by tests/test_cli_audit.py) -----------------------------------------------------


@contextmanager
def append_only_lifted(db: Database) -> Iterator[Connection]:
    """One transaction in which audit rows can be changed; the triggers are back when it ends.

    Callers must have committed their session first (PostgreSQL's ALTER TABLE waits for readers).
    DDL is transactional on both databases, so if the block fails the rollback restores them too.
    """
    with db.engine.begin() as conn:
        if db.is_sqlite:
            triggers = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'"
                )
            ).all()
            assert {name for name, _sql in triggers} == SQLITE_TRIGGERS
            for name, _sql in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
        else:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))  # a forgotten commit fails, not hangs
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete"))
        succeeded = False
        try:
            yield conn
            succeeded = True
        finally:
            if succeeded:  # otherwise the statement failed and the transaction's rollback restores them
                if db.is_sqlite:
                    for _name, sql in triggers:
                        conn.execute(text(sql))
                else:
                    conn.execute(
                        text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
                    )


def forge_data(db: Database, event_id: int, **changes: Any) -> None:
    """Overwrite keys of one event's `data` with SQL, bypassing the triggers (and nothing else)."""
    with append_only_lifted(db) as conn:
        data = conn.execute(select(AuditEvent.data).where(AuditEvent.id == event_id)).scalar_one()
        forged = json.dumps({**data, **changes}, ensure_ascii=False)
        cast = ":data" if db.is_sqlite else "CAST(:data AS JSONB)"
        updated = conn.execute(
            text(f"UPDATE audit_events SET data = {cast} WHERE id = :id"), {"data": forged, "id": event_id}
        )
        assert updated.rowcount == 1


def delete_event(db: Database, event_id: int) -> None:
    with append_only_lifted(db) as conn:
        deleted = conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": event_id})
        assert deleted.rowcount == 1


def assert_append_only(db: Database) -> None:
    """UPDATE and DELETE on audit_events are refused by the database itself."""
    for statement in (
        "UPDATE audit_events SET action = 'forged' WHERE id = (SELECT MIN(id) FROM audit_events)",
        "DELETE FROM audit_events WHERE id = (SELECT MIN(id) FROM audit_events)",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))


def verified(db: Database) -> Verification:
    """Verify the whole database in a fresh session, as `ews audit verify` does (nothing cached)."""
    with db.sessionmaker() as fresh:
        return verify_database(fresh)


def chain_events(session, chain: str) -> list[AuditEvent]:
    """The chain's events; ends the read transaction (on SQLite it holds the write lock)."""
    events = list(
        session.scalars(select(AuditEvent).where(AuditEvent.chain == chain).order_by(AuditEvent.position))
    )
    session.commit()
    return events


def count_events(session) -> int:
    count = session.scalar(select(func.count()).select_from(AuditEvent))
    session.commit()
    return count


def run_verifier_script(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(VERIFY_SCRIPT), str(path)], capture_output=True, text=True, timeout=60
    )


def script_breaks(output: str) -> set[tuple[str, int]]:
    """(chain, position) of each `BROKEN chain <chain> at position <n> ...` line the script prints."""
    found = set()
    for line in output.splitlines():
        if line.startswith("BROKEN chain "):
            words = line.split()
            found.add((words[2], int(words[5])))
    return found


# -- append-only ---------------------------------------------------------------------------------------


def test_update_and_delete_by_sql_are_refused(db, session, factory):
    factory.case(state=State.SUBMITTED)
    session.commit()
    before = count_events(session)

    assert_append_only(db)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET data = data"))
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))

    assert count_events(session) == before
    assert verified(db).ok


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(db, session, factory):
    factory.case()
    session.commit()
    # The Merkle log's leaves refer to the events: a plain TRUNCATE is refused by that foreign key, and one
    # that takes the leaves along (CASCADE) by the append-only triggers.
    with pytest.raises(DBAPIError, match="cannot truncate a table referenced"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_events"))
    with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"), db.engine.begin() as conn:
        conn.execute(text("TRUNCATE audit_events CASCADE"))
    assert count_events(session) > 0


def test_deleting_a_user_keeps_the_history_they_made(db, session, factory):
    coordinator = factory.user("coordinator")
    cohort = factory.cohort()
    update_cohort(session, actor_for(coordinator), cohort, {"title": "Durchgang Köln"})
    session.commit()
    before = count_events(session)

    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": coordinator.id})

    made = session.scalars(select(AuditEvent).where(AuditEvent.actor == f"user:{coordinator.id}")).all()
    assert [e.action for e in made] == ["cohort.updated"]
    assert made[0].data["changes"]["title"] == {"old": "Testdurchgang", "new": "Durchgang Köln"}
    assert count_events(session) == before
    assert verified(db).ok


# -- chains and verification ------------------------------------------------------------------------


def test_a_database_without_events_verifies(db):
    assert verified(db).ok


def test_every_case_has_its_own_chain_from_genesis(db, session, factory):
    cohort = factory.cohort()
    first = factory.case(cohort, state=State.SUBMITTED)
    second = factory.case(cohort, ATTENDORN, state=State.REVIEWED)
    factory.fire(first, "review")  # interleaved: the first case's chain grows after the second's
    session.commit()

    for case in (first, second):
        events = chain_events(session, case_chain(case.id))
        assert [e.position for e in events] == list(range(1, len(events) + 1))
        assert events[0].prev_hash == GENESIS_HASH
        assert all(e.case_id == case.id and e.cohort_number == cohort.number for e in events)
        assert all(later.prev_hash == earlier.hash for earlier, later in pairwise(events))
    outside = chain_events(session, "global")
    assert {"cohort.created", "user.created"} <= {e.action for e in outside}
    assert all(e.case_id is None for e in outside)

    result = verified(db)
    assert result.ok
    assert result.chains == 3


def test_an_edited_row_is_reported_as_the_first_break_of_its_chain(db, session, factory):
    case = factory.case(state=State.REVIEWED)
    session.commit()
    events = chain_events(session, case_chain(case.id))
    assert len(events) >= 4
    target = events[1]  # transition.submit

    forge_data(db, target.id, reason="nachträglich eingefügt")

    assert verified(db).breaks == [
        Break(case_chain(case.id), 2, target.id, "hash does not match the event's content")
    ]
    assert_append_only(db)  # the triggers are back


def test_verification_reads_the_stored_rows_even_when_the_session_has_them_loaded(db, session, factory):
    case = factory.case(state=State.SUBMITTED)
    session.commit()
    target = chain_events(session, case_chain(case.id))[0]  # now in the session's identity map

    forge_data(db, target.id, municipality="05111000")

    assert not verify_database(session).ok


def test_chains_of_different_cases_are_independent(db, session, factory):
    cohort = factory.cohort()
    tampered = factory.case(cohort, state=State.SUBMITTED)
    intact = factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    target = chain_events(session, case_chain(tampered.id))[0]

    forge_data(db, target.id, municipality="05111000")

    result = verified(db)
    assert [(b.chain, b.position) for b in result.breaks] == [(case_chain(tampered.id), 1)]
    intact_records = [chain.event_record(e) for e in chain_events(session, case_chain(intact.id))]
    assert chain.verify_records(intact_records).ok


def test_a_deleted_middle_event_is_a_gap(db, session, factory):
    case = factory.case(state=State.REVIEWED)
    session.commit()
    events = chain_events(session, case_chain(case.id))

    delete_event(db, events[1].id)

    [gap] = verified(db).breaks
    assert (gap.chain, gap.position, gap.sequence) == (case_chain(case.id), 3, events[2].id)
    assert "gap" in gap.problem
    assert_append_only(db)


def test_a_deleted_last_event_is_caught_by_the_chain_head(db, session, factory):
    case = factory.case(state=State.SUBMITTED)
    session.commit()
    last = chain_events(session, case_chain(case.id))[-1]

    delete_event(db, last.id)

    [missing] = verified(db).breaks
    assert (missing.chain, missing.position) == (case_chain(case.id), last.position)
    assert "missing at the end" in missing.problem


# -- what may be recorded ------------------------------------------------------------------------------


def test_jsonable_writes_floats_and_decimals_as_strings():
    assert jsonable({"share": 0.75, "exact": Decimal("0.750"), "nested": [1.5, {"x": 2.0}]}) == {
        "share": "0.75",
        "exact": "0.750",
        "nested": ["1.5", {"x": "2.0"}],
    }
    assert jsonable(datetime(2026, 11, 21, 8, 4, tzinfo=UTC)) == "2026-11-21T08:04:00.000000Z"
    assert jsonable(date(2026, 11, 21)) == "2026-11-21"
    assert jsonable({"state": State.ADMITTED, "ids": (3, 1)}) == {"state": "admitted", "ids": [3, 1]}


@pytest.mark.parametrize("value", [b"bytes", object(), 1j, {"nested": object()}])
def test_jsonable_refuses_what_has_no_unambiguous_json(value):
    with pytest.raises(TypeError, match="cannot record"):
        jsonable(value)


def test_append_refuses_unsupported_data_and_writes_nothing(session, factory):
    factory.cohort()
    session.commit()
    before = count_events(session)
    with pytest.raises(TypeError):
        chain.append(session, actor=Actor.system("tests"), action="test.refused", data={"blob": b"\x00"})
    session.rollback()
    assert count_events(session) == before


def test_recorded_floats_verify_as_strings(db, session):
    event = chain.append(session, actor=Actor.system("tests"), action="test.float", data={"share": 0.1})
    session.commit()
    assert event["data"] == {"share": "0.1"}
    assert session.get(AuditEvent, event["sequence"]).data == {"share": "0.1"}
    assert verified(db).ok


# -- the independent script (docs/verify_audit_export.py) ------------------------------------------------


def _export(session, path: Path) -> list[str]:
    with path.open("wb") as handle:
        write_export(session, "jsonl", handle)
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _verdicts(path: Path) -> tuple[set[tuple[str, int]], set[tuple[str, int]], int]:
    """The breaks `verify_jsonl` finds, the breaks the script finds, and the script's exit code."""
    with path.open("rb") as handle:
        ours = {(b.chain, b.position) for b in verify_jsonl(handle).breaks}
    script = run_verifier_script(path)
    return ours, script_breaks(script.stdout), script.returncode


def test_the_independent_script_agrees_on_a_good_export(session, factory, tmp_path):
    cohort = factory.cohort()
    factory.case(cohort, state=State.REVIEWED)
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    path = tmp_path / "audit.jsonl"
    _export(session, path)

    ours, theirs, code = _verdicts(path)
    assert ours == theirs == set()
    assert code == 0
    assert run_verifier_script(path).stdout.startswith("OK")


def test_the_independent_script_agrees_on_a_tampered_export(session, factory, tmp_path):
    cohort = factory.cohort()
    case = factory.case(cohort, state=State.REVIEWED)
    other = factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    lines = _export(session, tmp_path / "good.jsonl")
    records = [json.loads(line) for line in lines]

    edited = [dict(r) for r in records]
    [index] = [i for i, r in enumerate(records) if r["chain"] == case_chain(case.id) and r["position"] == 3]
    edited[index]["data"] = {**edited[index]["data"], "recommendation": "reject"}
    edited_path = tmp_path / "edited.jsonl"
    edited_path.write_text(
        "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in edited),
        encoding="utf-8",
    )
    ours, theirs, code = _verdicts(edited_path)
    assert ours == theirs == {(case_chain(case.id), 3)}
    assert code == 1

    [first] = [i for i, r in enumerate(records) if r["chain"] == case_chain(other.id) and r["position"] == 1]
    gap_path = tmp_path / "gap.jsonl"
    gap_path.write_text("".join(lines[:first] + lines[first + 1 :]), encoding="utf-8")
    ours, theirs, code = _verdicts(gap_path)
    assert ours == theirs == {(case_chain(other.id), 2)}
    assert code == 1
