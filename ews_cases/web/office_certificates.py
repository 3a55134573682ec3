"""Office pages for certificates beyond one case's list: replacing a certificate by a corrected one, and a
cohort's prepared certificates with their early release (role `coordinator`, routes of the `office` blueprint;
`ews_cases.web.pages` loads this module)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, render_template
from sqlalchemy import select

from ews_cases.db.request_session import db_session
from ews_cases.documents.seal import seal_configured
from ews_cases.errors import DomainError, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.links import verification_link
from ews_cases.models import Case, Certificate
from ews_cases.services.certificates import prepared_certificates, release_cohort_early, replace_certificate
from ews_cases.settings import Settings, current_settings
from ews_cases.web.access import my_actor, readable_case, roles_required
from ews_cases.web.office import _cohort_or_404, office, see_other
from ews_cases.web.office_forms import EarlyReleaseForm, ReplacementForm


def sealing_note(settings: Settings | None = None) -> str | None:
    """What the office's certificate pages say when PDFs are issued without the programme's seal."""
    if seal_configured(settings or current_settings()):
        return None
    return _(
        "Achtung: Es ist kein Siegel (EWS_SEAL_P12) eingerichtet. Die Zertifikate werden ohne elektronisches "
        "Siegel ausgestellt; ihre Echtheit lässt sich nur über die Prüfseite belegen."
    )


@office.route("/faelle/<int:case_id>/zertifikate/<int:certificate_id>/ersetzen", methods=["GET", "POST"])
@roles_required("coordinator")
def replace(case_id: int, certificate_id: int) -> Any:
    """Replace a certificate by a corrected one (revoked with the reason, a new serial, the holder emailed)."""
    session = db_session()
    case = readable_case(case_id)
    certificate = session.get(Certificate, certificate_id)
    if certificate is None or certificate.case_id != case.id:
        abort(404)
    form = ReplacementForm()
    if not form.is_submitted():
        form.holder_name.data = certificate.holder_name
    elif form.validate_on_submit():
        try:
            new = replace_certificate(
                session, certificate, my_actor(), form.reason.data or "", form.holder_name.data
            )
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        except DomainError as error:
            session.rollback()
            flash(error.render(_), "danger")
            return see_other("office.certificates", case_id=case_id)
        else:
            flash(
                _(
                    "Das Zertifikat {old} ist widerrufen und durch {new} ersetzt.",
                    old=certificate.serial,
                    new=new.serial,
                ),
                "success",
            )
            return see_other("office.certificates", case_id=case_id)
    page = render_template(
        "office/replace_certificate.html",
        case=case,
        certificate=certificate,
        link=verification_link(certificate.verification_code),
        form=form,
    )
    return page, (422 if form.errors else 200)


@office.route("/durchgaenge/<int:number>/zertifikate", methods=["GET", "POST"])
@roles_required("coordinator")
def cohort_certificates(number: int) -> Any:
    """The cohort's certificates prepared for the ceremony day, and their early release with a reason."""
    session = db_session()
    cohort = _cohort_or_404(session, number)
    form = EarlyReleaseForm()
    if form.validate_on_submit():
        try:
            certified = release_cohort_early(session, cohort, my_actor(), form.reason.data or "")
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        except DomainError as error:
            session.rollback()
            flash(error.render(_), "danger")
            return see_other("office.cohort_certificates", number=number)
        else:
            flash(
                _(
                    "Die Zertifikate sind freigegeben. Zertifizierte Bewerbungen: {count}.",
                    count=certified,
                ),
                "success",
            )
            return see_other("office.cohort_certificates", number=number)
    prepared = prepared_certificates(session, cohort)
    towns = dict(
        session.execute(
            select(Case.id, Case.reference).where(Case.id.in_({c.case_id for c in prepared}))
        ).all()
    )
    page = render_template(
        "office/cohort_certificates.html",
        cohort=cohort,
        prepared=prepared,
        references=towns,
        form=form,
        sealing_note=sealing_note(),
    )
    return page, (422 if form.errors else 200)
