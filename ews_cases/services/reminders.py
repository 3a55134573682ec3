"""Deadline reminders (SPEC §5): each (cohort, recipient, offset) at most once, ever, and only on its day.

A reminder for offset `d` is due on the day `deadline − d` (Europe/Berlin) from 08:00 until midnight. A scan
that runs later — after a missed day — sends nothing for the missed offset: the next one goes out on its
own day. Uniqueness rests on the `reminders_sent` constraint, so concurrent scans, retried tasks and two
beat processes cannot send a reminder twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.i18n.formatting import long_date
from ews_cases.links import public_link, unsubscribe_link
from ews_cases.mail.letters import LetterForm, greetings, letter_form
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Case, Cohort, Contact, Municipality, ReminderSent, User, utcnow
from ews_cases.services.invitations import Invitee, reminder_invitations, valid_until
from workflows import BERLIN, Actor, State

SEND_FROM = time(8, 0)
CHUNK = 1000


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    name: str
    municipality_ags: str
    municipality_name: str
    unsubscribe_token: str
    has_draft: bool
    #: A contact's id (None for an applicant's account): a contact without an account gets an invitation.
    contact_id: int | None = None
    #: "Frau", "Herr" or empty: how the letter greets a named recipient.
    salutation: str = ""


@dataclass(slots=True)
class ScanReport:
    now: datetime
    queued: dict[int, int] = field(default_factory=dict)  # cohort number → reminders queued
    offsets: dict[int, int] = field(default_factory=dict)  # cohort number → offset due now

    @property
    def total(self) -> int:
        return sum(self.queued.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "queued": self.queued,
            "offsets": self.offsets,
            "total": self.total,
        }


def due_offset(cohort: Cohort, now: datetime) -> int | None:
    """The reminder offset whose day is today (from 08:00 Berlin), if the call is still open."""
    if not cohort.is_open(now):
        return None
    days_left = cohort.days_until_deadline(now)
    if days_left in cohort.reminder_days and now.astimezone(BERLIN).time() >= SEND_FROM:
        return days_left
    return None


def recipients(session: Session, cohort: Cohort) -> Iterator[Recipient]:
    """Contacts of eligible municipalities without a submitted application, and applicants with a draft."""
    cases: dict[str, str] = dict(
        session.execute(select(Case.municipality_ags, Case.state).where(Case.cohort_id == cohort.id)).all()
    )
    submitted = {ags for ags, state in cases.items() if state != State.DRAFT}
    drafts = {ags for ags, state in cases.items() if state == State.DRAFT}
    region = [Municipality.regierungsbezirk == cohort.region] if cohort.region else []
    contacts = session.execute(
        select(
            Contact.email,
            Contact.name,
            Contact.unsubscribe_token,
            Municipality.ags,
            Municipality.name,
            Contact.id,
            Contact.salutation,
        )
        .join(Municipality, Municipality.ags == Contact.municipality_ags)
        .where(Contact.opted_out_at.is_(None), *region)
        .order_by(Contact.id)
        .execution_options(yield_per=CHUNK)
    )
    for email, name, token, ags, town, contact_id, salutation in contacts:
        if ags not in submitted:
            yield Recipient(
                email.strip().lower(), name, ags, town, token, ags in drafts, contact_id, salutation
            )
    if drafts:
        applicants = session.execute(
            select(User.email, User.name, User.unsubscribe_token, Municipality.ags, Municipality.name)
            .join(Municipality, Municipality.ags == User.municipality_ags)
            .where(
                User.role == "applicant",
                User.active.is_(True),
                User.reminders_opted_out_at.is_(None),
                User.municipality_ags.in_(drafts),
            )
            .order_by(User.id)
        )
        for email, name, token, ags, town in applicants:
            yield Recipient(email.strip().lower(), name, ags, town, token, True)


class ReminderLetter:
    """The reminder of one cohort and offset (templates/mail/deadline_reminder.txt), rendered once per kind
    of reader and filled in per recipient (a campaign reaches every contact of every municipality:
    translating each sentence per message was most of the scan's time)."""

    def __init__(self, cohort: Cohort, offset: int, now: datetime) -> None:
        self.now = now
        self.data: dict[str, Any] = {
            "cohort": cohort.title,
            "deadline": long_date(cohort.application_deadline),
            "days": offset,
            "size": cohort.team_size,
            "form_url": public_link(f"/bewerbungen/neu?durchgang={cohort.number}"),
        }
        self.forms: dict[tuple[bool, bool], LetterForm] = {}
        self.greeting = greetings()

    def form(self, *, has_draft: bool, invited: bool = False) -> LetterForm:
        """The letter for contacts with or without a draft, with a personal invitation link (no account
        yet) or the form's link; rendered on first use, the greeting left open."""
        form = self.forms.get((has_draft, invited))
        if form is None:
            blanks = ["opening", "town", "unsubscribe_url"] + ["invitation_url"] * invited
            data = {**self.data, "until": long_date(valid_until(self.now))} if invited else self.data
            form = letter_form("deadline_reminder", blanks, has_draft=has_draft, **data)
            self.forms[has_draft, invited] = form
        return form

    def email(self, recipient: Recipient, dedup_key: str, invitation_url: str | None = None) -> Email:
        unsubscribe = unsubscribe_link(recipient.unsubscribe_token)
        blanks = {"invitation_url": invitation_url} if invitation_url else {}
        form = self.form(has_draft=recipient.has_draft, invited=bool(blanks))
        letter = form.fill(
            opening=self.greeting(recipient.name, recipient.salutation),
            town=recipient.municipality_name,
            unsubscribe_url=unsubscribe,
            **blanks,
        )
        return Email(
            dedup_key=dedup_key,
            kind="deadline_reminder",
            recipient=recipient.email,
            subject=letter.subject,
            body=letter.body,
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )


def _insert_ignoring_duplicates(session: Session) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(ReminderSent).on_conflict_do_nothing(
        index_elements=["cohort_id", "recipient", "offset_days"]
    )


@dataclass(slots=True)
class CohortReminders:
    """What one cohort's scan queued: reminders, and new invitations for contacts without an account."""

    queued: int = 0
    invitations: int = 0


def queue_cohort_reminders(
    session: Session, cohort: Cohort, offset: int, now: datetime | None = None
) -> CohortReminders:
    """Claim (cohort, recipient, offset) rows and queue one email for each claim that is new; a contact
    without an account gets a personal invitation link in it (one open invitation per contact and cohort)."""
    now = now or utcnow()
    done = CohortReminders()
    batch: dict[str, Recipient] = {}
    letter = ReminderLetter(cohort, offset, now)
    accounts = set(session.scalars(select(func.lower(User.email)).where(User.active.is_(True))))
    # Beat scans every few minutes all day: skipping known claims up front keeps a rerun cheap. The
    # unique constraint, not this set, is what guarantees "at most once" against concurrent scans.
    claimed_before = set(
        session.scalars(
            select(ReminderSent.recipient).where(
                ReminderSent.cohort_id == cohort.id, ReminderSent.offset_days == offset
            )
        )
    )

    def flush() -> int:
        rows = [
            {
                "cohort_id": cohort.id,
                "recipient": r.email,
                "offset_days": offset,
                "municipality_ags": r.municipality_ags,
                "outbox_key": _key(cohort, offset, r.email),
                "created_at": utcnow(),
            }
            for r in batch.values()
        ]
        claimed = set(
            session.scalars(_insert_ignoring_duplicates(session).returning(ReminderSent.recipient), rows)
        )
        reached = [r for email, r in batch.items() if email in claimed]  # in scan order: reproducible ids
        invitees = [
            Invitee(r.contact_id, r.email, r.name, r.municipality_ags)
            for r in reached
            if r.contact_id is not None and r.email not in accounts
        ]
        links, created = reminder_invitations(session, cohort.id, invitees, now)
        done.invitations += created
        emails = [
            letter.email(r, _key(cohort, offset, r.email), links.get(r.contact_id or 0)) for r in reached
        ]
        enqueue_emails(session, emails)
        batch.clear()
        return len(claimed)

    for recipient in recipients(session, cohort):
        if recipient.email in claimed_before:
            continue
        batch.setdefault(recipient.email, recipient)  # one person, one reminder, whatever their roles
        if len(batch) >= CHUNK:
            done.queued += flush()
    if batch:
        done.queued += flush()
    return done


def _key(cohort: Cohort, offset: int, email: str) -> str:
    return f"reminder:{cohort.number}:d{offset}:{email}"


def run_reminder_scan(
    session: Session, now: datetime | None = None, *, actor: Actor | None = None
) -> ScanReport:
    """One scan over all open cohorts at `now`; safe to run any number of times, concurrently too."""
    now = now or utcnow()
    actor = actor or Actor.system("scan_reminders")
    report = ScanReport(now=now)
    open_cohorts = session.scalars(
        select(Cohort)
        .where(
            Cohort.application_deadline >= (now.astimezone(BERLIN) - timedelta(days=1)).date(),
            or_(Cohort.applications_open_at.is_(None), and_(Cohort.applications_open_at <= now)),
        )
        .order_by(Cohort.number)
    ).all()
    for cohort in open_cohorts:
        offset = due_offset(cohort, now)
        if offset is None:
            continue
        report.offsets[cohort.number] = offset
        done = queue_cohort_reminders(session, cohort, offset, now)
        report.queued[cohort.number] = done.queued
        if done.queued:
            data = {"offset_days": offset, "count": done.queued, "scan_time": now}
            chain.append(
                session,
                actor=actor,
                action="reminders.queued",
                cohort_number=cohort.number,
                # New invitations (contacts without an account) are counted here, in the same event.
                data={**data, "invitations": done.invitations} if done.invitations else data,
            )
    return report
