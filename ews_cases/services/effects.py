"""What each workflow effect does: `HANDLERS`, one handler per `Effect` (workflows/definition.py).

A handler queues a letter (its text: templates/mail/<effect>.txt) to the outbox or schedules work for after
the commit; nothing is sent from here. `apply_transition` runs the handlers of a transition's effects.

A letter is rendered for each reader: greeted by name (formally with a known salutation), and with a link
into the application only for a reader who has an account there; a reader without one is told instead who
in their municipality can act (the municipality's applicant accounts).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.db.after_commit import after_commit
from ews_cases.i18n.formatting import de_number, de_time, long_date
from ews_cases.i18n.translate import N_, _
from ews_cases.links import public_link, verification_link
from ews_cases.mail.calendar import ics_attachment
from ews_cases.mail.letters import Letter, render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Case, Certificate, CohortSession, User
from ews_cases.services.admission import RANKING_RULE, next_on_waitlist
from ews_cases.settings import current_settings
from workflows import Effect, State, TransitionSpec


@dataclass(frozen=True, slots=True)
class QueuedEmail:
    """An email just written to the outbox, as the transition's audit event records it."""

    id: int
    recipient: str
    kind: str


@dataclass(frozen=True, slots=True)
class Occasion:
    """One effect of one transition of one case: what its handler works from."""

    session: Session
    case: Case
    effect: Effect
    transition: TransitionSpec
    from_state: str
    reason: str | None

    @property
    def stamp(self) -> str:
        """The start of the outbox keys: the same transition of the same case version queues nothing twice."""
        return f"case:{self.case.id}:v{self.case.version}:{self.transition.name}"


@dataclass(frozen=True, slots=True)
class Reader:
    """One recipient of a letter: the address, how the letter greets them, whether they can log in."""

    address: str
    name: str = ""
    salutation: str = ""
    #: An active account with this address: only then does the letter link into the application.
    has_account: bool = False


Handler = Callable[[Occasion], list[QueuedEmail]]
Readers = Callable[[Occasion], list[Reader]]


# -- recipients ---------------------------------------------------------------------------------------------
def applicant_readers(session: Session, case: Case, *, with_team: bool = True) -> list[Reader]:
    """Contact person and (optionally) team members, each address once (the first role it appears in
    names it), in a stable order; each marked with whether it belongs to an active account."""
    people = [(case.contact_email, case.contact_name, case.contact_salutation)]
    if with_team:
        people += [(m.email, m.name, m.salutation) for m in case.team]
    seen: dict[str, tuple[str, str]] = {}
    for address, name, salutation in people:
        if address and address.strip():
            seen.setdefault(address.strip().lower(), ((name or "").strip(), salutation or ""))
    accounts = _accounts(session, list(seen))
    return [Reader(a, name, salutation, a in accounts) for a, (name, salutation) in seen.items()]


def applicant_recipients(session: Session, case: Case, *, with_team: bool = True) -> list[str]:
    """The addresses of `applicant_readers`."""
    return [reader.address for reader in applicant_readers(session, case, with_team=with_team)]


def coordinator_readers(session: Session) -> list[Reader]:
    rows = session.execute(
        select(User.email, User.name)
        .where(User.role == "coordinator", User.active.is_(True))
        .order_by(User.id)
    )
    return [Reader(email, name, "", True) for email, name in rows]


def coordinator_recipients(session: Session) -> list[str]:
    return [reader.address for reader in coordinator_readers(session)]


def account_holders(session: Session, case: Case) -> list[str]:
    """Who in the case's municipality can act on it in the application: its active applicant accounts, as
    "Name (address)", in a stable order."""
    rows = session.execute(
        select(User.name, User.email)
        .where(
            User.role == "applicant", User.active.is_(True), User.municipality_ags == case.municipality_ags
        )
        .order_by(User.id)
    )
    return [f"{name} ({email})" if name else email for name, email in rows]


