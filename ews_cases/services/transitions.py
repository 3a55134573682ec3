"""Apply a workflow transition to a case: the one code path that changes a case's state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ews_cases import audit
from ews_cases.models import Case
from ews_cases.models.base import utcnow
from ews_cases.models.case import STATE_WRITE_ALLOWED
from ews_cases.services.facts import CaseSubject
from ews_cases.services.locking import lock_case
from ews_cases.services.notifications import queue_effects
from workflows import WORKFLOW, Actor, Attempt, Decision, Refusal, RefusalKind, State, TransitionRefused
from workflows.text import N_


def apply_transition(
    session: Session,
    case: Case,
    name: str,
    actor: Actor,
    expected_version: int,
    reason: str | None = None,
    *,
    override: bool = False,
    now: datetime | None = None,
) -> Case:
    """Fire transition `name` on `case` in the caller's transaction.

    Checks role, expected version, state and guards; then changes state, bumps the version, appends one
    audit event and queues the effects' emails. Raises `TransitionRefused` (and changes nothing) otherwise.
    """
    now = now or utcnow()
    case = lock_case(session, case.id)
    subject = CaseSubject(session, case)
    attempt = Attempt(actor=actor, now=now, reason=reason.strip() if reason else None, override=override)
    early = WORKFLOW.decide(subject, name, attempt)
    if early.refusals and early.refusals[0].kind in (RefusalKind.UNKNOWN, RefusalKind.FORBIDDEN):
        raise TransitionRefused(name, early.refusals)
    if case.version != expected_version:
        raise TransitionRefused(
            name,
            (
                Refusal(
                    RefusalKind.STALE_VERSION,
                    "stale_version",
                    N_(
                        "Die Bewerbung wurde inzwischen geändert (Version {current}, erwartet {expected}). "
                        "Bitte laden Sie sie neu."
                    ),
                    {"current": case.version, "expected": expected_version},
                ),
            ),
        )
    from_state = case.state
    token = STATE_WRITE_ALLOWED.set(True)
    try:
        decision: Decision = WORKFLOW.fire(subject, name, attempt)
    finally:
        STATE_WRITE_ALLOWED.reset(token)
    if case.state == State.SUBMITTED:
        case.submitted_at = now
    session.flush()  # UPDATE ... WHERE version = expected: the optimistic lock, even without FOR UPDATE
    messages = queue_effects(session, case, decision.spec, from_state, attempt.reason)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action=f"transition.{name}",
        case=case,
        from_state=from_state,
        to_state=case.state,
        data={
            "transition": name,
            "version": case.version,
            "reason": attempt.reason,
            "overridden": list(decision.overridden),
            "emails": [{"id": m.id, "to": m.recipient, "kind": m.kind} for m in messages],
        },
    )
    return case


def transition_options(
    session: Session, case: Case, actor: Actor, now: datetime | None = None
) -> list[Decision]:
    """What `actor` may do with `case` now, and what is refused with the reasons (API and pages share it)."""
    attempt = Attempt(actor=actor, now=now or utcnow())
    return WORKFLOW.options(CaseSubject(session, case), attempt)
