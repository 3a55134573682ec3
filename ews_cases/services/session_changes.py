"""Move or cancel a cohort's session (coordinators; audited on the global chain) and tell its invitees.

Who received the session as a calendar invitation (the team members of every case that started: the welcome
letter and the session reminders) gets an update with the same UID and a higher SEQUENCE, or a cancellation;
the emails are queued in the same transaction as the change.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.formatting import de_time, long_date
from ews_cases.i18n.translate import N_, _
from ews_cases.mail.calendar import ics_attachment, kind_label
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Case, CohortSession, utcnow
from workflows import Actor, Role, State

#: The fields of a session a coordinator may change; each change is sent to the invitees.
CHANGEABLE = ("title", "starts_at", "ends_at", "location")
#: Cases whose team received the cohort's sessions (the welcome letter on `start`, the session reminders).
INVITED_STATES = (State.ATTENDING.value, State.PROJECT_DONE.value, State.CERTIFIED.value)


def _require_coordinator(actor: Actor) -> None:
    if actor.role not in (Role.COORDINATOR, Role.SYSTEM):
        raise Forbidden(N_("Nur die Programmleitung darf Termine ändern."))


def get_session(session: Session, cohort_number: int, session_id: int) -> CohortSession:
    """The session `session_id` of cohort `cohort_number` (NotFound otherwise)."""
    event = session.get(CohortSession, session_id)
    if event is None or event.cohort.number != cohort_number:
        raise NotFound(N_("Diesen Termin gibt es nicht."))
    return event


def change_session(session: Session, actor: Actor, event: CohortSession, **changes: Any) -> CohortSession:
    """Move a session (date, time, place, title); its invitees get an update. Unchanged values change nothing."""
    _require_coordinator(actor)
    unknown = set(changes) - set(CHANGEABLE)
    if unknown:
        raise ValidationFailed({name: [_("Unbekanntes Feld.")] for name in sorted(unknown)})
    if event.cancelled_at is not None:
        raise Conflict(N_("Dieser Termin wurde abgesagt und kann nicht mehr geändert werden."))
    values = {name: getattr(event, name) for name in CHANGEABLE}
    values.update({k: (v.strip() if isinstance(v, str) else v) for k, v in changes.items() if v is not None})
    errors: dict[str, list[str]] = {}
    if not values["title"]:
        errors["title"] = [_("Bitte einen Titel angeben.")]
    if not values["location"]:
        errors["location"] = [_("Bitte einen Ort angeben.")]
    if values["ends_at"] <= values["starts_at"]:
        errors["ends_at"] = [_("Das Ende muss nach dem Beginn liegen.")]
    if errors:
        raise ValidationFailed(errors)
    recorded = {
        name: {"old": getattr(event, name), "new": value}
        for name, value in values.items()
        if getattr(event, name) != value
    }
    if not recorded:
        return event
    for name, value in values.items():
        setattr(event, name, value)
    event.sequence += 1
    session.flush()
    emails = _notify(session, event, method="REQUEST")
    chain.append(
        session,
        actor=actor,
        action="session.updated",
        cohort_number=event.cohort.number,
        data={"session": event.id, "sequence": event.sequence, "changes": recorded, "emails": emails},
    )
    return event


def cancel_session(session: Session, actor: Actor, event: CohortSession, *, reason: str) -> CohortSession:
    """Call a session off; its invitees get a cancellation. Cancelling twice is refused."""
    _require_coordinator(actor)
    if event.cancelled_at is not None:
        raise Conflict(N_("Dieser Termin wurde bereits abgesagt."))
    if not reason.strip():
        raise ValidationFailed({"reason": [_("Bitte einen Grund angeben.")]})
    event.cancelled_at = utcnow()
    event.sequence += 1
    session.flush()
    emails = _notify(session, event, method="CANCEL", reason=reason.strip())
    chain.append(
        session,
        actor=actor,
        action="session.cancelled",
        cohort_number=event.cohort.number,
        data={
            "session": event.id,
            "title": event.title,
            "starts_at": event.starts_at,
            "sequence": event.sequence,
            "reason": reason.strip(),
            "emails": emails,
        },
    )
    return event


def _notify(session: Session, event: CohortSession, *, method: str, reason: str = "") -> int:
    """Queue the update or cancellation for every invitee; returns how many were queued."""
    cases = session.scalars(
        select(Case)
        .where(Case.cohort_id == event.cohort_id, Case.state.in_(INVITED_STATES))
        .order_by(Case.id)
    ).all()
    cohort = event.cohort
    attachment = ics_attachment([event], cohort.title, f"ews-termin-{event.id}.ics", method=method)
    data = {
        "title": event.title,
        "session_kind_label": kind_label(event.kind),
        "cohort": cohort.title,
        "date": long_date(event.starts_at, weekday=True),
        "time": de_time(event.starts_at),
        "place": event.location,
        "cancelled": method == "CANCEL",
        "reason": reason,
    }
    emails = []
    for case in cases:
        for member in case.team:
            if not member.email:
                continue
            letter = render_letter("session_changed", name=member.name, salutation=member.salutation, **data)
            emails.append(
                Email(
                    dedup_key=f"session:{event.id}:seq{event.sequence}:member:{member.id}",
                    kind="session_changed",
                    recipient=member.email,
                    subject=letter.subject,
                    body=letter.body,
                    case_id=case.id,
                    attachments=(attachment,),
                )
            )
    return len(enqueue_emails(session, emails))
