"""Erasure of personal data (Art. 17 DSGVO, retention) and legal holds; see docs/privacy.md.

Erasing a case deletes every personal value recorded for it (`personal_values`: value and salt to NULL, so
the audit trail's commitments stay and still verify) and blanks the live rows that hold the same people:
the case's contact, its team, answers, review comments, the practice project's texts, the case's emails
(recipient, subject, body, attachments) and its certificates' holder names and PDFs (serial and PDF hash stay).
What is left is the anonymised skeleton statistics need: municipality, cohort, states with their dates,
scores, counts. Each erasure appends one `privacy.erased` event (category, subject, how many values; no
values). A case under legal hold is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.formatting import de_date
from ews_cases.i18n.translate import N_, _
from ews_cases.models import (
    Case,
    Certificate,
    Contact,
    OutboxMessage,
    PersonalValue,
    PracticeProject,
    ReminderSent,
    Review,
    TeamMember,
    User,
    utcnow,
)
from ews_cases.services.certificates import pdf_file
from ews_cases.services.locking import lock_case
from ews_cases.settings import current_settings
from workflows import Actor, Role

REQUEST = "request"
ERASED_ADDRESS_PREFIX = "sha256:"
MAX_REASON = 500


def address_fingerprint(address: str) -> str:
    """A keyed hash of an address (HMAC-SHA256 with the secret key): what stays of an erased address where
    "this address already had its reminder" or "this address opted out" must still hold."""
    key = (current_settings().secret_key or "").encode("utf-8")
    digest = hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return ERASED_ADDRESS_PREFIX + digest


@dataclass(slots=True)
class Erasure:
    """What one erasure did (for the command line and the audit event)."""

    category: str
    cases: list[int] = field(default_factory=list)
    values: int = 0
    rows: int = 0
    #: For an erasure request: what was erased and what was kept, and why.
    plan: ErasurePlan | None = None


def _check_reason(reason: str | None) -> str | None:
    reason = (reason or "").strip() or None
    if reason is not None and len(reason) > MAX_REASON:
        raise ValidationFailed({"reason": [_("Höchstens {n} Zeichen.", n=MAX_REASON)]})
    return reason


def _erase_values(
    session: Session, condition: object, category: str, reason: str | None, now: datetime
) -> int:
    table = PersonalValue.__table__
    result = session.execute(
        update(table)
        .where(condition, table.c.value.is_not(None))  # type: ignore[arg-type]
        .values(value=None, salt=None, erased_at=now, erasure_category=category, erasure_reason=reason)
    )
    return int(result.rowcount or 0)


def erase_case(
    session: Session,
    case: Case,
    actor: Actor,
    *,
    category: str = REQUEST,
    reason: str | None = None,
    now: datetime | None = None,
) -> Erasure | None:
    """Erase the personal data of one case (None: it was erased before; nothing happens twice)."""
    _require_office(actor)
    reason = _check_reason(reason)
    now = now or utcnow()
    case = lock_case(session, case.id)
    if case.legal_hold_at is not None:
        raise Conflict(
            N_(
                "Die Bewerbung {reference} unterliegt einer Aufbewahrungssperre ({reason}); "
                "sie wird nicht gelöscht."
            ),
            reference=case.reference,
            reason=case.legal_hold_reason or "",
        )
    if case.personal_data_erased_at is not None:
        return None
    erasure = Erasure(category, cases=[case.id])
    members = [m.id for m in case.team]
    addresses = {a.lower() for a in [case.contact_email, *(m.email for m in case.team)] if a}
    values = PersonalValue.__table__.c
    erasure.values = _erase_values(
        session,
        or_(
            values.case_id == case.id,
            (values.subject_kind == "case_contact") & (values.subject_id == case.id),
            (values.subject_kind == "team_member") & values.subject_id.in_(members or [-1]),
        ),
        category,
        reason,
        now,
    )
    erasure.rows = _blank_case_rows(session, case, addresses)
    case.personal_data_erased_at, case.personal_data_erasure_category = now, category
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="privacy.erased",
        case=case,
        data={"category": category, "subject": "case", "values": erasure.values, "reason": reason},
    )
    return erasure


def _blank_case_rows(session: Session, case: Case, addresses: set[str]) -> int:
    """Blank the live rows of a case that name people; returns how many rows changed."""
    case.contact_salutation = case.contact_name = case.contact_email = case.contact_phone = ""
    case.motivation = case.starting_point = case.goals = case.leadership_support = ""
    rows = 1
    for member in case.team:
        member.salutation = member.name = member.email = member.position = ""
        rows += 1
    rows += _blank(session, update(Review).where(Review.case_id == case.id).values(comment=""))
    rows += _blank(
        session,
        update(PracticeProject)
        .where(PracticeProject.case_id == case.id)
        .values(title="", summary="", report="", return_reason=None),
    )
    rows += _blank_outbox(session, OutboxMessage.case_id == case.id)
    rows += _blank_certificates(session, select(Certificate).where(Certificate.case_id == case.id))
    rows += _fingerprint_reminders(session, addresses)
    return rows


def _blank(session: Session, statement: object) -> int:
    return int(session.execute(statement).rowcount or 0)  # type: ignore[call-overload]


def _blank_outbox(session: Session, condition: object) -> int:
    return _blank(
        session,
        update(OutboxMessage)
        .where(condition)  # type: ignore[arg-type]
        .values(recipient="", subject="", body="", attachments=[], headers={}, last_error=None),
    )


def _blank_certificates(session: Session, stmt: object) -> int:
    count = 0
    for certificate in session.scalars(stmt):  # type: ignore[call-overload]
        with contextlib.suppress(NotFound):  # no PDF stored yet
            pdf_file(certificate).unlink(missing_ok=True)
        certificate.holder_name, certificate.pdf_path, certificate.revoked_reason = "", None, None
        count += 1
    return count


def _fingerprint_reminders(session: Session, addresses: set[str]) -> int:
    """Reminders already sent to an erased address keep their once-only rule through its fingerprint."""
    count = 0
    if not addresses:
        return 0
    for sent in session.scalars(
        select(ReminderSent).where(func.lower(ReminderSent.recipient).in_(addresses))
    ):
        sent.recipient = address_fingerprint(sent.recipient)
        count += 1
    return count


LEGAL_HOLD = "legal_hold"


@dataclass(frozen=True, slots=True)
class Kept:
    """Data about the person in one case that an erasure request does not erase, and why: a retention rule
    (`category`, until `until`; None while the cohort has not ended) or the case's legal hold."""

    reference: str
    roles: tuple[str, ...]
    category: str
    until: date | None
    hold_reason: str | None = None

    def sentence(self) -> str:
        from ews_cases.services.retention import PARTICIPATING

        what = _(
            "{reference} ({roles}, E-Mails und Zertifikate dazu)",
            reference=self.reference,
            roles=", ".join(_(ROLE_WORDS[r]) for r in self.roles),
        )
        if self.category == LEGAL_HOLD:
            return _(
                "{what}: Aufbewahrungssperre ({reason}), bis sie aufgehoben wird.",
                what=what,
                reason=self.hold_reason or "",
            )
        settings = current_settings()
        if self.category == PARTICIPATING:
            why = _(
                "Aufbewahrung für Prüfungen der Fördermittel ({years} Jahre nach Ende des Durchgangs)",
                years=settings.retention_participating_case_years,
            )
        else:
            why = _(
                "Aufbewahrung für Widerspruch und Rechtsansprüche ({months} Monate nach der Ablehnung)",
                months=settings.retention_unsuccessful_case_months,
            )
        if self.until is None:
            return _("{what}: {why}; der Durchgang ist noch nicht beendet.", what=what, why=why)
        return _("{what}: {why}, bis {day}.", what=what, why=why, day=de_date(self.until))


