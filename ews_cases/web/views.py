"""Pages for everyone who logs in: the start page per role, the case page, help. Login, logout and the
second step are in `signin.py`, the password pages in `password_pages.py`, the second factor in
`second_factor_pages.py` (all on this blueprint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError
from ews_cases.i18n.translate import N_, _
from ews_cases.models import Case
from ews_cases.services.participation import attendance_register
from ews_cases.services.transitions import apply_transition, transition_options
from ews_cases.web.access import my_actor, readable_case
from ews_cases.web.forms import TransitionForm
from workflows import STATE_LABELS, WORKFLOW, Permission, RefusalKind, Role, State, TransitionRefused, permits
from workflows.diagram import svg_diagram

web = Blueprint("web", __name__)

#: The first page after login, per role.
HOME = {
    "applicant": "applicant.my_cases",
    "reviewer": "reviewer.queue",
    "coordinator": "office.dashboard",
    "auditor": "auditing.log",
    "admin": "web.help_page",
}


def home_url(role: str) -> str:
    endpoint = HOME.get(role, "web.help_page")
    return url_for(endpoint if endpoint in current_app.view_functions else "web.help_page")


def local_path(target: str) -> bool:
    """Whether `target` is a path on this site. Browsers read `//host`, `/\\host` and `/<tab>/host` as another
    host (they turn backslashes into slashes and drop tabs and newlines), so those are not."""
    return target.startswith("/") and target.isprintable() and not target.replace("\\", "/").startswith("//")


@web.get("/")
def home() -> Any:
    if not current_user.is_authenticated:
        return redirect(url_for("web.login"))
    return redirect(home_url(current_user.role))


@web.get("/hilfe")
def help_page() -> str:
    """How a case moves: the diagram generated from the one machine definition, and the table."""
    data = WORKFLOW.as_data()
    # Two steps, not _(s["label"]): Babel would extract the key "label" as a message.
    captions = {s["name"]: s["label"] for s in data["states"]}
    diagram = svg_diagram(data, {state: _(label) for state, label in captions.items()})
    return render_template(
        "web/help.html", workflow=data, mermaid=WORKFLOW.mermaid(), diagram=Markup(diagram)
    )


@web.get("/faelle/<int:case_id>")
@login_required
def case_page(case_id: int) -> str:
    """One case for every role: content by role, and exactly the actions allowed now as buttons."""
    case = readable_case(case_id)
    session = db_session()
    options = transition_options(session, case, my_actor())
    register = (
        attendance_register(session, case)
        if case.state in (State.ATTENDING, State.PROJECT_DONE, State.CERTIFIED)
        else None
    )
    return render_template(
        "web/case.html",
        case=case,
        state_label=_(STATE_LABELS[State(case.state)]),
        options=options,
        form=TransitionForm(),
        register=register,
        links=case_links(case),
    )


@dataclass(frozen=True, slots=True)
class CasePage:
    """A page about one case, linked from the case page where the workflow grants its permission."""

    endpoint: str
    label: str
    permission: Permission
    #: Set where roles with the same permission use different pages (the team's and the office's).
    for_role: Role | None = None


CASE_PAGES: tuple[CasePage, ...] = (
    CasePage("applicant.edit_case", N_("Entwurf bearbeiten"), Permission.EDIT_APPLICATION),
    CasePage("applicant.project", N_("Praxisprojekt"), Permission.PROJECT, for_role=Role.APPLICANT),
    CasePage("office.attendance", N_("Anwesenheit"), Permission.ATTENDANCE),
    CasePage("office.project", N_("Praxisprojekt"), Permission.PROJECT, for_role=Role.COORDINATOR),
    CasePage("office.certificates", N_("Zertifikate"), Permission.CERTIFICATES),
    CasePage("reviewer.review", N_("Gutachten schreiben"), Permission.REVIEW),
    CasePage("auditing.timeline", N_("Verlauf (Prüfprotokoll)"), Permission.TIMELINE),
)


def case_links(case: Case) -> list[tuple[str, str]]:
    """Links to the case's other pages that exist, for the current role and the case's state."""
    role = Role(current_user.role)
    return [
        (url_for(page.endpoint, case_id=case.id), page.label)
        for page in CASE_PAGES
        if page.for_role in (None, role)
        and permits(case.state, page.permission, role)
        and page.endpoint in current_app.view_functions
    ]


@web.post("/faelle/<int:case_id>/aktion")
@login_required
def case_transition(case_id: int) -> Any:
    """Fire one transition from the case page; a refusal is shown with its reason and changes nothing."""
    session = db_session()
    case = readable_case(case_id)
    form = TransitionForm()
    if not form.validate_on_submit():
        if set(form.errors) != {"reason"}:
            abort(400)  # the CSRF token or a hidden field the page fills in
        for message in form.reason.errors:  # a reason too long: say so, nothing changes
            flash(message, "danger")
        return case_page(case_id), 422
    try:
        apply_transition(
            session,
            case,
            form.name.data,
            my_actor(),
            form.version.data,
            form.reason.data or None,
            override=bool(form.override.data),
        )
        session.commit()
    except TransitionRefused as refused:
        session.rollback()
        if refused.kind is RefusalKind.FORBIDDEN:
            abort(403)  # SPEC §2: a write by a role that may not act (e.g. an auditor) is a 403
        for refusal in refused.refusals:
            flash(refusal.render(_), "danger")
        return redirect(url_for("web.case_page", case_id=case_id)), 303
    except DomainError as error:
        session.rollback()
        flash(error.render(_), "danger")
        return redirect(url_for("web.case_page", case_id=case_id)), 303
    label = WORKFLOW.specs[form.name.data].label
    flash(_("Erledigt: {action}.", action=_(label)), "success")
    return redirect(url_for("web.case_page", case_id=case_id)), 303
