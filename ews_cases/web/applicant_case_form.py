"""The application form of the `applicant` pages: a new application and the draft, saved and (if asked)
submitted in one go. Routes of the `applicant` blueprint; `ews_cases.web.pages` loads this module.

Coordinators may fill in the form for a municipality too; the services decide who may do what.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ews_cases.db.request_session import db_session
from ews_cases.errors import Conflict, DomainError
from ews_cases.i18n.translate import _
from ews_cases.models import Case, Cohort, Municipality, utcnow
from ews_cases.services.cases import CaseExists, create_case, require_no_case_yet, update_draft
from ews_cases.services.municipalities import search_municipalities
from ews_cases.services.transitions import apply_transition, transition_options
from ews_cases.web.access import me, my_actor, readable_case, roles_required
from ews_cases.web.applicant import CASE_EDITORS, applicant, deadline_notice, open_cohorts, show_domain_error
from ews_cases.web.applicant_forms import (
    ANSWER_HELP,
    CaseForm,
    EditCaseForm,
    NewCaseForm,
    case_form_data,
    place_refusals,
)
from workflows import Permission, Refusal, TransitionRefused, permits

#: At most this many municipalities are listed for one search.
SEARCH_LIMIT = 25


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


def _after_save(case: Case, refusals: tuple[Refusal, ...] | None) -> Any:
    """The answer to a saved draft: the form again when the submission was refused, else where to go next."""
    if refusals:
        return _render_refused(case, refusals)
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
    form.cohort.choices = [("", _("– bitte wählen –")), *((c.number, c.title) for c in cohorts)]
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
