"""Pages of the role `applicant` (prefix `/bewerbungen`): my applications, the practice project and the
certificate download; the application form (new and draft) is in `applicant_case_form`.

Coordinators may fill in the form for a municipality too; the services decide who may do what.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError, NotFound, ValidationFailed
from ews_cases.i18n.formatting import de_date, de_time
from ews_cases.i18n.translate import N_, _
from ews_cases.models import Case, Certificate, Cohort, PracticeProject, utcnow
from ews_cases.services.certificates import pdf_file
from ews_cases.services.participation import update_project
from ews_cases.services.permissions import visible_cases
from ews_cases.web.access import me, my_actor, readable_case, roles_required
from ews_cases.web.applicant_forms import CaseForm, ProjectForm, place_field_errors
from workflows import STATE_LABELS, Permission, State, permits

applicant = Blueprint("applicant", __name__, url_prefix="/bewerbungen")

#: Who may fill in an application (a coordinator on behalf of a municipality, too).
CASE_EDITORS = ("applicant", "coordinator")
#: Who may download a certificate here (as in the API).
CERTIFICATE_READERS = ("applicant", "coordinator", "auditor")

#: "What happens next", per state, in the words of the applicant's page.
NEXT_STEPS: dict[State, str] = {
    State.DRAFT: N_(
        "Ihr Entwurf ist gespeichert. Sie können ihn bis zum Ende der Bewerbungsfrist am {deadline} "
        "bearbeiten und einreichen."
    ),
    State.SUBMITTED: N_(
        "Ihre Bewerbung ist eingegangen. Fachleute begutachten sie; über das Ergebnis informiert Sie "
        "das Programmbüro per E-Mail."
    ),
    State.REVIEWED: N_(
        "Die Begutachtung ist abgeschlossen. Das Programmbüro entscheidet nun über die Aufnahme und "
        "schreibt Ihnen."
    ),
    State.ADMITTED: N_(
        "Ihre Kommune ist aufgenommen. Zum Start erhalten Sie die Termine der Fachtagung und der "
        "Workshops per E-Mail."
    ),
    State.WAITLISTED: N_(
        "Ihre Bewerbung steht auf der Warteliste. Wird ein Platz frei, meldet sich das Programmbüro bei Ihnen."
    ),
    State.ATTENDING: N_(
        "Ihr Entwicklungsteam nimmt an der Entwicklungswerkstatt teil. Beschreiben Sie Ihr Praxisprojekt "
        "und reichen Sie es ein, sobald Titel und Zusammenfassung feststehen."
    ),
    State.PROJECT_DONE: N_(
        "Das Praxisprojekt ist abgeschlossen. Die Zertifikate für Ihr Entwicklungsteam werden erstellt."
    ),
    State.CERTIFIED: N_("Herzlichen Glückwunsch! Die Zertifikate sind ausgestellt und stehen hier bereit."),
    State.REJECTED: N_(
        "Ihre Bewerbung konnte in diesem Durchgang leider nicht berücksichtigt werden. Die Begründung "
        "haben Sie per E-Mail erhalten."
    ),
    State.WITHDRAWN: N_(
        "Die Bewerbung wurde zurückgezogen. Für einen späteren Durchgang können Sie sich gern erneut bewerben."
    ),
    State.DROPPED_OUT: N_(
        "Ihre Kommune ist aus dem Durchgang ausgeschieden. Bei Fragen wenden Sie sich an das Programmbüro."
    ),
}

PROJECT_STATUS_LABELS = {
    "planned": N_("In Planung"),
    "submitted": N_("Eingereicht, wartet auf Freigabe"),
    "approved": N_("Freigegeben"),
}


# -- small helpers ------------------------------------------------------------------------------------------
def deadline_notice(cohort: Cohort, now: datetime) -> dict[str, Any]:
    """The deadline as "Bewerbungsfrist: 30.06.2027, 23:59 Uhr" and the days left (Europe/Berlin)."""
    days = cohort.days_until_deadline(now)
    if days > 1:
        countdown = _("noch {days} Tage", days=days)
    elif days == 1:
        countdown = _("noch 1 Tag")
    elif days == 0:
        countdown = _("Die Frist endet heute.")
    else:
        countdown = _("Die Bewerbungsfrist ist abgelaufen.")
    return {
        "text": _(
            "Bewerbungsfrist: {date}, {time} Uhr",
            date=de_date(cohort.deadline_at),
            time=de_time(cohort.deadline_at),
        ),
        "countdown": countdown,
        "days": days,
    }


def open_cohorts(session: Session, now: datetime) -> list[Cohort]:
    """Cohorts whose call for applications is open now, newest first."""
    cohorts = session.scalars(select(Cohort).order_by(Cohort.number.desc())).all()
    return [cohort for cohort in cohorts if cohort.is_open(now)]


def show_domain_error(form: CaseForm | ProjectForm, error: DomainError) -> int:
    """Roll back, show the message, and answer with the matching status."""
    db_session().rollback()
    if isinstance(error, ValidationFailed):
        if isinstance(form, CaseForm):
            place_field_errors(form, error.errors)
        else:
            form.place_errors(error.errors)
    else:
        form.general_errors.append(error.render(_))
    return error.status


# -- pages ---------------------------------------------------------------------------------------------------
@applicant.get("")
@roles_required("applicant")
def my_cases() -> Any:
    """The municipality's applications, each with its state and what happens next."""
    session = db_session()
    now = utcnow()
    cases = session.scalars(
        select(Case).where(visible_cases(my_actor())).order_by(Case.created_at.desc(), Case.id.desc())
    ).all()
    certificates: dict[int, list[Certificate]] = {}
    if cases:
        query = select(Certificate).where(Certificate.case_id.in_([c.id for c in cases]))
        for certificate in session.scalars(query.order_by(Certificate.serial)):
            certificates.setdefault(certificate.case_id, []).append(certificate)
    rows = [
        {
            "case": case,
            "state_label": _(STATE_LABELS[State(case.state)]),
            "next_step": _(NEXT_STEPS[State(case.state)], deadline=de_date(case.cohort.deadline_at)),
            "submitted_on": de_date(case.submitted_at) if case.submitted_at else None,
            "certificates": certificates.get(case.id, []),
        }
        for case in cases
    ]
    applied = {case.cohort_id for case in cases}
    calls = [
        {"cohort": cohort, "deadline": deadline_notice(cohort, now)}
        for cohort in open_cohorts(session, now)
        if cohort.id not in applied
    ]
    return render_template(
        "applicant/my_cases.html",
        rows=rows,
        calls=calls,
        municipality=me().municipality,
    )


