"""Office pages of one participating case: attendance, practice project and certificates (role
`coordinator`, routes of the `office` blueprint; `ews_cases.web.pages` loads this module)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, render_template, request
from sqlalchemy import select

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.links import verification_link
from ews_cases.models import Case, Certificate, PracticeProject
from ews_cases.services.certificates import revoke_certificate
from ews_cases.services.participation import attendance_register, record_attendance, update_project
from ews_cases.web.access import my_actor, readable_case, roles_required
from ews_cases.web.office import office, see_other, typed_fields_only
from ews_cases.web.office_certificates import sealing_note
from ews_cases.web.office_forms import (
    PROJECT_DECISIONS,
    AttendanceForm,
    ProjectDecisionForm,
    RevocationForm,
)


@office.route("/faelle/<int:case_id>/anwesenheit", methods=["GET", "POST"])
@roles_required("coordinator")
def attendance(case_id: int) -> Any:
    """The register (sessions × team members) as one form; only changed cells are saved, together."""
    session = db_session()
    case = readable_case(case_id)
    form = AttendanceForm()
    register = attendance_register(session, case)
    recorded = {
        (member["id"], cell["session"]): cell["status"]
        for member in register["members"]
        for cell in member["attendance"]
    }
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        chosen = form.cells(
            request.form, [m["id"] for m in register["members"]], [s["id"] for s in register["sessions"]]
        )
        changed = {cell: status for cell, status in chosen.items() if recorded.get(cell) != status}
        try:
            for (member_id, session_id), status in changed.items():
                record_attendance(
                    session, case, my_actor(), session_id=session_id, member_id=member_id, status=status
                )
            session.commit()
        except DomainError as error:
            session.rollback()
            flash(error.render(_), "danger")
            for messages in getattr(error, "errors", {}).values():
                for text in messages:
                    flash(text, "danger")
            return render_template(
                "office/attendance.html",
                case=case,
                register=attendance_register(session, case),
                form=form,
                values={**recorded, **chosen},
            ), error.status
        flash(_("Anwesenheit gespeichert ({count} Änderungen).", count=len(changed)), "success")
        return see_other("office.attendance", case_id=case_id)
    return render_template("office/attendance.html", case=case, register=register, form=form, values=recorded)


@office.route("/faelle/<int:case_id>/praxisprojekt", methods=["GET", "POST"])
@roles_required("coordinator")
def project(case_id: int) -> Any:
    """The team's practice project; a submitted one is approved, or returned with a reason."""
    session = db_session()
    case = readable_case(case_id)
    form = ProjectDecisionForm()
    status_code = 200
    if request.method == "POST":
        status = PROJECT_DECISIONS.get(form.decision.data or "")
        if status is None or not (form.validate_on_submit() or typed_fields_only(form, "reason")):
            abort(400)
        reason = (form.reason.data or None) if status == "planned" else None
        if form.errors:  # a reason too long for its field: shown next to it, with what was typed
            return _project_page(case, form, 422)
        try:
            update_project(session, case, my_actor(), status=status, reason=reason)
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
            status_code = 422
        except DomainError as error:
            session.rollback()
            flash(error.render(_), "danger")
            return see_other("office.project", case_id=case_id)
        else:
            done = (
                _("Praxisprojekt freigegeben.") if status == "approved" else _("Praxisprojekt zurückgegeben.")
            )
            flash(done, "success")
            return see_other("office.project", case_id=case_id)
    return _project_page(case, form, status_code)


def _project_page(case: Case, form: ProjectDecisionForm, status_code: int) -> Any:
    practice = db_session().scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))
    return render_template("office/project.html", case=case, project=practice, form=form), status_code


@office.route("/faelle/<int:case_id>/zertifikate", methods=["GET", "POST"])
@roles_required("coordinator")
def certificates(case_id: int) -> Any:
    """The case's certificates with their verification links and PDFs. Revoking one is final, so it is
    posted from its confirmation page (`confirmed`); a post without it changes nothing and shows that page."""
    session = db_session()
    case = readable_case(case_id)
    form = RevocationForm()
    if request.method == "POST":
        if not (form.validate_on_submit() or typed_fields_only(form, "reason")):
            abort(400)
        certificate = _certificate_of(case, form.certificate.data)
        if form.errors:  # a reason too long for its field: shown next to it, with what was typed
            return _revocation_page(case, certificate, form, 422)
        if certificate.revoked_at is None and form.confirmed.data != CONFIRMED:
            return _revocation_page(case, certificate, form, 200)
        try:
            revoke_certificate(session, certificate, my_actor(), form.reason.data or "")
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
            return _revocation_page(case, certificate, form, 422)
        except DomainError as error:
            session.rollback()
            flash(error.render(_), "danger")
            return see_other("office.certificates", case_id=case_id)
        flash(
            _(
                "Das Zertifikat {serial} von {holder} wurde widerrufen. Die Prüfseite weist es jetzt als "
                "ungültig aus.",
                serial=certificate.serial,
                holder=certificate.holder_name,
            ),
            "success",
        )
        return see_other("office.certificates", case_id=case_id)
    certificates = session.scalars(
        select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
    ).all()
    rows = [(certificate, verification_link(certificate.verification_code)) for certificate in certificates]
    return render_template(
        "office/certificates.html",
        case=case,
        certificates=rows,
        successors={c.id: c.serial for c in certificates},
        sealing_note=sealing_note(),
    )


@office.get("/faelle/<int:case_id>/zertifikate/<int:certificate_id>/widerrufen")
@roles_required("coordinator")
def confirm_revocation(case_id: int, certificate_id: int) -> Any:
    """What revoking the certificate means, and the reason asked for; its form posts the revocation."""
    case = readable_case(case_id)
    certificate = _certificate_of(case, certificate_id)
    if certificate.revoked_at is not None:
        flash(_("Das Zertifikat {serial} ist bereits widerrufen.", serial=certificate.serial), "danger")
        return see_other("office.certificates", case_id=case_id)
    return _revocation_page(case, certificate, RevocationForm(formdata=None), 200)


#: Value of `confirmed` posted by the confirmation page.
CONFIRMED = "ja"


def _certificate_of(case: Case, certificate_id: int | None) -> Certificate:
    """The certificate if it belongs to `case`; 404 otherwise."""
    certificate = db_session().get(Certificate, certificate_id) if certificate_id else None
    if certificate is None or certificate.case_id != case.id:
        abort(404)
    return certificate


def _revocation_page(case: Case, certificate: Certificate, form: RevocationForm, status_code: int) -> Any:
    return render_template(
        "office/confirm_revocation.html",
        case=case,
        certificate=certificate,
        link=verification_link(certificate.verification_code),
        form=form,
    ), status_code
