"""Pages for everyone who logs in: the start page per role, the case page, help. Login, logout and the
second step are in `signin.py`, the password pages in `password_pages.py`, the second factor in
`second_factor_pages.py` (all on this blueprint)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_login import current_user, login_required
from markupsafe import Markup
from sqlalchemy import select

from ews_cases.db.request_session import db_session
from ews_cases.i18n.formatting import de_date
from ews_cases.i18n.translate import N_, _
from ews_cases.mail.letters import office
from ews_cases.models import CRITERIA, Case, Certificate, PracticeProject
from ews_cases.services.admission import RANKING_RULE
from ews_cases.services.figures import figures_of
from ews_cases.services.participation import attendance_register
from ews_cases.services.reviews import assessment
from ews_cases.services.transitions import transition_options
from ews_cases.web.access import me, my_actor, readable_case
from ews_cases.web.auditing_values import label_of
from ews_cases.web.office import PARTICIPATING, PROJECT_LABELS
from ews_cases.web.review_forms import CRITERION_LABELS, RECOMMENDATION_LABELS
from workflows import (
    STATE_LABELS,
    WORKFLOW,
    Actor,
    Decision,
    Permission,
    Role,
    State,
    permits,
)
from workflows.diagram import svg_diagram

web = Blueprint("web", __name__)

#: The first page after login, per role.
HOME = {
    "applicant": "applicant.my_cases",
    "reviewer": "reviewer.queue",
    "coordinator": "office.dashboard",
    "auditor": "auditing.log",
    "admin": "admin.users",
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


#: What each state means for the people involved (the help page; the codes and tables are in docs/workflow.md).
STATE_HELP: dict[State, str] = {
    State.DRAFT: N_(
        "Die Kommune füllt die Bewerbung aus; sie kann jederzeit speichern und später weiterschreiben."
    ),
    State.SUBMITTED: N_("Die Bewerbung ist eingegangen. Gutachterinnen und Gutachter bewerten sie."),
    State.REVIEWED: N_("Die Gutachten liegen vor. Das Programmbüro entscheidet über die Zulassung."),
    State.ADMITTED: N_(
        "Die Kommune hat einen Platz. Die Teilnahme beginnt mit dem ersten Termin des Durchgangs."
    ),
    State.WAITLISTED: N_("Die Kommune steht auf der Warteliste und rückt nach, wenn ein Platz frei wird."),
    State.ATTENDING: N_(
        "Das Team nimmt an den Werkstätten und der Fachtagung teil und arbeitet am Praxisprojekt."
    ),
    State.PROJECT_DONE: N_("Das Praxisprojekt ist abgeschlossen; die Zertifikate werden vorbereitet."),
    State.CERTIFIED: N_(
        "Die Teammitglieder haben ihre Zertifikate erhalten. Das Verfahren ist abgeschlossen."
    ),
    State.REJECTED: N_("Die Bewerbung wurde nicht zugelassen. Die Begründung steht im Brief an die Kommune."),
    State.WITHDRAWN: N_("Die Kommune hat die Bewerbung zurückgezogen oder auf ihren Platz verzichtet."),
    State.DROPPED_OUT: N_("Das Team hat die Teilnahme vorzeitig beendet."),
}


@web.get("/hilfe")
def help_page() -> str:
    """Help for each role in German, with the workflow diagram generated from the one machine definition."""
    data = WORKFLOW.as_data()
    # Two steps, not _(s["label"]): Babel would extract the key "label" as a message.
    captions = {s["name"]: s["label"] for s in data["states"]}
    diagram = svg_diagram(data, {state: _(label) for state, label in captions.items()})
    states = [(_(STATE_LABELS[state]), _(STATE_HELP[state])) for state in State]
    return render_template("web/help.html", states=states, diagram=Markup(diagram), office=office())


def asks_confirmation(option: Decision, actor: Actor) -> bool:
    """Whether the case page leads to the confirmation page for this option instead of firing it: the
    transition is consequential (`TransitionSpec.confirm`), or refused in a way the actor may override
    there with a reason."""
    return option.spec.confirm or WORKFLOW.overridable(option, actor)


@web.get("/faelle/<int:case_id>")
@login_required
def case_page(case_id: int) -> str:
    """One case for every role: content by role (the workflow's per-state permissions decide), and exactly
    the actions allowed now as buttons; consequential ones lead to a confirmation page first."""
    case = readable_case(case_id)
    session = db_session()
    actor = my_actor()
    state = State(case.state)
    options = transition_options(session, case, actor)
    participating = state in PARTICIPATING  # attendance and a practice project to show
    assessed = assessment(session, case, me())
    return render_template(
        "web/case.html",
        case=case,
        state_label=_(STATE_LABELS[state]),
        options=options,
        confirm={o.spec.name for o in options if asks_confirmation(o, actor)},
        overridable={o.spec.name for o in options if WORKFLOW.overridable(o, actor)},
        show_version=permits(state, Permission.TIMELINE, actor.role),
        assessment=assessed,
        criteria=[(c, CRITERION_LABELS[c]) for c in CRITERIA],
        criterion_labels=CRITERION_LABELS,
        recommendation_labels=RECOMMENDATION_LABELS,
        ranking_rule=_(RANKING_RULE),
        figures=figures_of(session, case.cohort) if assessed.rank is not None else None,
        register=attendance_register(session, case) if participating else None,
        project=(
            session.scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))
            if participating
            else None
        ),
        project_labels=PROJECT_LABELS,
        certificates=(
            session.scalars(
                select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
            ).all()
            if permits(state, Permission.CERTIFICATES, actor.role)
            else []
        ),
        links=case_links(case),
        erased=case_erasure_note(case),
        person_erased=_("gelöscht ({reason})", reason=label_of("erasure_category", "request")),
        legal_hold_url=(
            url_for("office.legal_hold", case_id=case.id) if actor.role is Role.COORDINATOR else None
        ),
    )


def case_erasure_note(case: Case) -> str | None:
    """ "gelöscht am 12.03.2037 (Grund)" for the fields an erasure of the case blanked; None before it."""
    if case.personal_data_erased_at is None:
        return None
    return _(
        "gelöscht am {date} ({reason})",
        date=de_date(case.personal_data_erased_at),
        reason=label_of("erasure_category", case.personal_data_erasure_category or "request"),
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
