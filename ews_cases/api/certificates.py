"""Certificates of a case: list, download the PDF, revoke, replace by a corrected one."""

from __future__ import annotations

from typing import Any

from apiflask import abort
from flask import Response, send_file, url_for
from sqlalchemy import select

from ews_cases.api.auth import allow, current_actor
from ews_cases.api.blueprint import api
from ews_cases.api.cases import load_case
from ews_cases.api.downloads import binary_response, media_type
from ews_cases.api.participation_schemas import CertificateList, CertificateOut, ReplaceIn, RevokeIn
from ews_cases.db.request_session import db_session
from ews_cases.links import verification_link
from ews_cases.models import Certificate
from ews_cases.services.certificates import pdf_file, replace_certificate, revoke_certificate

CERTIFICATE_READERS = ("applicant", "coordinator", "auditor")
PDF = "application/pdf"


def _certificate_data(certificate: Certificate) -> dict[str, Any]:
    has_pdf = certificate.pdf_path is not None
    return {
        "serial": certificate.serial,
        "holder_name": certificate.holder_name,
        "member": certificate.member_id,
        "issued_at": certificate.issued_at,
        "revoked_at": certificate.revoked_at,
        "revoked_reason": certificate.revoked_reason,
        "status": certificate.status,
        "released_at": certificate.released_at,
        "verification_url": verification_link(certificate.verification_code),
        "sha256": certificate.pdf_sha256,
        "pdf_url": url_for("api.get_certificate_pdf", serial=certificate.serial) if has_pdf else None,
    }


def _load_certificate(serial: str) -> Certificate:
    """The certificate if the caller may read its case; 404 otherwise."""
    certificate = db_session().scalar(select(Certificate).where(Certificate.serial == serial))
    if certificate is None:
        abort(404)
    load_case(certificate.case_id)
    return certificate


@api.get("/cases/<int:case_id>/certificates")
@allow(*CERTIFICATE_READERS)
@api.output(CertificateList)
@api.doc(responses=[404])
def list_certificates(case_id: int) -> dict[str, Any]:
    """The certificates issued for the case's team, with their public verification links."""
    case = load_case(case_id)
    certificates = db_session().scalars(
        select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
    )
    return {"items": [_certificate_data(c) for c in certificates]}


@api.get("/certificates/<serial>.pdf")
@allow(*CERTIFICATE_READERS)
@api.doc(responses={200: binary_response("The PDF", PDF), 404: "Not found"})
def get_certificate_pdf(serial: str) -> Response:
    """The certificate as PDF (404 while it has not been produced yet)."""
    certificate = _load_certificate(serial)
    return send_file(
        pdf_file(certificate, current_actor().role), mimetype=media_type(PDF), download_name=f"{serial}.pdf"
    )


@api.post("/certificates/<serial>/revoke")
@allow("coordinator")
@api.input(RevokeIn, arg_name="data")
@api.output(CertificateOut)
@api.doc(operation_id="revoke_certificate", responses=[403, 404, 409, 422])
def post_revoke(serial: str, data: dict[str, Any]) -> dict[str, Any]:
    """Revoke a certificate with a reason; its verification page then shows it as revoked."""
    session = db_session()
    certificate = revoke_certificate(session, _load_certificate(serial), current_actor(), data["reason"])
    session.commit()
    return _certificate_data(certificate)


@api.post("/certificates/<serial>/replace")
@allow("coordinator")
@api.input(ReplaceIn, arg_name="data")
@api.output(CertificateOut, status_code=201)
@api.doc(operation_id="replace_certificate", responses=[403, 404, 409, 422])
def post_replace(serial: str, data: dict[str, Any]) -> dict[str, Any]:
    """Replace a certificate by a corrected one: the old one is revoked with the reason (its verification
    page names the new serial), a new serial is issued and, if released, emailed to the holder."""
    session = db_session()
    certificate = replace_certificate(
        session, _load_certificate(serial), current_actor(), data["reason"], data.get("holder_name")
    )
    session.commit()
    return _certificate_data(certificate)