ROLE_WORDS = {"team": N_("Teammitglied"), "contact": N_("Kontaktperson")}


@dataclass(slots=True)
class ErasurePlan:
    """What an erasure request for one address erases and what it keeps (with the reason): computed once by
    `erasure_plan`, shown by the office page before the confirmation and by `ews privacy erase`, and carried
    out by `erase_person`."""

    address: str
    members: list[TeamMember]
    contact_cases: list[Case]
    contacts: list[Contact]
    users: list[User]
    kept: list[Kept]
    kept_case_ids: set[int]
    values: int
    emails: int

    @property
    def nothing_held(self) -> bool:
        return not (self.members or self.contact_cases or self.contacts or self.users or self.kept) and not (
            self.values or self.emails
        )

    def erased_lines(self) -> list[str]:
        """What is erased, in German, one line per kind of data."""
        lines = [
            _(
                "Teammitglied in {reference}: Anrede, Name, E-Mail-Adresse, Funktion und die Namen auf "
                "den Zertifikaten (PDF gelöscht, Nummer bleibt)",
                reference=m.case.reference,
            )
            for m in self.members
        ]
        lines += [
            _("Kontaktperson in {reference}: Anrede, Name, E-Mail-Adresse, Telefon", reference=c.reference)
            for c in self.contact_cases
        ]
        if self.contacts:
            lines.append(
                _(
                    "Erinnerungskontakt: Anrede und Name; statt der Adresse bleibt ein Schlüssel-Hash, damit "
                    "eine Abmeldung weiter gilt"
                )
            )
        if self.users:
            lines.append(
                _("Benutzerkonto: Name, E-Mail-Adresse, Passwort und zweiter Faktor; das Konto wird gesperrt")
            )
        if self.emails:
            lines.append(_("E-Mails an diese Adresse: {n} (Empfänger, Betreff, Inhalt)", n=self.emails))
        if self.values:
            lines.append(
                _(
                    "Im Prüfprotokoll festgehaltene Angaben: {n} Werte (die Prüfkette bleibt prüfbar)",
                    n=self.values,
                )
            )
        return lines

    def kept_lines(self) -> list[str]:
        return [k.sentence() for k in self.kept]


