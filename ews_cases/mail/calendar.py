"""iCalendar files of a cohort's sessions (welcome email, session reminders, moved and cancelled sessions).

Every event keeps its UID for life and carries the session's SEQUENCE, so a calendar that received the
invitation replaces it when an update (METHOD:REQUEST, higher SEQUENCE) or a cancellation (METHOD:CANCEL,
STATUS:CANCELLED) arrives, instead of showing the session twice.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from email.utils import parseaddr

from icalendar import Calendar, Event, vCalAddress, vText

from ews_cases.i18n.translate import N_, _
from ews_cases.links import public_link
from ews_cases.mail.outbox import message_domain
from ews_cases.models import CohortSession, utcnow
from ews_cases.settings import current_settings

KIND_LABELS = {
    "fachtagung": N_("Fachtagung"),
    "workshop": N_("Workshop"),
    "abschluss": N_("Abschlussveranstaltung"),
}

#: PUBLISH: the cohort's programme (welcome letter, reminders); REQUEST: a changed session replaces the one
#: in the calendar; CANCEL: the session is called off.
METHODS = ("PUBLISH", "REQUEST", "CANCEL")


def session_uid(session: CohortSession) -> str:
    return f"session-{session.id}@{message_domain()}"


def kind_label(kind: str) -> str:
    return _(KIND_LABELS[kind]) if kind in KIND_LABELS else kind


def _description(session: CohortSession, cohort_title: str) -> str:
    lines = [
        _(
            "{kind} „{title}“ der {cohort}",
            kind=kind_label(session.kind),
            title=session.title,
            cohort=cohort_title,
        ),
        _("Ort: {place}", place=session.location),
    ]
    if session.cancelled_at is not None:
        lines.append(_("Dieser Termin wurde abgesagt."))
    lines.append(_("Programm und Termine: {link}", link=public_link("/")))
    return "\n".join(lines)


def _organizer() -> vCalAddress:
    name, address = parseaddr(current_settings().mail_sender)
    organizer = vCalAddress(f"mailto:{address}")
    if name:
        organizer.params["cn"] = vText(name)
    return organizer


def sessions_ics(sessions: Iterable[CohortSession], cohort_title: str, *, method: str = "PUBLISH") -> bytes:
    """One VCALENDAR with a VEVENT per session; UIDs are stable so calendars update instead of duplicating."""
    if method not in METHODS:
        raise ValueError(f"unknown iCalendar method {method!r}")
    calendar = Calendar()
    calendar.add("prodid", "-//EWS Cases//Entwicklungswerkstatt//DE")
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add("x-wr-calname", cohort_title)
    stamp = utcnow()
    for session in sessions:
        event = Event()
        event.add("uid", session_uid(session))
        event.add("dtstamp", stamp)
        event.add("sequence", session.sequence or 0)
        event.add("dtstart", session.starts_at)
        event.add("dtend", session.ends_at)
        event.add("summary", f"{cohort_title}: {session.title}")
        event.add("location", session.location)
        event.add("description", _description(session, cohort_title))
        event.add("status", "CANCELLED" if session.cancelled_at is not None else "CONFIRMED")
        event.add("organizer", _organizer())
        calendar.add_component(event)
    return calendar.to_ical()


def ics_attachment(
    sessions: Iterable[CohortSession], cohort_title: str, filename: str, *, method: str = "PUBLISH"
) -> dict[str, str]:
    return {
        "filename": filename,
        "content_type": f"text/calendar; charset=utf-8; method={method}",
        "content_b64": base64.b64encode(sessions_ics(sessions, cohort_title, method=method)).decode("ascii"),
    }
