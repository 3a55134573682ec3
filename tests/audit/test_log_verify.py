"""Log verification (ews_cases/audit/log_verify.py, anchors.py) in process: what each kind of damage to the log's
own tables and to checkpoints is reported as. The insider scenarios of issue 18 are in test_insider.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.audit import log, log_report, merkle, notes
from ews_cases.models import AuditCheckpoint, AuditEvent, clock_set_to, utcnow
from ews_cases.services.checkpoints import write_checkpoint
from testkit.factories import ATTENDORN
from tests.audit.insider import database_owner
from workflows import State


@pytest.fixture
def logged(session, factory, settings) -> str:
    """Two cases in the log and a checkpoint of it (its note returned)."""
    cohort = factory.cohort()
    factory.case(cohort, state=State.SUBMITTED)
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    note = write_checkpoint(session, settings).checkpoint.note
    session.commit()
    return note


def verify(session, settings, *held: str) -> log_report.Report:
    report = log_report.verify(session, settings, [(f"held {n}", text) for n, text in enumerate(held)])
    session.commit()
    return report


def codes(report: log_report.Report) -> list[str]:
    return [p.code for p in report.log.problems] + [c.problem.code for c in report.log.anchors if c.problem]


def test_a_clean_log_verifies_with_its_checkpoint(session, settings, logged):
    report = verify(session, settings, logged)
    assert report.ok
    assert report.held_ok
    assert report.log.size == report.log.leaves == log.head(session).size
    assert [c.anchor.held for c in report.log.anchors] == [True, False]


def test_a_changed_inner_node_leaves_the_events_consistent_but_unproven(
    db, session, factory, settings, logged
):
    size = notes.parse_checkpoint(notes.parse_note(logged).text).size
    assert size == 6
    factory.case(state=State.SUBMITTED)
    session.commit()
    assert log.integrate(session).size > 8  # the proof from 6 to more than 8 leaves reads node (1, 2)
    session.commit()
    # Node (1, 2) is the root of leaves 4 and 5: the consistency proof from 6 leaves on holds it.
    with database_owner(db) as owner:
        owner.execute(
            'UPDATE audit_log_nodes SET hash = :h WHERE level = 1 AND "index" = 2', {"h": bytes(32)}
        )
    report = verify(session, settings, logged)
    # The held checkpoint and the newest stored one (the same size) are proved from the stored nodes.
    assert codes(report) == ["unproven", "unproven"]
    assert report.log.difference is None  # the events are what was signed; only the stored proof is wrong
    assert not report.ok


def test_a_changed_state_root_and_missing_leaves(db, session, settings, logged):
    with database_owner(db) as owner:
        owner.execute("UPDATE audit_log_state SET root = :r", {"r": "00" * 32})
    assert "root_mismatch" in codes(verify(session, settings))

    with database_owner(db) as owner:
        owner.execute(
            "UPDATE audit_log_state SET root = :r", {"r": log.root_at(session, log.head(session).size).hex()}
        )
        owner.execute("DELETE FROM audit_log_leaves WHERE leaf_index = 3")
    session.commit()
    report = verify(session, settings, logged)
    assert codes(report)[:2] == ["leaf_gap", "root_mismatch"]  # leaf 3 counts, but its event is unknown
    assert report.log.difference is not None
    assert report.log.difference.first.leaf == 3
    assert "root_differs" in codes(report)  # leaf 3's event is unknown now: no signed root over it matches


def test_an_event_dropped_from_the_end_of_the_log_is_reported(db, session, factory, settings, logged):
    with clock_set_to(utcnow() - timedelta(hours=1)):
        factory.user("auditor")  # an event of an hour ago
    session.commit()
    head = log.integrate(session)
    session.commit()
    last = head.size - 1
    dropped = log.event_of_leaf(session, last)
    before = log.root_at(session, last)
    session.commit()
    with database_owner(db) as owner:  # out of the log again, as if it had never been taken in
        owner.execute("DELETE FROM audit_log_leaves WHERE leaf_index = :i", {"i": last})
        for level in range(head.size.bit_length()):
            if head.size % (1 << level) == 0:
                owner.execute(
                    'DELETE FROM audit_log_nodes WHERE level = :l AND "index" = :i',
                    {"l": level, "i": (head.size >> level) - 1},
                )
        owner.execute("UPDATE audit_log_state SET size = :s, root = :r", {"s": last, "r": before.hex()})
    report = verify(session, settings, logged)
    assert codes(report) == ["not_in_log"]
    assert (
        report.log.problems[0].detail
        == f"event {dropped}: not in the log, although the log took in later events after it"
    )


def test_checkpoints_that_do_not_count(db, session, settings, logged):
    other_origin = notes.sign_checkpoint("elsewhere.example/log", 1, bytes(32), [notes.Signer.generate("x")])
    report = log_report.verify(
        session,
        settings,
        [("garbage", "kein Prüfpunkt"), ("other", other_origin)],
        [notes.Signer.generate("x").verifier],
    )
    session.commit()
    assert [(p.label, p.code) for p in report.held.problems] == [
        ("garbage", "unreadable"),
        ("other", "unsigned"),
    ]
    assert report.stored.unchecked == 1  # the stored one is signed by a key not given
    assert not report.ok

    # A stored checkpoint whose note was changed is refused: its signature no longer verifies.
    stored_id, size = session.execute(select(AuditCheckpoint.id, AuditCheckpoint.tree_size)).one()
    session.commit()
    with database_owner(db) as owner:
        owner.execute(
            "UPDATE audit_checkpoints SET note = replace(note, :a, :b) WHERE id = :id",
            {"a": f"\n{size}\n", "b": f"\n{size - 1}\n", "id": stored_id},
        )
    report = verify(session, settings)
    assert [p.code for p in report.stored.problems] == ["bad_signature"]
    assert not report.ok


def test_the_first_difference_is_exact_when_a_stored_leaf_names_it(db, session, settings, logged):
    target = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id).offset(4).limit(1))
    session.commit()
    with database_owner(db) as owner:
        owner.execute(
            'UPDATE audit_log_nodes SET hash = :h WHERE level = 0 AND "index" = 4',
            {"h": merkle.leaf_hash(bytes(32))},
        )
    report = verify(session, settings, logged)
    assert codes(report)[0] == "leaf_differs"
    difference = report.log.difference
    assert difference is not None
    assert not difference.bounded
    assert (difference.first.leaf, difference.first.sequence) == (4, target)
