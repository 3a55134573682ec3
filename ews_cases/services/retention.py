"""Retention rules in one place (docs/privacy.md §4): what is kept how long after what, and erasing what is due.

`rules()` lists the categories with their period (from the settings, defaults in `Settings`) and trigger;
`apply_retention` erases everything due at `now`, idempotently: a case is erased once (its erasure mark is
read under the case's row lock, so a second beat running at the same time waits and then finds it done),
and every erasure appends one event. Cases under legal hold are skipped. Login throttling data has no rows
here: its Redis counters expire by themselves after `login_failure_window_minutes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.models import Case, Cohort, Contact, OutboxMessage, User, utcnow
from ews_cases.services.privacy import ERASED_ADDRESS_PREFIX, erase_account, erase_case, erase_contact
from ews_cases.settings import current_settings
from workflows import Actor

RETENTION_ACTOR = Actor.system("apply_retention")
UNSUCCESSFUL = "retention.unsuccessful_case"
PARTICIPATING = "retention.participating_case"
EMAIL_BODY = "retention.email_body"
OPTED_OUT_CONTACT = "retention.opted_out_contact"
INACTIVE_ACCOUNT = "retention.inactive_account"
#: Decided against, or never submitted: kept for objections, then erased.
DECIDED_STATES = ("rejected", "withdrawn")
#: Submitted but never admitted: erased after the cohort they applied to has ended.
UNADMITTED_STATES = ("submitted", "reviewed", "waitlisted")
PARTICIPATING_STATES = ("admitted", "attending", "dropped_out", "project_done", "certified")


@dataclass(frozen=True, slots=True)
class Rule:
    category: str
    period: str
    trigger: str


def rules() -> list[Rule]:
    """The retention rules with the periods now in force (shown in docs/privacy.md and `ews retention run`)."""
    s = current_settings()
    return [
        Rule(
            UNSUCCESSFUL,
            f"{s.retention_unsuccessful_case_months} months",
            "rejected/withdrawn: the decision; draft: the application deadline; submitted/reviewed/waitlisted: "
            "the cohort's end",
        ),
        Rule(PARTICIPATING, f"{s.retention_participating_case_years} years", "the end of the cohort"),
        Rule(
            EMAIL_BODY, f"{s.retention_email_body_days} days", "delivery of the email (body and attachments)"
        ),
        Rule(OPTED_OUT_CONTACT, "none", "the opt-out (a keyed hash of the address stays)"),
        Rule(
            INACTIVE_ACCOUNT, f"{s.retention_inactive_account_months} months", "deactivation of the account"
        ),
        Rule(
            "login_throttling", f"{s.login_failure_window_minutes} minutes", "the failed login (Redis expiry)"
        ),
    ]


@dataclass(slots=True)
class RetentionReport:
    now: datetime
    erased: dict[str, int] = field(default_factory=dict)
    held: int = 0

    @property
    def total(self) -> int:
        return sum(self.erased.values())

    def count(self, category: str, n: int = 1) -> None:
        self.erased[category] = self.erased.get(category, 0) + n


def _months_before(moment: datetime, months: int) -> datetime:
    return moment - timedelta(days=round(months * 30.44))


def _months(months: int) -> timedelta:
    return timedelta(days=round(months * 30.44))


def _years(years: int) -> timedelta:
    return timedelta(days=round(years * 365.25))


@dataclass(frozen=True, slots=True)
class Required:
    """A retention rule that still requires a case's personal data (against an erasure request): its
    category and the day it ends (None: the cohort has not ended yet, so the day is not known)."""

    category: str
    until: date | None


def required_until(case: Case, now: datetime) -> Required | None:
    """Whether a retention rule still requires the case's personal data at `now` (Art. 17(3) DSGVO):
    participating cases for the funding audits (the participating period after the cohort's end), rejected
    cases for objections and legal claims (the unsuccessful period after the decision). Other cases
    (withdrawn, drafts, applications not decided) are kept only for the applicant, so a request erases them.
    The days are the ones `due_cases` erases on."""
    s = current_settings()
    if case.state in PARTICIPATING_STATES:
        ends_on = case.cohort.ends_on
        if ends_on is None:
            return Required(PARTICIPATING, None)
        until = ends_on + _years(s.retention_participating_case_years)
        return Required(PARTICIPATING, until) if until > now.date() else None
    if case.state == "rejected":
        until_moment = case.updated_at + _months(s.retention_unsuccessful_case_months)
        return Required(UNSUCCESSFUL, until_moment.date()) if until_moment > now else None
    return None


def due_cases(session: Session, now: datetime) -> list[tuple[int, str]]:
    """(case id, category) of every case whose retention period has ended at `now` and that is not erased."""
    s = current_settings()
    unsuccessful = _months_before(now, s.retention_unsuccessful_case_months)
    participating = now - timedelta(days=round(s.retention_participating_case_years * 365.25))
    cut_unsuccessful, cut_participating = unsuccessful.date(), participating.date()
    base = (
        select(Case.id, Case.state, Case.updated_at, Cohort.application_deadline, Cohort.ends_on)
        .join(Cohort, Cohort.id == Case.cohort_id)
        .where(Case.personal_data_erased_at.is_(None))
        .order_by(Case.id)
    )
    due: list[tuple[int, str]] = []
    for case_id, state, updated_at, deadline, ends_on in session.execute(base):
        ended = ends_on is not None
        if state in PARTICIPATING_STATES:
            if ended and ends_on < cut_participating:
                due.append((case_id, PARTICIPATING))
            continue
        decided = state in DECIDED_STATES and updated_at < unsuccessful
        never_submitted = state == "draft" and deadline < cut_unsuccessful
        not_admitted = state in UNADMITTED_STATES and ended and ends_on < cut_unsuccessful
        if decided or never_submitted or not_admitted:
            due.append((case_id, UNSUCCESSFUL))
    return due


def apply_retention(session: Session, now: datetime | None = None) -> RetentionReport:
    """Erase everything whose retention period has ended at `now` (default: now); safe to run twice or on
    two beats at once."""
    now = now or utcnow()
    report = RetentionReport(now)
    for case_id, category in due_cases(session, now):
        case = session.get(Case, case_id)
        if case is None:
            continue
        if case.legal_hold_at is not None:
            report.held += 1
            continue
        if erase_case(session, case, RETENTION_ACTOR, category=category, now=now) is not None:
            report.count(category)
    _email_bodies(session, now, report)
    _opted_out_contacts(session, now, report)
    _inactive_accounts(session, now, report)
    return report


def _email_bodies(session: Session, now: datetime, report: RetentionReport) -> None:
    cutoff = now - timedelta(days=current_settings().retention_email_body_days)
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "sent", OutboxMessage.sent_at < cutoff, OutboxMessage.body != "")
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return
    session.execute(
        update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(body="", attachments=[], headers={})
    )
    chain.append(
        session,
        actor=RETENTION_ACTOR,
        action="privacy.erased",
        data={"category": EMAIL_BODY, "subject": "emails", "values": len(ids), "outbox": ids[:1000]},
    )
    report.count(EMAIL_BODY, len(ids))


def _opted_out_contacts(session: Session, now: datetime, report: RetentionReport) -> None:
    stmt = (
        select(Contact)
        .where(Contact.opted_out_at.is_not(None), ~Contact.email.startswith(ERASED_ADDRESS_PREFIX))
        .with_for_update(skip_locked=True, of=Contact)
    )
    for contact in list(session.scalars(stmt)):
        erase_contact(session, contact, RETENTION_ACTOR, category=OPTED_OUT_CONTACT, now=now)
        report.count(OPTED_OUT_CONTACT)


def _inactive_accounts(session: Session, now: datetime, report: RetentionReport) -> None:
    cutoff = _months_before(now, current_settings().retention_inactive_account_months)
    stmt = (
        select(User)
        .where(
            User.active.is_(False),
            or_(User.sessions_ended_at.is_(None), User.sessions_ended_at < cutoff),
            User.created_at < cutoff,
            ~User.email.startswith(ERASED_ADDRESS_PREFIX),
        )
        .with_for_update(skip_locked=True, of=User)
    )
    for user in list(session.scalars(stmt)):
        erase_account(session, user, RETENTION_ACTOR, category=INACTIVE_ACCOUNT, now=now)
        report.count(INACTIVE_ACCOUNT)