def _normalised(address: str) -> str:
    address = (address or "").strip().lower()
    if "@" not in address:
        raise ValidationFailed({"email": [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]})
    return address


def erasure_plan(session: Session, address: str, now: datetime | None = None) -> ErasurePlan:
    """What an erasure request (Art. 17) for `address` would erase now and what a retention rule or a legal
    hold still requires (Art. 17(3)); changes nothing."""
    from ews_cases.services.retention import required_until

    now = now or utcnow()
    address = _normalised(address)
    members = list(
        session.scalars(
            select(TeamMember).where(func.lower(TeamMember.email) == address).order_by(TeamMember.id)
        )
    )
    contact_cases = list(
        session.scalars(select(Case).where(func.lower(Case.contact_email) == address).order_by(Case.id))
    )
    roles: dict[int, list[str]] = {}
    cases: dict[int, Case] = {}
    for member in members:
        roles.setdefault(member.case_id, []).append("team")
        cases[member.case_id] = member.case
    for case in contact_cases:
        roles.setdefault(case.id, []).append("contact")
        cases[case.id] = case
    kept: list[Kept] = []
    for case_id in sorted(roles):
        case = cases[case_id]
        if case.legal_hold_at is not None:
            kept.append(Kept(case.reference, tuple(roles[case_id]), LEGAL_HOLD, None, case.legal_hold_reason))
        elif (required := required_until(case, now)) is not None:
            kept.append(Kept(case.reference, tuple(roles[case_id]), required.category, required.until))
    kept_ids = {cid for cid, case in cases.items() if case.reference in {k.reference for k in kept}}
    members = [m for m in members if m.case_id not in kept_ids]
    contact_cases = [c for c in contact_cases if c.id not in kept_ids]
    contacts = list(session.scalars(select(Contact).where(func.lower(Contact.email) == address)))
    users = list(session.scalars(select(User).where(func.lower(User.email) == address)))
    plan = ErasurePlan(address, members, contact_cases, contacts, users, kept, kept_ids, 0, 0)
    values = PersonalValue.__table__.c
    plan.values = int(
        session.scalar(
            select(func.count()).where(_person_values(plan), values.value.is_not(None))  # type: ignore[arg-type]
        )
        or 0
    )
    plan.emails = int(
        session.scalar(select(func.count()).select_from(OutboxMessage).where(_person_emails(plan))) or 0
    )
    return plan


def _person_values(plan: ErasurePlan) -> object:
    values = PersonalValue.__table__.c
    outside_kept = values.case_id.is_(None) | values.case_id.not_in(sorted(plan.kept_case_ids) or [-1])
    return or_(
        (values.subject_kind == "team_member") & values.subject_id.in_([m.id for m in plan.members] or [-1]),
        (values.subject_kind == "case_contact")
        & values.subject_id.in_([c.id for c in plan.contact_cases] or [-1]),
        (values.subject_kind == "contact") & values.subject_id.in_([c.id for c in plan.contacts] or [-1]),
        (values.subject_kind == "user") & values.subject_id.in_([u.id for u in plan.users] or [-1]),
        (func.lower(values.value) == json.dumps(plan.address, ensure_ascii=False)) & outside_kept,
    )


def _person_emails(plan: ErasurePlan) -> object:
    outside_kept = OutboxMessage.case_id.is_(None) | OutboxMessage.case_id.not_in(
        sorted(plan.kept_case_ids) or [-1]
    )
    return (func.lower(OutboxMessage.recipient) == plan.address) & outside_kept


