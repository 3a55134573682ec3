"""Apply a workflow transition to a case: the one code path that changes a case's state."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import Update, bindparam, update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.db.engine import TransactionNotes, show_stored
from ews_cases.models import Case
from ews_cases.models.base import utcnow
from ews_cases.services.effects import queue_effects
from ews_cases.services.facts import CaseSubject
from ews_cases.services.locking import lock_case
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

    Checks role, expected version, state and guards; then changes state, bumps the version, runs the handler
    of each effect (`services/effects.py`: letters to the outbox, certificates after the commit) and appends
    one audit event. Raises `TransitionRefused` (and changes nothing) otherwise.
    """
    now = now or utcnow()
    case = lock_case(session, case.id)
    subject = CaseSubject(session, case)
    attempt = Attempt(actor=actor, now=now, reason=reason.strip() if reason else None, override=override)
    early = WORKFLOW.decide(subject, name, attempt)
    if early.refusals and early.refusals[0].kind in (RefusalKind.UNKNOWN, RefusalKind.FORBIDDEN):
        raise TransitionRefused(name, early.refusals)
    if case.version != expected_version:
        raise TransitionRefused(name, (_stale(case.version, expected_version),))
    from_state = case.state
    decision: Decision = WORKFLOW.fire(subject, name, attempt)
    if not _store(session, case, subject.state, expected_version, now):
        raise TransitionRefused(name, (_stale(None, expected_version),))
    messages = queue_effects(session, case, decision.spec, from_state, attempt.reason)
    chain.append(
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


_CASES = Case.__table__


@cache
def _store_statement() -> Update:
    """Built once: the one statement that writes a case's state (see `_store`)."""
    return (
        update(_CASES)
        .where(_CASES.c.id == bindparam("case_id"), _CASES.c.version == bindparam("expected_version"))
        .values(
            state=bindparam("to_state"),
            version=bindparam("next_version"),
            updated_at=bindparam("now"),
            submitted_at=bindparam("submitted"),
        )
    )


def _store(session: Session, case: Case, to_state: str, expected_version: int, now: datetime) -> bool:
    """The one write of a case's state: an UPDATE guarded by the version, then the loaded case follows.

    A plain UPDATE, not an ORM flush: the unit of work was most of a transition's CPU (bench/README.md).
    The case row is locked, so the version cannot have moved since the check; the guard stays anyway
    (False: nothing was written).
    """
    submitted_at = now if to_state == State.SUBMITTED else case.submitted_at
    stored = session.connection().execute(
        _store_statement(),
        {
            "case_id": case.id,
            "expected_version": expected_version,
            "to_state": to_state,
            "next_version": expected_version + 1,
            "now": now,
            "submitted": submitted_at,
        },
    )
    if stored.rowcount != 1:
        return False
    show_stored(
        case,
        {"state": to_state, "version": expected_version + 1, "updated_at": now, "submitted_at": submitted_at},
    )
    _STORED.add(session, case)
    return True


def _expire(session: Session, case: Case) -> None:
    if case in session:
        session.expire(case)


#: Cases `_store` wrote. The session expires on rollback only the objects it flushed itself, so a rolled-back
#: savepoint expires these here (an outer rollback expires everything anyway).
_STORED = TransactionNotes("ews_stored_cases", undo=_expire)


def _stale(current: int | None, expected: int) -> Refusal:
    return Refusal(
        RefusalKind.STALE_VERSION,
        "stale_version",
        N_(
            "Die Bewerbung wurde inzwischen geändert (Version {current}, erwartet {expected}). Bitte laden Sie sie neu."
        ),
        {"current": current if current is not None else "?", "expected": expected},
    )


def transition_options(
    session: Session, case: Case, actor: Actor, now: datetime | None = None
) -> list[Decision]:
    """What `actor` may do with `case` now, and what is refused with the reasons (API and pages share it)."""
    attempt = Attempt(actor=actor, now=now or utcnow())
    return WORKFLOW.options(CaseSubject(session, case), attempt)
