"""Prepare, release and store certificates; idempotent, and releasing ends with the `certify` transition.

Corrections: `revoke_certificate`, and `replace_certificate` (revoke and issue anew in one go).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.db.engine import Database
from ews_cases.documents.certificate_pdf import CertificateText, render_certificate
from ews_cases.documents.seal import seal_pdf
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.links import verification_link
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Case, Certificate, Cohort, PracticeProject, TeamMember, utcnow
from ews_cases.services.eligibility import eligible_members
from ews_cases.services.locking import lock_case
from ews_cases.services.transitions import apply_transition
from ews_cases.settings import current_settings
from workflows import BERLIN, Actor, Role, State

#: Who prepares and releases certificates (the tasks, and the office's early release on its behalf).
ISSUER = Actor.system("issue_certificates")
#: The letter carrying a corrected certificate (templates/mail/replace_certificate.txt).
REPLACEMENT_LETTER = "replace_certificate"


def new_verification_code() -> str:
    """128 random bits, URL-safe (SPEC §3 asks for at least 64)."""
    return secrets.token_urlsafe(16)


def _next_serial(session: Session, cohort: Cohort, year: int) -> str:
    prefix = f"EWS{cohort.number}-{year}-"
    count = session.scalar(select(func.count()).where(Certificate.serial.like(f"{prefix}%"))) or 0
    return f"{prefix}{count + 1:03d}"


def release_due(cohort: Cohort, now: datetime) -> bool:
    """Whether the cohort's certificates are released: no ceremony date, the ceremony day (Europe/Berlin) has
    come, or the office released them early."""
    if cohort.certificates_released_at is not None or cohort.ceremony_on is None:
        return True
    return cohort.ceremony_on <= now.astimezone(BERLIN).date()


def issue_missing_certificates(
    session: Session, case: Case, actor: Actor, now: datetime | None = None
) -> list[Certificate]:
    """Prepare a certificate (serial, sealed PDF, SHA-256) for every eligible member who has none yet, and
    release them when the cohort's release is due; rerunning prepares and releases nothing twice.

    When every eligible member holds a released certificate, the case moves to `certified` (system actor),
    whose effect emails the PDFs. Before the ceremony day the certificates wait, prepared, and the case
    stays in `project_done`.
    """
    now = now or utcnow()
    case = lock_case(session, case.id)
    if case.state != State.PROJECT_DONE:
        return []
    due = release_due(case.cohort, now)
    holders = set(session.scalars(select(Certificate.member_id).where(Certificate.case_id == case.id)))
    issued = []
    for member in eligible_members(session, case):
        if member.id in holders:
            continue
        if not issued:
            session.execute(select(Cohort.id).where(Cohort.id == case.cohort_id).with_for_update())  # serials
        certificate = new_certificate(session, case, member.id, member.name, now, released=due)
        chain.append(
            session,
            actor=actor,
            action="certificate.issued" if due else "certificate.prepared",
            case=case,
            data={"serial": certificate.serial, "member": member.id, "holder": member.name},
        )
        issued.append(certificate)
    if due:
        _release_prepared(session, case, actor, now)
        apply_transition(session, case, "certify", actor, case.version, now=now)
    return issued


def new_certificate(
    session: Session, case: Case, member_id: int, holder_name: str, now: datetime, *, released: bool
) -> Certificate:
    """A new certificate with the next serial, its PDF stored and sealed (the caller locked the cohort)."""
    certificate = Certificate(
        case_id=case.id,
        member_id=member_id,
        serial=_next_serial(session, case.cohort, now.year),
        verification_code=new_verification_code(),
        holder_name=holder_name,
        issued_at=now,
        released_at=now if released else None,
    )
    session.add(certificate)
    session.flush()
    store_pdf(session, certificate, case)
    return certificate


def _release_prepared(session: Session, case: Case, actor: Actor, now: datetime) -> None:
    prepared = session.scalars(
        select(Certificate)
        .where(
            Certificate.case_id == case.id,
            Certificate.released_at.is_(None),
            Certificate.revoked_at.is_(None),
        )
        .order_by(Certificate.id)
    ).all()
    for certificate in prepared:
        certificate.released_at = now
        chain.append(
            session,
            actor=actor,
            action="certificate.released",
            case=case,
            data={"serial": certificate.serial, "holder": certificate.holder_name},
        )
    session.flush()


def issue_case_certificates(session: Session, case_id: int, actor: Actor, now: datetime | None = None) -> int:
    """Prepare or release the certificates of one case (see `issue_missing_certificates`) and count the new
    ones; 0 when the case is gone or no longer in `project_done`."""
    case = session.get(Case, case_id)
    if case is None or case.state != State.PROJECT_DONE.value:
        return 0
    return len(issue_missing_certificates(session, case, actor, now))


def issue_due_certificates(db: Database, actor: Actor, now: datetime | None = None) -> int:
    """Every case still in `project_done` gets its certificates prepared, and released when its cohort's
    ceremony day has come (the beat's `scan_certificates`): one transaction per case; the count of new ones."""
    now = now or utcnow()
    with db.transaction() as session:
        ids = session.scalars(select(Case.id).where(Case.state == State.PROJECT_DONE.value)).all()
    issued = 0
    for case_id in ids:
        with db.transaction() as session:
            issued += issue_case_certificates(session, case_id, actor, now)
    return issued


def release_cohort_early(
    session: Session, cohort: Cohort, actor: Actor, reason: str, now: datetime | None = None
) -> int:
    """The office releases a cohort's certificates before its ceremony day (audited with the reason): every
    case of the cohort in `project_done` is certified now; the count of cases certified."""
    if actor.role is not Role.COORDINATOR:
        raise Forbidden(N_("Nur die Programmleitung darf Zertifikate vorzeitig freigeben."))
    if not reason or not reason.strip():
        raise ValidationFailed({"reason": [_("Bitte begründen Sie die vorzeitige Freigabe.")]})
    now = now or utcnow()
    ids = session.scalars(
        select(Case.id)
        .where(Case.cohort_id == cohort.id, Case.state == State.PROJECT_DONE.value)
        .order_by(Case.id)
    ).all()
    for case_id in ids:  # cases first, then the cohort: the order issuance locks them in (no deadlock)
        lock_case(session, case_id)
    session.execute(select(Cohort.id).where(Cohort.id == cohort.id).with_for_update())
    session.refresh(cohort)
    if release_due(cohort, now):
        raise Conflict(N_("Die Zertifikate der {cohort} sind bereits freigegeben."), cohort=cohort.title)
    cohort.certificates_released_at = now
    chain.append(
        session,
        actor=actor,
        action="cohort.certificates_released",
        cohort_number=cohort.number,
        data={
            "number": cohort.number,
            "reason": reason.strip(),
            "ceremony_on": cohort.ceremony_on.isoformat(),
        },
    )
    # A case reaching `project_done` later is released at once: the cohort's release is due from now on.
    certified = 0
    for case_id in ids:  # `certify` is the system's transition, as on the ceremony day
        issue_case_certificates(session, case_id, ISSUER, now)
        certified += session.get(Case, case_id).state == State.CERTIFIED.value
    return certified


def prepared_certificates(session: Session, cohort: Cohort) -> list[Certificate]:
    """The cohort's certificates waiting for the ceremony day, by serial."""
    return list(
        session.scalars(
            select(Certificate)
            .join(Case, Case.id == Certificate.case_id)
            .where(
                Case.cohort_id == cohort.id,
                Certificate.released_at.is_(None),
                Certificate.revoked_at.is_(None),
            )
            .order_by(Certificate.serial)
        )
    )


def store_pdf(session: Session, certificate: Certificate, case: Case) -> Path:
    """Render and seal the certificate, write it under the storage folder and record its SHA-256."""
    settings = current_settings()
    cohort = case.cohort
    project_title = (
        session.scalar(select(PracticeProject.title).where(PracticeProject.case_id == case.id)) or ""
    )
    issued_on = cohort.ceremony_on or certificate.issued_at.astimezone(BERLIN).date()
    pdf = render_certificate(
        CertificateText(
            holder_name=certificate.holder_name,
            municipality=case.municipality.name,
            cohort_number=cohort.number,
            cohort_title=cohort.title,
            project_title=project_title,
            place=cohort.ceremony_place or "Düsseldorf",
            issued_on=issued_on,
            signatory_name=cohort.signatory_name or "",
            signatory_title=cohort.signatory_title or "",
            serial=certificate.serial,
            verification_url=verification_link(certificate.verification_code),
            starts_on=cohort.starts_on,
            ends_on=cohort.ends_on,
            logo=settings.certificate_logo,
        )
    )
    pdf = seal_pdf(pdf, settings, certificate.serial).pdf
    folder = settings.certificate_dir / "certificates" / f"ews{cohort.number}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{certificate.serial}.pdf"
    temporary = path.with_suffix(".pdf.tmp")
    temporary.write_bytes(pdf)
    temporary.replace(path)  # a reader never sees half a file
    certificate.pdf_path, certificate.pdf_sha256 = str(path.resolve()), hashlib.sha256(pdf).hexdigest()
    return path


def is_issued_file(certificate: Certificate, data: bytes) -> bool:
    """Whether `data` is exactly the PDF issued for the certificate (its SHA-256 as stored)."""
    return certificate.pdf_sha256 is not None and hashlib.sha256(data).hexdigest() == certificate.pdf_sha256


def pdf_file(certificate: Certificate, role: Role | None = None) -> Path:
    """Where the PDF was stored (relative paths are under the storage folder); NotFound until it exists, and
    for an applicant (the holder's side) until it is released."""
    if role is Role.APPLICANT and certificate.released_at is None:
        raise NotFound(N_("Das Zertifikat wird bei der Abschlussveranstaltung freigegeben."))
    if certificate.pdf_path is None:
        raise NotFound(N_("Das PDF zu diesem Zertifikat wird noch erstellt. Bitte versuchen Sie es später."))
    path = Path(certificate.pdf_path)
    if not path.is_absolute():
        path = current_settings().certificate_dir / path
    if not path.is_file():
        raise NotFound(N_("Das PDF zu diesem Zertifikat ist nicht verfügbar."))
    return path


def revoke_certificate(session: Session, certificate: Certificate, actor: Actor, reason: str) -> Certificate:
    """Revoke for good (its verification page says so); see `replace_certificate` for a corrected one."""
    if actor.role is not Role.COORDINATOR:
        raise Forbidden(N_("Nur die Programmleitung darf Zertifikate widerrufen."))
    if not reason or not reason.strip():
        raise ValidationFailed({"reason": [_("Bitte begründen Sie den Widerruf.")]})
    case = lock_case(session, certificate.case_id)
    if certificate.revoked_at is not None:
        raise Conflict(N_("Das Zertifikat {serial} ist bereits widerrufen."), serial=certificate.serial)
    certificate.revoked_at, certificate.revoked_reason = utcnow(), reason.strip()
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="certificate.revoked",
        case=case,
        data={"serial": certificate.serial, "reason": certificate.revoked_reason},
    )
    return certificate


