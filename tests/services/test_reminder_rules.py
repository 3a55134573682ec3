"""Deadline reminder rules (SPEC §5), against the database only: which offset is due when, who receives
a reminder, opting out, and that a scan queues each (cohort, recipient, offset) at most once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit.queries import resolved_data
from ews_cases.errors import NotFound
from ews_cases.i18n.formatting import long_date
from ews_cases.models import AuditEvent, Cohort, Contact, OutboxMessage, ReminderSent, User
from ews_cases.services.contacts import add_contact
from ews_cases.services.reminders import due_offset, recipients, run_reminder_scan
from ews_cases.services.subscriptions import unsubscribe
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, SYSTEM, Factory
from workflows import BERLIN, State


def at(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """A moment on `day` in Berlin time."""
    return datetime.combine(day, time(hour, minute), BERLIN)


def deadline_cohort(factory: Factory, **values) -> Cohort:
    """A cohort whose call is open and closes in 30 days."""
    return factory.cohort(application_deadline=factory.now.date() + timedelta(days=30), **values)


def emails(session: Session, cohort: Cohort) -> dict[str, bool]:
    """Recipient address → whether the reminder is about a draft."""
    return {r.email: r.has_draft for r in recipients(session, cohort)}


def reminders_sent(session: Session) -> list[tuple[str, int]]:
    rows = session.execute(select(ReminderSent.recipient, ReminderSent.offset_days)).all()
    return sorted((r, d) for r, d in rows)


def reminder_messages(session: Session) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind == "deadline_reminder").order_by(OutboxMessage.id)
    return list(session.scalars(query))


def audit_actions(session: Session, action: str) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))
    )


# -- due_offset -----------------------------------------------------------------------------------------


def test_a_reminder_is_due_only_on_its_day_from_eight_in_berlin(factory):
    cohort = deadline_cohort(factory)
    deadline = cohort.application_deadline
    assert due_offset(cohort, at(deadline - timedelta(days=14))) == 14
    assert due_offset(cohort, at(deadline - timedelta(days=7), 8, 0)) == 7
    assert due_offset(cohort, at(deadline - timedelta(days=7), 23, 59)) == 7
    assert due_offset(cohort, at(deadline - timedelta(days=7), 7, 59)) is None
    assert due_offset(cohort, at(deadline - timedelta(days=3))) == 3
    assert due_offset(cohort, at(deadline - timedelta(days=1))) == 1
    for days in (13, 8, 6, 5, 4, 2, 0):
        assert due_offset(cohort, at(deadline - timedelta(days=days))) is None, days


def test_the_day_and_the_hour_follow_berlin_whatever_the_offset_of_now(factory):
    cohort = deadline_cohort(factory)
    day = cohort.application_deadline - timedelta(days=7)
    assert due_offset(cohort, at(day, 8, 0).astimezone(UTC)) == 7
    assert due_offset(cohort, at(day, 7, 59).astimezone(UTC)) is None
    assert due_offset(cohort, at(day, 23, 30).astimezone(UTC)) == 7  # in UTC still the same day
    assert due_offset(cohort, at(day - timedelta(days=1), 23, 59).astimezone(UTC)) is None


def test_no_reminder_before_the_call_opens_or_after_the_deadline(factory):
    deadline = factory.now.date() + timedelta(days=30)
    not_yet_open = factory.cohort(
        application_deadline=deadline, applications_open_at=at(deadline - timedelta(days=3), 12)
    )
    assert due_offset(not_yet_open, at(deadline - timedelta(days=7))) is None
    assert due_offset(not_yet_open, at(deadline - timedelta(days=3), 11, 59)) is None
    assert due_offset(not_yet_open, at(deadline - timedelta(days=3), 12)) == 3
    assert due_offset(not_yet_open, at(deadline - timedelta(days=1))) == 1
    assert due_offset(not_yet_open, at(deadline, 23, 59)) is None
    assert due_offset(not_yet_open, at(deadline + timedelta(days=1))) is None
    assert due_offset(not_yet_open, at(deadline + timedelta(days=7))) is None


def test_the_cohort_reminder_days_are_used(factory):
    cohort = deadline_cohort(factory, reminder_days=[10, 2])
    deadline = cohort.application_deadline
    assert due_offset(cohort, at(deadline - timedelta(days=10))) == 10
    assert due_offset(cohort, at(deadline - timedelta(days=7))) is None
    assert due_offset(cohort, at(deadline - timedelta(days=2))) == 2


# -- recipients -----------------------------------------------------------------------------------------


def test_recipients_are_contacts_without_a_submitted_application_and_applicants_with_a_draft(
    session, factory
):
    cohort = deadline_cohort(factory)
    add_contact(session, SYSTEM, FINNENTROP, "Anna Entwurf", "Anna@Finnentrop.example")  # draft below
    add_contact(session, SYSTEM, ATTENDORN, "Bernd Eingereicht", "bernd@attendorn.example")  # submitted
    add_contact(session, SYSTEM, DUESSELDORF, "Carla Offen", "carla@duesseldorf.example")  # nothing yet
    factory.case(cohort, FINNENTROP, state=State.DRAFT)
    factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    drafting = factory.user("applicant", FINNENTROP)
    factory.user("applicant", ATTENDORN)  # submitted: no reminder
    factory.user("applicant", DUESSELDORF)  # no draft: the contact is reminded, not every user
    session.commit()

    assert emails(session, cohort) == {
        "anna@finnentrop.example": True,
        "carla@duesseldorf.example": False,
        drafting.email: True,
    }


def test_an_application_in_another_cohort_does_not_count(session, factory):
    cohort = deadline_cohort(factory)
    other = deadline_cohort(factory)
    add_contact(session, SYSTEM, FINNENTROP, "Anna", "anna@finnentrop.example")
    factory.case(other, FINNENTROP, state=State.SUBMITTED)
    assert emails(session, cohort) == {"anna@finnentrop.example": False}
    assert emails(session, other) == {}


def test_municipalities_outside_the_cohort_region_get_none(session, factory):
    cohort = deadline_cohort(factory, region="Arnsberg")
    add_contact(session, SYSTEM, FINNENTROP, "Anna", "anna@finnentrop.example")  # Arnsberg
    add_contact(session, SYSTEM, DUESSELDORF, "Carla", "carla@duesseldorf.example")  # Düsseldorf
    add_contact(session, SYSTEM, BONN, "Dora", "dora@bonn.example")  # Köln
    assert emails(session, cohort) == {"anna@finnentrop.example": False}

    deadline = cohort.application_deadline
    report = run_reminder_scan(session, at(deadline - timedelta(days=7)))
    assert report.queued == {cohort.number: 1}
    assert [m.recipient for m in reminder_messages(session)] == ["anna@finnentrop.example"]


def test_opted_out_contacts_and_applicants_get_none(session, factory):
    cohort = deadline_cohort(factory)
    anna = add_contact(session, SYSTEM, FINNENTROP, "Anna", "anna@finnentrop.example")
    add_contact(session, SYSTEM, FINNENTROP, "Ben", "ben@finnentrop.example")
    factory.case(cohort, FINNENTROP, state=State.DRAFT)
    applicant = factory.user("applicant", FINNENTROP)
    inactive = factory.user("applicant", FINNENTROP)
    inactive.active = False
    session.flush()
    assert set(emails(session, cohort)) == {anna.email, "ben@finnentrop.example", applicant.email}

    unsubscribe(session, anna.unsubscribe_token)
    unsubscribe(session, applicant.unsubscribe_token)
    assert set(emails(session, cohort)) == {"ben@finnentrop.example"}


def test_one_person_gets_one_reminder_whatever_their_roles(session, factory):
    cohort = deadline_cohort(factory)
    factory.case(cohort, FINNENTROP, state=State.DRAFT)
    applicant = factory.user("applicant", FINNENTROP)
    add_contact(session, SYSTEM, FINNENTROP, "Same Person", applicant.email.upper())
    add_contact(session, SYSTEM, ATTENDORN, "Same Person", applicant.email)  # contact of two towns

    report = run_reminder_scan(session, at(cohort.application_deadline - timedelta(days=14)))
    assert report.total == 1
    assert [m.recipient for m in reminder_messages(session)] == [applicant.email]


# -- run_reminder_scan ----------------------------------------------------------------------------------


def test_a_scan_queues_each_reminder_once_with_unsubscribe_link_and_german_text(session, factory):
    cohort = deadline_cohort(factory, title="7. Entwicklungswerkstatt")
    contact = add_contact(session, SYSTEM, DUESSELDORF, "Carla Offen", "carla@duesseldorf.example")
    factory.case(cohort, FINNENTROP, state=State.DRAFT)
    applicant = factory.user("applicant", FINNENTROP)
    session.commit()
    deadline = cohort.application_deadline
    now = at(deadline - timedelta(days=7))

    report = run_reminder_scan(session, now)
    assert (report.queued, report.offsets, report.total) == ({cohort.number: 2}, {cohort.number: 7}, 2)
    assert run_reminder_scan(session, now).total == 0
    assert run_reminder_scan(session, now + timedelta(hours=5)).total == 0
    assert reminders_sent(session) == [(applicant.email, 7), (contact.email, 7)]

    by_recipient = {m.recipient: m for m in reminder_messages(session)}
    assert set(by_recipient) == {contact.email, applicant.email}
    mail = by_recipient[contact.email]
    unsubscribe_url = f"http://ews.test/unsubscribe/{contact.unsubscribe_token}"
    assert mail.headers.get("List-Unsubscribe") == f"<{unsubscribe_url}>"
    assert mail.headers.get("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert unsubscribe_url in mail.body
    assert "Guten Tag Carla Offen," in mail.body
    assert "Die Bewerbungsfrist endet in 7 Tagen" in mail.body
    assert f"am {long_date(deadline)}, um 23:59 Uhr" in mail.body
    assert mail.subject == f"Die Bewerbungsfrist für die {cohort.title} endet am {long_date(deadline)}"
    assert "Düsseldorf" in mail.body
    assert f"http://ews.test/unsubscribe/{applicant.unsubscribe_token}" in by_recipient[applicant.email].body
    assert "Entwurf" in by_recipient[applicant.email].body

    [event] = audit_actions(session, "reminders.queued")
    assert event.actor == "system:scan_reminders"
    assert event.cohort_number == cohort.number
    assert (event.data["offset_days"], event.data["count"]) == (7, 2)


def test_after_a_missed_day_only_the_next_reminder_goes_out_on_its_own_day(session, factory):
    cohort = deadline_cohort(factory)
    contact = add_contact(session, SYSTEM, DUESSELDORF, "Carla", "carla@duesseldorf.example")
    deadline = cohort.application_deadline

    assert run_reminder_scan(session, at(deadline - timedelta(days=5))).total == 0  # day 7 was missed
    assert run_reminder_scan(session, at(deadline - timedelta(days=4), 23, 59)).total == 0
    assert run_reminder_scan(session, at(deadline - timedelta(days=3), 7, 59)).total == 0
    report = run_reminder_scan(session, at(deadline - timedelta(days=3), 8, 0))
    assert (report.total, report.offsets) == (1, {cohort.number: 3})
    assert reminders_sent(session) == [(contact.email, 3)]
    [message] = reminder_messages(session)
    assert "in 3 Tagen" in message.body
    assert "7 Tagen" not in message.body


def test_no_reminder_after_the_deadline(session, factory):
    cohort = deadline_cohort(factory)
    add_contact(session, SYSTEM, DUESSELDORF, "Carla", "carla@duesseldorf.example")
    deadline = cohort.application_deadline
    for moment in (at(deadline, 23, 59), at(deadline + timedelta(days=1)), at(deadline + timedelta(days=7))):
        assert run_reminder_scan(session, moment).total == 0
    assert reminders_sent(session) == []


def test_a_call_closed_early_sends_no_more_reminders(session, factory):
    cohort = deadline_cohort(factory)
    add_contact(session, SYSTEM, DUESSELDORF, "Carla", "carla@duesseldorf.example")
    now = at(cohort.application_deadline - timedelta(days=7))
    cohort.application_deadline = now.date() - timedelta(days=1)  # the coordinator closed the call
    session.flush()
    assert run_reminder_scan(session, now).total == 0


def test_each_offset_is_a_reminder_of_its_own(session, factory):
    cohort = deadline_cohort(factory)
    contact = add_contact(session, SYSTEM, DUESSELDORF, "Carla", "carla@duesseldorf.example")
    deadline = cohort.application_deadline
    for days in (14, 7, 7, 3, 1, 1):
        run_reminder_scan(session, at(deadline - timedelta(days=days), 10))
    assert reminders_sent(session) == [(contact.email, d) for d in sorted((14, 7, 3, 1))]
    assert len(reminder_messages(session)) == 4


def test_a_submission_stops_the_following_reminders(session, factory):
    cohort = deadline_cohort(factory)
    add_contact(session, SYSTEM, FINNENTROP, "Anna", "anna@finnentrop.example")
    deadline = cohort.application_deadline
    assert run_reminder_scan(session, at(deadline - timedelta(days=14))).total == 1
    factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    assert run_reminder_scan(session, at(deadline - timedelta(days=7))).total == 0


# -- unsubscribe ----------------------------------------------------------------------------------------


def test_unsubscribing_a_contact_is_audited_once(session, factory):
    contact = add_contact(session, SYSTEM, FINNENTROP, "Anna", "anna@finnentrop.example")
    assert unsubscribe(session, contact.unsubscribe_token).email == contact.email
    opted_out_at = contact.opted_out_at
    assert opted_out_at is not None
    assert unsubscribe(session, contact.unsubscribe_token).email == contact.email
    assert session.get(Contact, contact.id).opted_out_at == opted_out_at
    [event] = audit_actions(session, "contact.opted_out")
    assert event.actor == "system:unsubscribe"
    assert resolved_data(session, event.data) == {
        "contact": contact.id,
        "municipality": FINNENTROP,
        "email": contact.email,
    }


def test_unsubscribing_an_applicant_is_audited_once(session, factory):
    applicant = factory.user("applicant", FINNENTROP)
    assert unsubscribe(session, applicant.unsubscribe_token).email == applicant.email
    assert unsubscribe(session, applicant.unsubscribe_token).email == applicant.email
    assert session.get(User, applicant.id).reminders_opted_out_at is not None
    [event] = audit_actions(session, "user.opted_out")
    assert resolved_data(session, event.data) == {"user": applicant.id, "email": applicant.email}


@pytest.mark.parametrize("token", ["", "nope", "x" * 200])
def test_an_unknown_token_unsubscribes_nobody(session, factory, token):
    add_contact(session, SYSTEM, FINNENTROP, "Anna", "anna@finnentrop.example")
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    with pytest.raises(NotFound):
        unsubscribe(session, token)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert session.scalar(select(func.count()).where(Contact.opted_out_at.is_not(None))) == 0