def _accounts(session: Session, addresses: list[str]) -> set[str]:
    """Which of `addresses` (lower case) belong to an active account."""
    if not addresses:
        return set()
    found = session.scalars(select(User.email).where(User.active.is_(True), User.email.in_(addresses)))
    return {address.strip().lower() for address in found}


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives a letter: the readers for the outbox, and how the pages name them beforehand."""

    label: str
    readers: Readers
    #: The case's own people are listed by address; the office's staff only by `label` (their addresses are
    #: nothing an applicant confirming a withdrawal needs to read).
    show_addresses: bool = True

    def __call__(self, occasion: Occasion) -> list[str]:
        """The addresses."""
        return [reader.address for reader in self.readers(occasion)]


def _case_people(occasion: Occasion) -> list[Reader]:
    return applicant_readers(occasion.session, occasion.case)


def _contact(occasion: Occasion) -> list[Reader]:
    return applicant_readers(occasion.session, occasion.case, with_team=False)


def _office(occasion: Occasion) -> list[Reader]:
    return coordinator_readers(occasion.session)


#: The case's contact person and team.
applicants = Audience(N_("Ansprechperson und Entwicklungsteam"), _case_people)
contact_person = Audience(N_("Ansprechperson"), _contact)
#: The programme office: every active coordinator.
coordinators = Audience(N_("Programmbüro"), _office, show_addresses=False)


# -- handlers -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlannedLetter:
    """A letter a transition would queue: its kind and subject, and to whom (for a confirmation page)."""

    kind: str
    subject: str
    audience: Audience
    recipients: list[str]


@dataclass(frozen=True, slots=True)
class LetterTo:
    """A handler that queues the effect's letter about the case to `audience` (if `only_if` holds)."""

    audience: Audience
    only_if: Callable[[Occasion], bool] | None = None
    attach: Callable[[Occasion], list[dict[str, Any]]] | None = None
    #: Values the letter needs besides those of every case letter (`_case_letter`).
    values: Callable[[Occasion], dict[str, Any]] | None = None

    def applies(self, occasion: Occasion) -> bool:
        return self.only_if is None or self.only_if(occasion)

    def letters(self, occasion: Occasion) -> list[tuple[Reader, Letter]]:
        """The letter for each reader of the audience (none if `only_if` does not hold)."""
        if not self.applies(occasion):
            return []
        readers = self.audience.readers(occasion)
        if not readers:
            return []
        values = self.values(occasion) if self.values is not None else {}
        holders = (
            account_holders(occasion.session, occasion.case)
            if not all(r.has_account for r in readers)
            else []
        )
        return [(reader, _case_letter(occasion, reader, holders, **values)) for reader in readers]

    def __call__(self, occasion: Occasion) -> list[QueuedEmail]:
        letters = self.letters(occasion)
        attachments = self.attach(occasion) if letters and self.attach is not None else []
        kind = occasion.effect.value
        queued = [
            _queue(
                occasion.session,
                dedup_key=f"{occasion.stamp}:{kind}:{reader.address}",
                kind=kind,
                recipient=reader.address,
                letter=letter,
                case=occasion.case,
                attachments=attachments,
            )
            for reader, letter in letters
        ]
        return [q for q in queued if q is not None]

    def plan(self, occasion: Occasion) -> PlannedLetter | None:
        """The letter this handler would queue now, without queuing it (None: it would queue none)."""
        letters = self.letters(occasion)
        if not letters:
            return None
        subject = letters[0][1].subject  # the same for every reader
        return PlannedLetter(occasion.effect.value, subject, self.audience, [r.address for r, _ in letters])


def withdrawn_after_admission(occasion: Occasion) -> bool:
    return occasion.from_state == State.ADMITTED


def proposed_for_free_place(occasion: Occasion) -> dict[str, Any]:
    """The waitlisted case the free place goes to by the admission rule, for the letter to name it."""
    cohort = occasion.case.cohort
    proposed = next_on_waitlist(occasion.session, cohort)
    return {
        "rule": _(RANKING_RULE),
        "next_ref": proposed.case.reference if proposed else "",
        "next_town": proposed.case.municipality.name if proposed else "",
        "next_score": de_number(proposed.score) if proposed else "",
        "dashboard_link": public_link(f"/programm?durchgang={cohort.number}"),
    }


def fachtagung(occasion: Occasion) -> dict[str, Any]:
    """The cohort's Fachtagung (its first session of that kind), for the admission letter to name: its
    title, day, time and place; `fachtagung` is None while none is planned."""
    event = occasion.session.scalars(
        select(CohortSession)
        .where(CohortSession.cohort_id == occasion.case.cohort_id, CohortSession.kind == "fachtagung")
        .order_by(CohortSession.starts_at, CohortSession.id)
        .limit(1)
    ).first()
    if event is None:
        return {"fachtagung": None}
    return {
        "fachtagung": {
            "title": event.title,
            "date": long_date(event.starts_at, weekday=True),
            "time": de_time(event.starts_at),
            "place": event.location,
        }
    }


def revision_deadline(occasion: Occasion) -> dict[str, Any]:
    """By when the revised application must be submitted again: the cohort's application deadline."""
    return {"deadline": long_date(occasion.case.cohort.application_deadline)}


def cohort_calendar(occasion: Occasion) -> list[dict[str, Any]]:
    """The cohort's sessions (those not cancelled) as an iCalendar file."""
    cohort = occasion.case.cohort
    held = [s for s in cohort.sessions if s.cancelled_at is None]
    return [ics_attachment(held, cohort.title, f"ews{cohort.number}-termine.ics")]


def issue_certificates_after_commit(occasion: Occasion) -> list[QueuedEmail]:
    """Certificates are made by a task (the PDFs take time), started once the transition is committed."""
    after_commit(occasion.session, "certificates", case_id=occasion.case.id)
    return []


