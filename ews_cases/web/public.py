"""Public pages without login: certificate verification and unsubscribing from reminders."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from ews_cases.db.request_session import db_session
from ews_cases.errors import NotFound
from ews_cases.i18n.translate import N_, _
from ews_cases.links import verification_link
from ews_cases.mail.letters import office
from ews_cases.models import Case, Certificate
from ews_cases.services.certificates import is_issued_file
from ews_cases.services.subscriptions import resubscribe, subscription, unsubscribe
from ews_cases.web.extensions import csrf

public = Blueprint("public", __name__)

NO_CODE = N_("Bitte geben Sie den Prüfcode ein, der auf dem Zertifikat steht.")


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return (
        best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def certificate_status(certificate: Certificate, case: Case) -> dict[str, Any]:
    """What anyone may learn from a verification code: no email, no project details beyond the cohort."""
    successor = (
        db_session().get(Certificate, certificate.replaced_by_id) if certificate.replaced_by_id else None
    )
    return {
        "valid": certificate.status == "valid",
        "status": certificate.status,
        "serial": certificate.serial,
        "name": certificate.holder_name,
        "cohort": case.cohort.number,
        "cohort_title": case.cohort.title,
        "municipality": case.municipality.name,
        "date": (case.cohort.ceremony_on or certificate.issued_at.date()).isoformat(),
        "issued_at": certificate.issued_at.isoformat(),
        "released_at": certificate.released_at.isoformat() if certificate.released_at else None,
        # The fact and the day of a revocation, never its reason: that is the office's internal record.
        "revoked_at": certificate.revoked_at.isoformat() if certificate.revoked_at else None,
        "replaced_by": successor.serial if successor else None,
        "replaced_by_url": verification_link(successor.verification_code) if successor else None,
    }


def _shown_dates(certificate: Certificate, case: Case) -> dict[str, Any]:
    """The dates the page shows (German, `|de_date`)."""
    return {
        "date": case.cohort.ceremony_on or certificate.issued_at,
        "revoked_at": certificate.revoked_at,
    }


def _page(code: str, status: dict[str, Any] | None, dates: dict[str, Any] | None = None, **extra: Any) -> str:
    return render_template(
        "public/verify.html", status=status, code=code, dates=dates or {}, office=office(), **extra
    )


def typed_code(text: str) -> str:
    """The code from what was typed or pasted: the code itself, or the whole verification address."""
    text = text.strip().rstrip("/")
    return text.rsplit("/", 1)[-1].strip() if "/" in text else text


@public.get("/verify")
def verify_form() -> Any:
    """The field to type or paste a code (`?code=` leads to `/verify/<code>`)."""
    code = typed_code(request.args.get("code", ""))
    if code:
        return redirect(url_for("public.verify_certificate", code=code), 303)
    problem = _(NO_CODE) if "code" in request.args else None
    return Response(_page("", None, problem=problem), 400 if problem else 200)


@public.route("/verify/<code>", methods=["GET", "POST"])
def verify_certificate(code: str) -> Response | tuple[Any, int]:
    """Valid, not yet valid or revoked, for the QR code on the certificate (HTML, or JSON with Accept:
    application/json). POST with a PDF in the multipart field `file` also says whether that file is exactly
    the one issued (its SHA-256 as stored); nothing is stored."""
    session = db_session()
    certificate = (
        session.scalar(select(Certificate).where(Certificate.verification_code == code))
        if len(code) <= 64
        else None
    )
    if certificate is None:
        if _wants_json():
            return jsonify({"valid": False, "status": "unknown"}), 404
        return _page(code, None, unknown=True), 404
    case = session.get(Case, certificate.case_id)
    status, dates = certificate_status(certificate, case), _shown_dates(certificate, case)
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            if _wants_json():
                return jsonify({**status, "file_matches": None, "error": "file missing"}), 400
            return _page(code, status, dates, file_missing=True), 400
        status["file_matches"] = is_issued_file(certificate, upload.read())
    if _wants_json():
        return jsonify(status)
    return Response(_page(code, status, dates))


#: RFC 8058: the one-click POST a mail client sends carries exactly this field and value, nothing else.
ONE_CLICK_FIELD, ONE_CLICK_VALUE = "List-Unsubscribe", "One-Click"
FORM_EXPIRED = N_(
    "Das Formular ist abgelaufen. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal."
)
NO_CHOICE = N_("Bitte wählen Sie, ob Sie Erinnerungen abbestellen oder wieder erhalten möchten.")


def is_one_click_unsubscribe() -> bool:
    """Whether this request is an RFC 8058 one-click unsubscribe: a POST whose form body is exactly
    `List-Unsubscribe=One-Click`. Only this shape skips the CSRF check (mail clients have no session);
    anything else posted to the page is a form post that must carry the page's CSRF token."""
    return (
        request.method == "POST"
        and request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
        and not request.args
        and not request.files
        and list(request.form.keys()) == [ONE_CLICK_FIELD]
        and request.form.getlist(ONE_CLICK_FIELD) == [ONE_CLICK_VALUE]
    )


@public.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe_page(token: str) -> Response | tuple[str, int]:
    """GET and HEAD (link scanners, the person opening the link) only show the page with its buttons; the
    page's form POST opts out or back in, and the RFC 8058 one-click POST from the mail client opts out."""
    if request.method in ("GET", "HEAD"):  # Flask routes HEAD to GET views; it must not change data either
        try:
            state = subscription(db_session(), token)
        except NotFound:
            return render_template("public/unsubscribe.html", subscription=None), 404
        return Response(render_template("public/unsubscribe.html", subscription=state, changed=False))
    one_click = is_one_click_unsubscribe()
    choice = "unsubscribe" if one_click else request.form.get("choice", "")
    problem = None
    if not one_click:
        try:
            csrf.protect()  # the view is exempt from the automatic check only for the one-click shape above
        except CSRFError:
            problem = _(FORM_EXPIRED)
    if problem is None and choice not in ("unsubscribe", "resubscribe"):
        problem = _(NO_CHOICE)
    if problem is not None:
        try:
            state = subscription(db_session(), token)
        except NotFound:
            return render_template("public/unsubscribe.html", subscription=None), 404
        page = render_template("public/unsubscribe.html", subscription=state, changed=False, problem=problem)
        return page, 400
    session = db_session(write=True)
    try:
        state = (unsubscribe if choice == "unsubscribe" else resubscribe)(session, token)
    except NotFound:
        return render_template("public/unsubscribe.html", subscription=None), 404
    session.commit()
    return Response(render_template("public/unsubscribe.html", subscription=state, changed=True))