def erase_person(
    session: Session, address: str, actor: Actor, *, reason: str | None = None, now: datetime | None = None
) -> Erasure:
    """Carry out an erasure request (Art. 17) for one email address as `erasure_plan` computes it: the team
    memberships and case contacts with that address, its reminder contacts (a fingerprint stays, so an
    opt-out holds), its account, its emails and every recorded value about it, except in cases a retention
    rule or a legal hold still requires (`Erasure.plan.kept` says which and why). One `privacy.erased`
    event names the erased and the kept cases (no values)."""
    _require_office(actor)
    reason = _check_reason(reason)
    now = now or utcnow()
    plan = erasure_plan(session, address, now)
    erasure = Erasure(REQUEST, plan=plan)
    erasure.values = _erase_values(session, _person_values(plan), REQUEST, reason, now)
    for member in plan.members:
        member.salutation = member.name = member.email = member.position = ""
        erasure.cases.append(member.case_id)
        erasure.rows += 1 + _blank_certificates(
            session, select(Certificate).where(Certificate.member_id == member.id)
        )
    for case in plan.contact_cases:
        case.contact_salutation = case.contact_name = case.contact_email = case.contact_phone = ""
        erasure.cases.append(case.id)
        erasure.rows += 1
    for contact in plan.contacts:
        contact.salutation, contact.name, contact.email = "", "", address_fingerprint(plan.address)
        erasure.rows += 1
    for user in plan.users:
        _anonymise_user(user, now)
        erasure.rows += 1
    erasure.rows += _blank_outbox(session, _person_emails(plan))
    erasure.rows += _fingerprint_reminders(session, {plan.address})
    session.flush()
    erasure.cases = sorted(set(erasure.cases))
    chain.append(
        session,
        actor=actor,
        action="privacy.erased",
        data={
            "category": REQUEST,
            "subject": "person",
            "cases": erasure.cases,
            "kept": [
                {
                    "case": k.reference,
                    "category": k.category,
                    "until": k.until.isoformat() if k.until else None,
                }
                for k in plan.kept
            ],
            "values": erasure.values,
            "reason": reason,
        },
    )
    return erasure


def erase_contact(session: Session, contact: Contact, actor: Actor, *, category: str, now: datetime) -> None:
    """Delete a reminder contact's person: name gone, address replaced by its keyed hash (an opt-out still
    holds: `contacts` compares new addresses with it), recorded values erased; one event."""
    values = PersonalValue.__table__.c
    condition = (values.subject_kind == "contact") & (values.subject_id == contact.id)
    erased = _erase_values(session, condition, category, None, now)
    contact.salutation, contact.name, contact.email = "", "", address_fingerprint(contact.email)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="privacy.erased",
        data={"category": category, "subject": "contact", "contact": contact.id, "values": erased},
    )


def erase_account(session: Session, user: User, actor: Actor, *, category: str, now: datetime) -> None:
    """Anonymise an account (closed long ago): name and address gone, no password or second factor; its
    recorded values erased; one event. The id stays, so `user:<id>` in the trail still points somewhere."""
    values = PersonalValue.__table__.c
    condition = (values.subject_kind == "user") & (values.subject_id == user.id)
    erased = _erase_values(session, condition, category, None, now)
    _anonymise_user(user, now)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="privacy.erased",
        data={"category": category, "subject": "user", "user": user.id, "values": erased},
    )


def _anonymise_user(user: User, now: datetime) -> None:
    user.name, user.email = "", f"{address_fingerprint(user.email)}.invalid"
    user.active, user.password_hash, user.totp_secret, user.sessions_ended_at = False, None, None, now


def set_legal_hold(session: Session, case: Case, actor: Actor, reason: str) -> Case:
    """Stop every erasure of the case until the hold is lifted (programme office, with a reason)."""
    if actor.role not in (Role.COORDINATOR, Role.SYSTEM):
        raise Forbidden(N_("Nur die Programmleitung darf eine Aufbewahrungssperre setzen."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_("Bitte begründen Sie die Aufbewahrungssperre.")]})
    _check_reason(reason)
    case = lock_case(session, case.id)
    if case.legal_hold_at is not None:
        raise Conflict(
            N_("Für {reference} besteht bereits eine Aufbewahrungssperre."), reference=case.reference
        )
    case.legal_hold_at, case.legal_hold_reason = utcnow(), reason
    session.flush()
    chain.append(session, actor=actor, action="case.legal_hold_set", case=case, data={"reason": reason})
    return case


def lift_legal_hold(session: Session, case: Case, actor: Actor, reason: str) -> Case:
    if actor.role not in (Role.COORDINATOR, Role.SYSTEM):
        raise Forbidden(N_("Nur die Programmleitung darf eine Aufbewahrungssperre aufheben."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_("Bitte begründen Sie die Aufhebung.")]})
    _check_reason(reason)
    case = lock_case(session, case.id)
    if case.legal_hold_at is None:
        raise Conflict(N_("Für {reference} besteht keine Aufbewahrungssperre."), reference=case.reference)
    case.legal_hold_at, case.legal_hold_reason = None, None
    session.flush()
    chain.append(session, actor=actor, action="case.legal_hold_lifted", case=case, data={"reason": reason})
    return case


def _require_office(actor: Actor) -> None:
    if actor.role not in (Role.COORDINATOR, Role.SYSTEM):
        raise Forbidden(N_("Nur die Programmleitung darf personenbezogene Daten löschen."))


def find_case(session: Session, reference: str) -> Case:
    case = session.scalar(select(Case).where(Case.reference == reference.strip().upper()))
    if case is None:
        raise NotFound(N_("Eine Bewerbung {reference} gibt es nicht."), reference=reference)
    return case
