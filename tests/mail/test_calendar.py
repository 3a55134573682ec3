"""Calendar files: valid iCalendar (parsed with `icalendar`) with SEQUENCE, a useful DESCRIPTION and UTF-8 in
the MIME type; a moved session is sent again with the same UID and a higher SEQUENCE, a cancelled one as
METHOD:CANCEL, both to the team members of the cases that received the cohort's sessions."""

from __future__ import annotations

import base64
import email
from datetime import timedelta
from email import policy

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.mail.delivery import render_message
from ews_cases.models import AuditEvent, OutboxMessage
from ews_cases.services.session_changes import cancel_session, change_session
from ews_cases.services.session_reminders import run_session_reminders
from testkit.factories import FINNENTROP
from workflows import State

SENDER = "EWS Entwicklungswerkstatt <ews@example.org>"


def calendar_of(message: OutboxMessage) -> Calendar:
    (attachment,) = message.attachments
    return Calendar.from_ical(base64.b64decode(attachment["content_b64"]))


def only_event(calendar: Calendar):
    (event,) = calendar.walk("VEVENT")
    return event


def messages(session, kind: str) -> list[OutboxMessage]:
    return list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id))
    )


def events(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def world(session, factory):
    """A cohort with one workshop, an attending case (invited) and an admitted one (not invited yet)."""
    cohort = factory.cohort(title="7. Entwicklungswerkstatt")
    workshop = factory.workshop(cohort)
    attending = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    factory.case(cohort, "05966004", state=State.ADMITTED)
    session.commit()
    return cohort, workshop, attending


def test_the_welcome_calendar_parses_and_carries_sequence_description_and_utf8(session, world):
    _cohort, workshop, attending = world
    (welcome,) = [m for m in messages(session, "welcome_with_calendar") if m.case_id == attending.id][:1]
    calendar = calendar_of(welcome)
    assert str(calendar["method"]) == "PUBLISH"
    event = only_event(calendar)
    assert int(event["sequence"]) == 0
    assert str(event["uid"]).startswith(f"session-{workshop.id}@")
    description = str(event["description"])
    assert workshop.title in description
    assert "Ort: Köln" in description
    assert "http://ews.test/" in description
    assert str(event["status"]) == "CONFIRMED"
    # On the wire: text/calendar with charset=utf-8, and the umlaut survives the round trip.
    wire = email.message_from_bytes(render_message(welcome, SENDER).data, policy=policy.default)
    (part,) = [p for p in wire.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_content_charset() == "utf-8"
    assert part.get_param("method") == "PUBLISH"
    assert "Köln" in part.get_payload(decode=True).decode("utf-8")


def test_a_moved_session_sends_an_update_with_the_same_uid_and_a_higher_sequence(session, factory, world):
    _cohort, workshop, attending = world
    first = calendar_of(messages(session, "welcome_with_calendar")[0])
    uid, sequence = str(only_event(first)["uid"]), int(only_event(first)["sequence"])
    new_start = workshop.starts_at + timedelta(days=7)
    change_session(
        session,
        factory.coordinator(),
        workshop,
        starts_at=new_start,
        ends_at=new_start + timedelta(hours=6),
        location="Düsseldorf",
    )
    session.commit()
    updates = messages(session, "session_changed")
    assert sorted(m.recipient for m in updates) == sorted(m.email for m in attending.team)
    for update in updates:
        calendar = calendar_of(update)
        assert str(calendar["method"]) == "REQUEST"
        event = only_event(calendar)
        assert str(event["uid"]) == uid
        assert int(event["sequence"]) > sequence
        assert event.decoded("dtstart") == new_start
        assert str(event["location"]) == "Düsseldorf"
        assert "Düsseldorf" in update.body
        assert update.attachments[0]["content_type"] == "text/calendar; charset=utf-8; method=REQUEST"
    (audited,) = events(session, "session.updated")
    assert audited.data["changes"]["location"] == {"old": "Köln", "new": "Düsseldorf"}
    assert audited.data["sequence"] == 1
    # Moved again: the sequence rises again; the reminders of the moved session carry it too.
    change_session(session, factory.coordinator(), workshop, location="Münster")
    session.commit()
    assert {int(only_event(calendar_of(m))["sequence"]) for m in messages(session, "session_changed")} == {
        1,
        2,
    }
    run_session_reminders(session, new_start - timedelta(days=1) + timedelta(hours=2))
    session.commit()
    (reminder, *_) = messages(session, "session_reminder")
    assert int(only_event(calendar_of(reminder))["sequence"]) == 2


def test_an_unchanged_session_sends_nothing(session, factory, world):
    _cohort, workshop, _attending = world
    change_session(session, factory.coordinator(), workshop, location="Köln", title=workshop.title)
    session.commit()
    assert messages(session, "session_changed") == []
    assert events(session, "session.updated") == []
    assert workshop.sequence == 0


def test_a_cancelled_session_sends_a_cancellation_with_the_same_uid(session, factory, world):
    _cohort, workshop, attending = world
    uid = str(only_event(calendar_of(messages(session, "welcome_with_calendar")[0]))["uid"])
    cancel_session(session, factory.coordinator(), workshop, reason="Die Referentin ist erkrankt.")
    session.commit()
    cancellations = messages(session, "session_changed")
    assert len(cancellations) == len(attending.team)
    for cancellation in cancellations:
        calendar = calendar_of(cancellation)
        assert str(calendar["method"]) == "CANCEL"
        event = only_event(calendar)
        assert str(event["uid"]) == uid
        assert int(event["sequence"]) == 1
        assert str(event["status"]) == "CANCELLED"
        assert "Die Referentin ist erkrankt." in cancellation.body
        assert cancellation.subject.startswith("Abgesagt: ")
    assert len(events(session, "session.cancelled")) == 1
    # A cancelled session is final: no second cancellation, no change, no reminders.
    with pytest.raises(Conflict):
        cancel_session(session, factory.coordinator(), workshop, reason="Nochmal.")
    with pytest.raises(Conflict):
        change_session(session, factory.coordinator(), workshop, location="Bonn")
    session.rollback()
    assert run_session_reminders(session, workshop.starts_at - timedelta(days=1) + timedelta(hours=2)) == 0


def test_refusals_change_nothing(session, factory, world):
    _cohort, workshop, _attending = world
    with pytest.raises(ValidationFailed) as refused:
        change_session(
            session, factory.coordinator(), workshop, ends_at=workshop.starts_at - timedelta(hours=1)
        )
    assert "ends_at" in refused.value.errors
    with pytest.raises(ValidationFailed):
        cancel_session(session, factory.coordinator(), workshop, reason="  ")
    with pytest.raises(Forbidden):
        change_session(session, factory.actor("auditor"), workshop, location="Bonn")
    session.rollback()
    session.expire_all()
    assert workshop.sequence == 0
    assert workshop.cancelled_at is None
    count = select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("session.%"))
    assert session.scalar(count) == 1  # session.created only
