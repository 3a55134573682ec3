"""Requests by people and legal holds, for the programme office (role `coordinator`, routes of the `office`
blueprint; `ews_cases.web.pages` loads this module).

`/programm/datenschutz` answers an access request (Art. 15: the ZIP of `subject_access.export_person`) and an
erasure request (Art. 17): the address first leads to a preview of what `privacy.erasure_plan` erases and what
it keeps and why, and only the confirmed preview erases (`privacy.erase_person`). Auditors have no access:
the export holds every personal value about a person in clear and the erasure is the controller's decision;
auditors check the trail, whose `privacy.exported` and `privacy.erased` events they see in the log.
"""

from __future__ import annotations

from typing import Any

from flask import Response, flash, render_template
from sqlalchemy import select

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import Case, utcnow
from ews_cases.services.privacy import erase_person, erasure_plan, lift_legal_hold, set_legal_hold
from ews_cases.services.subject_access import export_person
from ews_cases.web.access import my_actor, readable_case, roles_required
from ews_cases.web.office import office, see_other
from ews_cases.web.office_forms import LegalHoldForm, PersonRequestForm


def _privacy_page(export_form: PersonRequestForm, erasure_form: PersonRequestForm, status: int) -> Any:
    held = (
        db_session()
        .scalars(select(Case).where(Case.legal_hold_at.is_not(None)).order_by(Case.reference))
        .all()
    )
    return render_template(
        "office/privacy.html", export_form=export_form, erasure_form=erasure_form, held=held
    ), status


@office.get("/datenschutz")
@roles_required("coordinator")
def privacy() -> Any:
    """Requests by people: an access request's export, an erasure request's preview; cases under hold."""
    return _privacy_page(PersonRequestForm(prefix="auskunft"), PersonRequestForm(prefix="loeschung"), 200)


@office.post("/datenschutz/auskunft")
@roles_required("coordinator")
def privacy_export() -> Any:
    """The ZIP answering an access request (audited as `privacy.exported`)."""
    session = db_session()
    form = PersonRequestForm(prefix="auskunft")
    if form.validate_on_submit():
        try:
            archive = export_person(session, form.email.data or "", my_actor())
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        else:
            response = Response(archive, mimetype="application/zip")
            stamp = utcnow().strftime("%Y%m%d")
            response.headers["Content-Disposition"] = f"attachment; filename=auskunft-{stamp}.zip"
            return response
    return _privacy_page(form, PersonRequestForm(prefix="loeschung"), 422)


@office.post("/datenschutz/loeschung")
@roles_required("coordinator")
def privacy_erasure() -> Any:
    """An erasure request: without `confirmed` the preview (what is erased, what is kept and why), with it
    the erasure."""
    session = db_session()
    form = PersonRequestForm(prefix="loeschung")
    if not form.validate_on_submit():
        return _privacy_page(PersonRequestForm(prefix="auskunft"), form, 422)
    try:
        if form.confirmed.data != "ja":
            plan = erasure_plan(session, form.email.data or "")
            return render_template("office/confirm_erasure.html", form=form, plan=plan)
        erasure = erase_person(session, form.email.data or "", my_actor(), reason=form.reason.data)
        kept = erasure.plan.kept_lines() if erasure.plan else []
        session.commit()
    except ValidationFailed as error:
        session.rollback()
        form.show_errors(error.errors)
        return _privacy_page(PersonRequestForm(prefix="auskunft"), form, 422)
    except DomainError as error:
        session.rollback()
        flash(error.render(_), "danger")
        return see_other("office.privacy")
    flash(
        _(
            "Gelöscht: {values} gespeicherte Werte, {rows} Datensätze. Aufbewahrt: {kept}",
            values=erasure.values,
            rows=erasure.rows,
            kept=" ".join(kept) or _("nichts"),
        ),
        "success",
    )
    return see_other("office.privacy")


@office.route("/faelle/<int:case_id>/aufbewahrungssperre", methods=["GET", "POST"])
@roles_required("coordinator")
def legal_hold(case_id: int) -> Any:
    """Set or lift the case's legal hold, with a reason (while it holds, nothing of the case is erased)."""
    session = db_session()
    case = readable_case(case_id)
    form = LegalHoldForm()
    if form.validate_on_submit():
        lifting = case.legal_hold_at is not None
        change = lift_legal_hold if lifting else set_legal_hold
        try:
            change(session, case, my_actor(), form.reason.data or "")
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        except DomainError as error:
            session.rollback()
            flash(error.render(_), "danger")
            return see_other("office.legal_hold", case_id=case_id)
        else:
            lifted, set_ = (
                _("Die Aufbewahrungssperre ist aufgehoben."),
                _("Die Aufbewahrungssperre ist gesetzt."),
            )
            flash(lifted if lifting else set_, "success")
            return see_other("web.case_page", case_id=case_id)
    page = render_template("office/legal_hold.html", case=case, form=form)
    return page, (422 if form.errors else 200)
