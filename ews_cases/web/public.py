"""Public pages without login: certificate verification and unsubscribing from reminders."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from sqlalchemy import select

from ews_cases.db.request_session import db_session
from ews_cases.errors import NotFound
from ews_cases.models import Case, Certificate
from ews_cases.services.subscriptions import unsubscribe

public = Blueprint("public", __name__)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def certificate_status(certificate: Certificate, case: Case) -> dict[str, Any]:
    """What anyone may learn from a verification code: no email, no project details beyond the cohort."""
    return {
        "valid": certificate.revoked_at is None,
        "status": "valid" if certificate.revoked_at is None else "revoked",
        "serial": certificate.serial,
        "name": certificate.holder_name,
        "cohort": case.cohort.number,
        "cohort_title": case.cohort.title,
        "municipality": case.municipality.name,
        "date": (case.cohort.ceremony_on or certificate.issued_at.date()).isoformat(),
        "issued_at": certificate.issued_at.isoformat(),
        "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
        "revoked_reason": certificate.revoked_reason,
    }


@public.get("/verify/<code>")
def verify_certificate(code: str) -> Response | tuple[Any, int]:
    """Valid or revoked, for the QR code on the certificate (HTML, or JSON with Accept: application/json)."""
    session = db_session()
    certificate = (
        session.scalar(select(Certificate).where(Certificate.verification_code == code))
        if len(code) <= 64
        else None
    )
    if certificate is None:
        if _wants_json():
            return jsonify({"valid": False, "status": "unknown"}), 404
        return render_template("public/verify.html", status=None), 404
    status = certificate_status(certificate, session.get(Case, certificate.case_id))
    if _wants_json():
        return jsonify(status)
    return Response(render_template("public/verify.html", status=status))


@public.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> Response | tuple[str, int]:
    """GET (the link in the email) and POST (RFC 8058 one-click) both opt out; repeating is harmless."""
    session = db_session(write=True)  # also on GET: the link in the email changes data
    try:
        result = unsubscribe(session, token)
    except NotFound:
        return render_template("public/unsubscribe.html", email=None), 404
    session.commit()
    return Response(render_template("public/unsubscribe.html", email=result.email))
