"""A case's whole life through the services, with its audit chain."""

from __future__ import annotations

from sqlalchemy import func, select

from ews_cases.audit import chain
from ews_cases.models import AuditEvent, OutboxMessage
from workflows import State


def test_main_path_to_certified_leaves_one_transition_event_per_step(session, factory):
    cohort = factory.cohort(required_reviews=2)
    factory.workshop(cohort)
    case = factory.case(cohort, state=State.CERTIFIED)
    session.commit()

    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.case_id == case.id).order_by(AuditEvent.position)
    ).all()
    transitions = [a for a in actions if a.startswith("transition.")]
    assert transitions == [
        "transition.submit",
        "transition.review",
        "transition.admit",
        "transition.start",
        "transition.complete_project",
        "transition.certify",
    ]
    assert actions[0] == "case.created"
    assert case.version == 7  # created at 1, six transitions
    assert (
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.case_id == case.id)
        )
        > 0
    )
    assert chain.verify_database(session).ok
