"""The stored Merkle log (ews_cases/audit/log.py): integration, roots and proofs from the database."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ews_cases.audit import log, merkle
from ews_cases.db.engine import Database
from ews_cases.models import AuditEvent
from testkit.factories import Factory
from tests.audit.test_merkle import naive_mth
from workflows import State


def event_leaves(session: Session) -> list[bytes]:
    hashes = session.execute(select(AuditEvent.hash).order_by(AuditEvent.id)).scalars()
    return [merkle.leaf_hash(h) for h in hashes]


def test_integration_takes_every_event_once_in_id_order(session: Session, factory: Factory) -> None:
    factory.case(state=State.SUBMITTED)
    session.commit()
    assert log.head(session).size == 0
    first = log.integrate(session)
    session.commit()
    leaves = event_leaves(session)
    assert first.size == len(leaves) >= 4
    assert first.root == naive_mth(leaves)
    assert log.integrate(session) == first  # nothing new: unchanged

    factory.case(state=State.SUBMITTED)
    session.commit()
    second = log.integrate(session)
    session.commit()
    leaves = event_leaves(session)
    assert second.size == len(leaves)
    assert second.root == naive_mth(leaves) == log.root_at(session, second.size)
    assert log.root_at(session, first.size) == first.root

    # Every event's inclusion proof verifies against the head; the old head is a prefix of the new one.
    events = session.execute(select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id)).all()
    for event_id, event_hash in events:
        index = log.leaf_of_event(session, event_id)
        assert index is not None
        assert log.event_of_leaf(session, index) == event_id
        proof = log.inclusion_proof(session, index, second.size)
        assert merkle.verify_inclusion(merkle.leaf_hash(event_hash), index, second.size, proof, second.root)
    proof = log.consistency_proof(session, first.size, second.size)
    assert merkle.verify_consistency(first.size, second.size, first.root, second.root, proof)
    with pytest.raises(log.SizeOutOfRange):
        log.root_at(session, second.size + 1)


def test_batches_and_the_stored_leaves(session: Session, factory: Factory) -> None:
    for _ in range(3):
        factory.case(state=State.SUBMITTED)
    session.commit()
    total = len(event_leaves(session))
    sizes = []
    while (size := log.integrate(session, limit=4).size) not in sizes:
        sizes.append(size)
    session.commit()
    assert sizes == [*range(4, total, 4), total]
    assert log.head(session).root == naive_mth(event_leaves(session))
    stored = list(log.iter_leaves(session))
    assert [leaf for leaf, *_ in stored] == list(range(total))
    assert all(merkle.leaf_hash(event_hash) == leaf_hash for _, _, event_hash, leaf_hash in stored)


def test_the_log_tables_are_append_only(db: Database, session: Session, factory: Factory) -> None:
    factory.case()
    log.integrate(session)
    session.commit()
    for statement in (
        "UPDATE audit_log_nodes SET hash = hash",
        "DELETE FROM audit_log_nodes",
        "UPDATE audit_log_leaves SET event_id = event_id",
        "DELETE FROM audit_log_leaves",
    ):
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    if not db.is_sqlite:
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log_nodes"))
