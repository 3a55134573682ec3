"""iCalendar files of a cohort's sessions (welcome email, session reminders)."""

from __future__ import annotations

import base64
from collections.abc import Iterable

from icalendar import Calendar, Event

from ews_cases.i18n.translate import N_, _
from ews_cases.mail.outbox import message_domain
from ews_cases.models import CohortSession, utcnow

KIND_LABELS = {
    "fachtagung": N_("Fachtagung"),
    "workshop": N_("Workshop"),
    "abschluss": N_("Abschlussveranstaltung"),
}


def sessions_ics(sessions: Iterable[CohortSession], cohort_title: str) -> bytes:
    """One VCALENDAR with a VEVENT per session; UIDs are stable so calendars update instead of duplicating."""
    calendar = Calendar()
    calendar.add("prodid", "-//EWS Cases//Entwicklungswerkstatt//DE")
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", cohort_title)
    stamp = utcnow()
    for session in sessions:
        event = Event()
        event.add("uid", f"session-{session.id}@{message_domain()}")
        event.add("dtstamp", stamp)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", f"{cohort_title}: {session.title}")
        event.add("location", session.location)
        event.add(
            "description", _(KIND_LABELS[session.kind]) if session.kind in KIND_LABELS else session.kind
        )
        calendar.add_component(event)
    return calendar.to_ical()


def ics_attachment(sessions: Iterable[CohortSession], cohort_title: str, filename: str) -> dict[str, str]:
    return {
        "filename": filename,
        "content_type": "text/calendar",
        "content_b64": base64.b64encode(sessions_ics(sessions, cohort_title)).decode("ascii"),
    }