@applicant.route("/<int:case_id>/praxisprojekt", methods=["GET", "POST"])
@roles_required(*CASE_EDITORS)
def project(case_id: int) -> Any:
    """The practice project while the team attends: save the texts, and submit it for approval."""
    session = db_session()
    case = readable_case(case_id)
    current = session.scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))
    form = ProjectForm(obj=current)
    status, saved_but_not_submitted = 200, False
    if form.validate_on_submit():
        submit = request.form.get("aktion") == "einreichen"
        actor = my_actor()
        try:
            update_project(
                session,
                case,
                actor,
                title=form.title.data,
                summary=form.summary.data,
                report=form.report.data,
            )
            if submit:
                try:
                    with session.begin_nested():  # a refusal keeps the saved texts
                        update_project(session, case, actor, status="submitted")
                except DomainError as error:
                    saved_but_not_submitted = True
                    if isinstance(error, ValidationFailed):
                        form.place_errors(error.errors)
                    else:
                        form.general_errors.append(error.render(_))
            session.commit()
        except DomainError as error:
            status = show_domain_error(form, error)
        else:
            if not saved_but_not_submitted:
                message = (
                    N_("Das Praxisprojekt ist eingereicht. Das Programmbüro prüft es und gibt es frei.")
                    if submit
                    else N_("Das Praxisprojekt ist gespeichert.")
                )
                flash(_(message), "success")
                return redirect(url_for("applicant.project", case_id=case.id), 303)
            status = 422
        current = session.scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))
    elif request.method == "POST":
        status = 422
    project_status = current.status if current is not None else "planned"
    editable = permits(case.state, Permission.EDIT_PROJECT, me().role)
    return render_template(
        "applicant/project.html",
        case=case,
        form=form,
        project=current,
        status_label=_(PROJECT_STATUS_LABELS[project_status]),
        can_edit=editable and project_status != "approved",
        can_submit=editable and project_status == "planned",
        saved_but_not_submitted=saved_but_not_submitted,
    ), status


@applicant.get("/zertifikate/<serial>.pdf")
@roles_required(*CERTIFICATE_READERS)
def certificate(serial: str) -> Any:
    """A certificate of one's own municipality as PDF; 404 for any other, and until the PDF exists."""
    found = db_session().scalar(select(Certificate).where(Certificate.serial == serial))
    if found is None:
        abort(404)
    readable_case(found.case_id)
    try:
        path = pdf_file(found, my_actor().role)
    except NotFound:
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=f"{serial}.pdf")
