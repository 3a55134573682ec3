"""Issue and revoke certificates; issuance is idempotent and ends with the `certify` transition."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.db.engine import Database
from ews_cases.documents.certificate_pdf import CertificateText, render_certificate
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.links import verification_link
from ews_cases.models import Case, Certificate, Cohort, PracticeProject, utcnow
from ews_cases.services.eligibility import eligible_members
from ews_cases.services.locking import lock_case
from ews_cases.services.transitions import apply_transition
from ews_cases.settings import current_settings
from workflows import BERLIN, Actor, Role, State


def new_verification_code() -> str:
    """128 random bits, URL-safe (SPEC §3 asks for at least 64)."""
    return secrets.token_urlsafe(16)


def _next_serial(session: Session, cohort: Cohort, year: int) -> str:
    prefix = f"EWS{cohort.number}-{year}-"
    count = session.scalar(select(func.count()).where(Certificate.serial.like(f"{prefix}%"))) or 0
    return f"{prefix}{count + 1:03d}"


def issue_missing_certificates(
    session: Session, case: Case, actor: Actor, now: datetime | None = None
) -> list[Certificate]:
    """Create a certificate for every eligible member who has none yet; rerunning issues nothing twice.

    When every eligible member holds one, the case moves to `certified` (system actor).
    """
    now = now or utcnow()
    case = lock_case(session, case.id)
    if case.state != State.PROJECT_DONE:
        return []
    session.execute(select(Cohort.id).where(Cohort.id == case.cohort_id).with_for_update())  # serial numbers
    holders = set(session.scalars(select(Certificate.member_id).where(Certificate.case_id == case.id)))
    issued = []
    for member in eligible_members(session, case):
        if member.id in holders:
            continue
        certificate = Certificate(
            case_id=case.id,
            member_id=member.id,
            serial=_next_serial(session, case.cohort, now.year),
            verification_code=new_verification_code(),
            holder_name=member.name,
            issued_at=now,
        )
        session.add(certificate)
        session.flush()
        store_pdf(session, certificate, case)
        chain.append(
            session,
            actor=actor,
            action="certificate.issued",
            case=case,
            data={"serial": certificate.serial, "member": member.id, "holder": member.name},
        )
        issued.append(certificate)
    apply_transition(session, case, "certify", actor, case.version, now=now)
    return issued


def issue_case_certificates(session: Session, case_id: int, actor: Actor) -> int:
    """Issue the missing certificates of one case (see `issue_missing_certificates`) and count them; 0 when
    the case is gone or no longer in `project_done`."""
    case = session.get(Case, case_id)
    if case is None or case.state != State.PROJECT_DONE.value:
        return 0
    return len(issue_missing_certificates(session, case, actor))


def issue_due_certificates(db: Database, actor: Actor) -> int:
    """Every case still in `project_done` gets its certificates, one transaction per case; the count issued."""
    with db.transaction() as session:
        ids = session.scalars(select(Case.id).where(Case.state == State.PROJECT_DONE.value)).all()
    issued = 0
    for case_id in ids:
        with db.transaction() as session:
            issued += issue_case_certificates(session, case_id, actor)
    return issued


def store_pdf(session: Session, certificate: Certificate, case: Case) -> Path:
    """Render the certificate, write it under the storage folder and record its SHA-256."""
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
        )
    )
    folder = current_settings().certificate_dir / "certificates" / f"ews{cohort.number}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{certificate.serial}.pdf"
    temporary = path.with_suffix(".pdf.tmp")
    temporary.write_bytes(pdf)
    temporary.replace(path)  # a reader never sees half a file
    certificate.pdf_path, certificate.pdf_sha256 = str(path.resolve()), hashlib.sha256(pdf).hexdigest()
    return path


def pdf_file(certificate: Certificate) -> Path:
    """Where the PDF was stored (relative paths are under the storage folder); NotFound until it exists."""
    if certificate.pdf_path is None:
        raise NotFound(N_("Das PDF zu diesem Zertifikat wird noch erstellt. Bitte versuchen Sie es später."))
    path = Path(certificate.pdf_path)
    if not path.is_absolute():
        path = current_settings().certificate_dir / path
    if not path.is_file():
        raise NotFound(N_("Das PDF zu diesem Zertifikat ist nicht verfügbar."))
    return path


def revoke_certificate(session: Session, certificate: Certificate, actor: Actor, reason: str) -> Certificate:
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