def certificates_to_holders(occasion: Occasion) -> list[QueuedEmail]:
    """One email per certificate holder, with their own PDF attached."""
    session, case = occasion.session, occasion.case
    certificates = session.scalars(
        select(Certificate)
        .where(
            Certificate.case_id == case.id,
            Certificate.revoked_at.is_(None),
            Certificate.released_at.is_not(None),
        )
        .order_by(Certificate.id)
    ).all()
    members = {m.id: m for m in case.team}
    queued = []
    for certificate in certificates:
        member = members.get(certificate.member_id)
        if member is None or not member.email or not certificate.pdf_path:
            continue
        letter = render_letter(
            occasion.effect.value,
            name=member.name,
            salutation=member.salutation,
            cohort=case.cohort.title,
            serial=certificate.serial,
            url=verification_link(certificate.verification_code),
        )
        queued.append(
            _queue(
                session,
                dedup_key=f"{occasion.stamp}:certificate:{certificate.serial}",
                kind=occasion.effect.value,
                recipient=member.email,
                letter=letter,
                case=case,
                attachments=[
                    {
                        "filename": f"Zertifikat-{certificate.serial}.pdf",
                        "content_type": "application/pdf",
                        "path": certificate.pdf_path,
                    }
                ],
            )
        )
    return [q for q in queued if q is not None]


#: What each effect does (workflows/definition.py lists them per transition; queue_effects runs them in that order).
HANDLERS: Mapping[Effect, Handler] = MappingProxyType(
    {
        Effect.CONFIRM_SUBMISSION: LetterTo(applicants),
        Effect.EXPLAIN_REVISION: LetterTo(applicants, values=revision_deadline),
        Effect.NOTIFY_COORDINATORS_REVIEWED: LetterTo(coordinators),
        Effect.ANNOUNCE_ADMISSION: LetterTo(applicants, values=fachtagung),
        Effect.ANNOUNCE_WAITLIST: LetterTo(contact_person),
        Effect.EXPLAIN_REJECTION: LetterTo(applicants),
        Effect.CONFIRM_WITHDRAWAL: LetterTo(contact_person),
        Effect.ANNOUNCE_FREE_PLACE: LetterTo(
            coordinators, only_if=withdrawn_after_admission, values=proposed_for_free_place
        ),
        Effect.WELCOME_WITH_CALENDAR: LetterTo(applicants, attach=cohort_calendar),
        Effect.EXPLAIN_DROP_OUT: LetterTo(applicants),
        Effect.QUEUE_CERTIFICATES: issue_certificates_after_commit,
        Effect.SEND_CERTIFICATES: certificates_to_holders,
    }
)


def queue_effects(
    session: Session, case: Case, spec: TransitionSpec, from_state: str, reason: str | None
) -> list[QueuedEmail]:
    """Run the handler of each of `spec`'s effects, in order; keys make a repeated call a no-op.

    In the programme's language (`EWS_DEFAULT_LOCALE`), not in the language of the page or API client that
    caused them: they go to the municipalities and the programme office.
    """
    queued: list[QueuedEmail] = []
    with force_locale(current_settings().default_locale):
        for effect in spec.effects:
            queued += HANDLERS[effect](Occasion(session, case, effect, spec, from_state, reason))
    return queued


def planned_letters(session: Session, case: Case, spec: TransitionSpec) -> list[PlannedLetter]:
    """The letters firing `spec` on `case` now would queue, to whom, without queuing anything: what a
    confirmation page announces (the same handlers and recipients as `queue_effects`)."""
    planned: list[PlannedLetter] = []
    with force_locale(current_settings().default_locale):
        for effect in spec.effects:
            handler = HANDLERS[effect]
            if isinstance(handler, LetterTo):
                letter = handler.plan(Occasion(session, case, effect, spec, case.state, None))
                if letter is not None:
                    planned.append(letter)
    return planned


# -- helpers ------------------------------------------------------------------------------------------------
def _case_letter(occasion: Occasion, reader: Reader, holders: list[str], **values: Any) -> Letter:
    """The effect's letter about the case (templates/mail/<effect>.txt) for `reader`, with the `values` it
    needs besides: the case's page for a reader with an account, else who in the municipality has one."""
    case = occasion.case
    access: dict[str, Any] = (
        {"case_link": public_link(f"/faelle/{case.id}")}
        if reader.has_account
        else {"account_holders": holders, "access_link": public_link("/zugang/beantragen")}
    )
    return render_letter(
        occasion.effect.value,
        name=reader.name,
        salutation=reader.salutation,
        ref=case.reference,
        town=case.municipality.name,
        cohort=case.cohort.title,
        reason=occasion.reason or "",
        **access,
        **values,
    )


def _queue(
    session: Session,
    *,
    dedup_key: str,
    kind: str,
    recipient: str,
    letter: Letter,
    case: Case,
    attachments: Sequence[dict[str, Any]] = (),
) -> QueuedEmail | None:
    """Queue one email (None if its key was queued before); the row is not read back, to save a query."""
    email = Email(dedup_key, kind, recipient, letter.subject, letter.body, case.id, tuple(attachments))
    ids = enqueue_emails(session, [email])
    return QueuedEmail(ids[0], recipient, kind) if ids else None
