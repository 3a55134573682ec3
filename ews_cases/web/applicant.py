"""Pages of the role `applicant` (prefix `/bewerbungen`): my applications, the application form (new and
draft), the practice project and the certificate download.

Coordinators may fill in the form for a municipality too; the services decide who may do what.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.db.request_session import db_session
from ews_cases.errors import Conflict, DomainError, NotFound, ValidationFailed
from ews_cases.i18n.formatting import de_date, de_time
from ews_cases.i18n.translate import N_, _
from ews_cases.models import Case, Certificate, Cohort, Municipality, PracticeProject, utcnow
from ews_cases.services.cases import CaseExists, create_case, require_no_case_yet, update_draft
from ews_cases.services.certificates import pdf_file
from ews_cases.services.municipalities import search_municipalities
from ews_cases.services.participation import update_project
from ews_cases.services.permissions import visible_cases
from ews_cases.services.transitions import apply_transition, transition_options
from ews_cases.web.access import me, my_actor, readable_case, roles_required
from ews_cases.web.applicant_forms import (
    ANSWER_HELP,
    CaseForm,
    EditCaseForm,
    NewCaseForm,
    ProjectForm,
    case_form_data,
    place_field_errors,
    place_refusals,
)
from workflows import BERLIN, STATE_LABELS, Permission, Refusal, State, TransitionRefused, permits

applicant = Blueprint("applicant", __name__, url_prefix="/bewerbungen")

#: Who may fill in an application (a coordinator on behalf of a municipality, too).
CASE_EDITORS = ("applicant", "coordinator")
#: Who may download a certificate here (as in the API).
CERTIFICATE_READERS = ("applicant", "coordinator", "auditor")
#: At most this many municipalities are listed for one search.
SEARCH_LIMIT = 25

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
    deadline = cohort.deadline_at.astimezone(BERLIN)
    days = (cohort.application_deadline - now.astimezone(BERLIN).date()).days
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
            date=de_date(deadline),
            time=de_time(deadline),
        ),
        "countdown": countdown,
        "days": days,
    }


def open_cohorts(session: Session, now: datetime) -> list[Cohort]:
    """Cohorts whose call for applications is open now, newest first."""
    cohorts = session.scalars(select(Cohort).order_by(Cohort.number.desc())).all()
    return [cohort for cohort in cohorts if cohort.is_open(now)]


def _save_then_submit(save: Callable[[], Case], submit: bool) -> tuple[Case, tuple[Refusal, ...] | None]:
    """Save the draft, then (if asked) try to submit it; a refused submission keeps the saved draft.

    Returns the case and the refusals of the submission (None: not attempted, empty: submitted). Domain
    errors of saving propagate; the caller rolls back.
    """
    session = db_session()
    case = save()
    refusals: tuple[Refusal, ...] | None = None
    if submit:
        try:
            with session.begin_nested():  # a refusal rolls back only the attempt, never the draft
                apply_transition(session, case, "submit", my_actor(), case.version)
            refusals = ()
        except TransitionRefused as refused:
            refusals = refused.refusals
    session.commit()
    return case, refusals


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


def _after_save(case: Case, refusals: tuple[Refusal, ...] | None) -> Any:
    if refusals is None:
        flash(_("Der Entwurf {reference} ist gespeichert.", reference=case.reference), "success")
        return redirect(url_for("applicant.edit_case", case_id=case.id), 303)
    flash(
        _(
            "Die Bewerbung {reference} ist eingereicht. Eine Bestätigung geht per E-Mail an die "
            "Ansprechperson und das Entwicklungsteam.",
            reference=case.reference,
        ),
        "success",
    )
    return redirect(url_for("web.case_page", case_id=case.id), 303)


def _render_form(form: CaseForm, cohort: Cohort, status: int = 200, **context: Any) -> Any:
    context.setdefault("case", None)
    context.setdefault("refusals", [])
    case = context["case"]
    heading = _("Entwurf {reference} bearbeiten", reference=case.reference) if case else _("Neue Bewerbung")
    return render_template(
        "applicant/case_form.html",
        form=form,
        cohort=cohort,
        deadline=deadline_notice(cohort, utcnow()),
        answer_help=ANSWER_HELP,
        heading=heading,
        **context,
    ), status


def _render_refused(case: Case, refusals: tuple[Refusal, ...]) -> Any:
    """The edit page of the saved draft, with what was typed and why it could not be submitted."""
    form = EditCaseForm(team_size=case.cohort.team_size)  # bound to what was posted
    form.version.data = case.version
    reasons = place_refusals(form, case, refusals, db_session())
    return _render_form(
        form,
        case.cohort,
        422,
        case=case,
        refusals=reasons,
        municipality=case.municipality,
        action=url_for("applicant.edit_case", case_id=case.id),
    )


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


@applicant.route("/neu", methods=["GET", "POST"])
@roles_required(*CASE_EDITORS)
def new_case() -> Any:
    """The application form for a new draft; "Speichern und einreichen" submits it right away."""
    session = db_session()
    user = me()
    cohorts = open_cohorts(session, utcnow())
    if not cohorts:
        return render_template("applicant/no_call.html")
    wanted = request.form.get("cohort", type=int) or request.args.get("durchgang", type=int)
    cohort = next((c for c in cohorts if c.number == wanted), cohorts[0])
    if wanted and cohort.number != wanted:
        flash(_("Für den Durchgang {number} läuft derzeit keine Bewerbungsphase.", number=wanted), "info")
    binds_municipality = user.role == "applicant"
    if binds_municipality:
        try:
            require_no_case_yet(session, cohort, user.municipality_ags or "")
        except CaseExists as exists:
            flash(exists.render(_), "info")
            editable = permits(exists.case.state, Permission.EDIT_APPLICATION, user.role)
            target = "applicant.edit_case" if editable else "web.case_page"
            return redirect(url_for(target, case_id=exists.case.id), 303)

    form = NewCaseForm(team_size=cohort.team_size)
    form.cohort.choices = [(c.number, c.title) for c in cohorts]
    if request.method == "GET":
        form.cohort.data = cohort.number
    if binds_municipality:
        del form.municipality
    q = (request.args.get("q") or "").strip()[:100]
    status = 200
    if form.validate_on_submit():
        ags = user.municipality_ags if binds_municipality else form.municipality.data
        content = form.content()
        try:
            case, refusals = _save_then_submit(
                lambda: create_case(
                    session,
                    my_actor(),
                    cohort_number=form.cohort.data,
                    municipality_ags=ags or "",
                    content=content,
                ),
                submit=request.form.get("aktion") == "einreichen",
            )
        except DomainError as error:
            status = show_domain_error(form, error)
        else:
            if refusals:
                return _render_refused(case, refusals)
            return _after_save(case, refusals)
    elif request.method == "POST":
        status = 422

    context: dict[str, Any] = {
        "action": url_for("applicant.new_case", durchgang=cohort.number, q=q or None),
        "q": q,
    }
    if binds_municipality:
        context["municipality"] = user.municipality
    else:
        matches, more = search_municipalities(session, q, SEARCH_LIMIT)
        chosen = form.municipality.data
        if chosen and chosen not in {m.ags for m in matches}:
            picked = session.get(Municipality, chosen)
            matches = [picked, *matches] if picked is not None else matches
        if not chosen and len(matches) == 1:
            form.municipality.data = matches[0].ags
        context.update(matches=matches, more_matches=more)
    return _render_form(form, cohort, status, **context)


@applicant.route("/<int:case_id>/bearbeiten", methods=["GET", "POST"])
@roles_required(*CASE_EDITORS)
def edit_case(case_id: int) -> Any:
    """Edit a draft; the version it was loaded with travels along, so a stale edit changes nothing."""
    session = db_session()
    case = readable_case(case_id)
    if not permits(case.state, Permission.EDIT_APPLICATION, me().role):
        flash(_("Nur Entwürfe können bearbeitet werden."), "info")
        return redirect(url_for("web.case_page", case_id=case.id), 303)
    form = EditCaseForm(data=case_form_data(case), team_size=case.cohort.team_size)
    status, stale, pending = 200, False, []
    if form.validate_on_submit():
        content = form.content()
        try:
            case, refusals = _save_then_submit(
                lambda: update_draft(
                    session, case, my_actor(), expected_version=form.version.data, content=content
                ),
                submit=request.form.get("aktion") == "einreichen",
            )
        except DomainError as error:
            status = show_domain_error(form, error)
            stale = isinstance(error, Conflict)
        else:
            if refusals:
                return _render_refused(case, refusals)
            return _after_save(case, refusals)
    elif request.method == "POST":
        status = 422
    else:
        options = transition_options(session, case, my_actor())
        pending = [r.render(_) for option in options if option.spec.name == "submit" for r in option.refusals]
    return _render_form(
        form,
        case.cohort,
        status,
        case=case,
        municipality=case.municipality,
        action=url_for("applicant.edit_case", case_id=case.id),
        stale=stale,
        pending=pending,
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
        path = pdf_file(found)
    except NotFound:
        abort(404)
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=f"{serial}.pdf")
