"""Reminders 7 days and 1 day before each session to the team members of attending cases."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.i18n.formatting import de_time, long_date
from ews_cases.mail.calendar import KIND_LABELS, ics_attachment
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Case, CohortSession, TeamMember, utcnow
from workflows import BERLIN, State

OFFSETS = (7, 1)
SEND_FROM = time(8, 0)


def run_session_reminders(session: Session, now: datetime | None = None) -> int:
    """Queue the reminders due today (from 08:00 Berlin); dedup keys make reruns send nothing twice."""
    now = now or utcnow()
    local = now.astimezone(BERLIN)
    if local.time() < SEND_FROM:
        return 0
    emails: list[Email] = []
    for offset in OFFSETS:
        day = local.date() + timedelta(days=offset)
        start = datetime.combine(day, time.min, BERLIN)
        events = session.scalars(
            select(CohortSession).where(
                CohortSession.starts_at >= start,
                CohortSession.starts_at < start + timedelta(days=1),
                CohortSession.cancelled_at.is_(None),
            )
        ).all()
        for event in events:
            cases = session.scalars(
                select(Case).where(Case.cohort_id == event.cohort_id, Case.state == State.ATTENDING.value)
            ).all()
            for case in cases:
                for member in case.team:
                    if member.email:
                        emails.append(_reminder(event, case, member, offset))
    return len(enqueue_emails(session, emails))


def _reminder(event: CohortSession, case: Case, member: TeamMember, offset: int) -> Email:
    letter = render_letter(
        "session_reminder",
        name=member.name,
        salutation=member.salutation,
        title=event.title,
        session_kind=event.kind,
        session_kind_label=KIND_LABELS.get(event.kind),
        cohort=case.cohort.title,
        date=long_date(event.starts_at, weekday=True),
        time=de_time(event.starts_at),
        place=event.location,
        days=offset,
    )
    return Email(
        dedup_key=f"session:{event.id}:d{offset}:member:{member.id}",
        kind="session_reminder",
        recipient=member.email,
        subject=letter.subject,
        body=letter.body,
        case_id=case.id,
        attachments=(ics_attachment([event], case.cohort.title, f"ews-termin-{event.id}.ics"),),
    )