def replace_certificate(
    session: Session,
    certificate: Certificate,
    actor: Actor,
    reason: str,
    holder_name: str | None = None,
    now: datetime | None = None,
) -> Certificate:
    """Correct a certificate (a misspelt name, a changed team member): revoke it with the reason and issue a
    new serial for the same member in this transaction. The old one's verification page names the new one;
    a released one's holder gets the new PDF by one email. The case keeps its state."""
    now = now or utcnow()
    name = " ".join((holder_name or "").split()) or certificate.holder_name
    if len(name) > 200:
        raise ValidationFailed({"holder_name": [_("Der Name darf höchstens 200 Zeichen lang sein.")]})
    if any(unicodedata.category(char) == "Cc" for char in name):  # the PDF's XMP (XML) cannot carry them
        raise ValidationFailed({"holder_name": [_("Der Name enthält Steuerzeichen.")]})
    case = lock_case(session, certificate.case_id)
    session.execute(select(Cohort.id).where(Cohort.id == case.cohort_id).with_for_update())  # serials
    revoke_certificate(session, certificate, actor, reason)
    successor = new_certificate(
        session, case, certificate.member_id, name, now, released=certificate.released_at is not None
    )
    certificate.replaced_by_id = successor.id
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="certificate.replaced",
        case=case,
        data={
            "serial": successor.serial,
            "replaces": certificate.serial,
            "member": certificate.member_id,
            "holder": name,
            "reason": certificate.revoked_reason,
        },
    )
    if successor.released_at is not None:
        _send_replacement(session, case, successor, certificate)
    return successor


def _send_replacement(session: Session, case: Case, successor: Certificate, old: Certificate) -> None:
    member = session.get(TeamMember, successor.member_id)
    if member is None or not member.email:
        return
    letter = render_letter(
        REPLACEMENT_LETTER,
        name=member.name,
        salutation=member.salutation,
        cohort=case.cohort.title,
        serial=successor.serial,
        old_serial=old.serial,
        url=verification_link(successor.verification_code),
    )
    attachment = {
        "filename": f"Zertifikat-{successor.serial}.pdf",
        "content_type": "application/pdf",
        "path": successor.pdf_path,
    }
    email = Email(
        f"certificate-replaced:{successor.serial}",
        REPLACEMENT_LETTER,
        member.email,
        letter.subject,
        letter.body,
        case.id,
        (attachment,),
    )
    enqueue_emails(session, [email])
