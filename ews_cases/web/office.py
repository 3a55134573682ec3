"""Pages of the programme office (role `coordinator`, prefix `/programm`).

Each POST calls one service in one transaction and commits; a refusal rolls back and is shown next to
the fields (or as a message) with the service's German words. The dashboard's figures are defined once
elsewhere (`services.figures`, `Cohort.days_until_deadline`); the pages only show them. The pages of one
participating case (attendance, practice project, certificates) are in `office_participation.py`, on the
same blueprint.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ews_cases.db.request_session import db_session
from ews_cases.errors import Conflict, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import (
    Case,
    Cohort,
    CohortSession,
    Municipality,
    OutboxMessage,
    ReminderSent,
    utcnow,
)
from ews_cases.models.outbox import OUTBOX_STATUSES
from ews_cases.services.admission import RANKING_RULE, free_place, ranking
from ews_cases.services.cohorts import COHORT_DEFAULTS, add_session, create_cohort, get_cohort, update_cohort
from ews_cases.services.figures import figures_of
from ews_cases.web.access import my_actor, roles_required
from ews_cases.web.office_forms import (
    ATTENDANCE_LABELS,
    SESSION_KIND_LABELS,
    CohortForm,
    NewCohortForm,
    SessionForm,
)
from ews_cases.web.paging import paginate_rows
from workflows import BERLIN, STATE_LABELS, State

office = Blueprint("office", __name__, url_prefix="/programm")

PAGE_SIZE = 100
#: Cases whose attendance, practice project and certificates the office works on.
PARTICIPATING = (State.ATTENDING, State.PROJECT_DONE, State.CERTIFIED, State.DROPPED_OUT)
OUTBOX_LABELS = {
    "pending": N_("wartet"),
    "sent": N_("versendet"),
    "failed": N_("fehlgeschlagen"),
    "cancelled": N_("abgebrochen"),
}
PROJECT_LABELS = {"planned": N_("geplant"), "submitted": N_("eingereicht"), "approved": N_("freigegeben")}


# -- presentation helpers -------------------------------------------------------------------------------
def state_label(state: str) -> str:
    return _(STATE_LABELS[State(state)])


@office.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "state_label": state_label,
        "kind_labels": SESSION_KIND_LABELS,
        "attendance_labels": ATTENDANCE_LABELS,
        "outbox_labels": OUTBOX_LABELS,
        "project_labels": PROJECT_LABELS,
    }


def _cohort_or_404(session: Session, number: int) -> Cohort:
    try:
        return get_cohort(session, number)
    except NotFound:
        abort(404)


def typed_fields_only(form: FlaskForm, *names: str) -> bool:
    """Whether only these typed fields are invalid (a 422 with the errors next to them), and not the CSRF
    token or the hidden fields the page fills in (a 400)."""
    return bool(form.errors) and set(form.errors) <= set(names)


def see_other(endpoint: str, **values: Any) -> Response:
    """Redirect after a successful POST (303: the browser follows with GET)."""
    return redirect(url_for(endpoint, **values), 303)


# -- dashboard ------------------------------------------------------------------------------------------
@office.get("")
@roles_required("coordinator")
def dashboard() -> Any:
    """One cohort at a glance: cases per state, places left, countdown, reminders, failed emails; the
    admission ranking, and while a place is free and cases wait on the list, the one proposed for it."""
    session = db_session()
    cohorts = session.scalars(select(Cohort).order_by(Cohort.number.desc())).all()
    number = request.args.get("durchgang", type=int)
    if number is None:
        cohort = cohorts[0] if cohorts else None
    else:
        cohort = next((c for c in cohorts if c.number == number), None) or abort(404)
    failed = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "failed")
    )
    if cohort is None:
        return render_template("office/dashboard.html", cohort=None, cohorts=cohorts, failed=failed)
    figures = figures_of(session, cohort)
    now = utcnow()
    return render_template(
        "office/dashboard.html",
        cohort=cohort,
        cohorts=cohorts,
        figures=figures,
        free=free_place(session, cohort, figures),
        started=cohort.starts_on is not None and cohort.starts_on <= now.astimezone(BERLIN).date(),
        ranking_rule=_(RANKING_RULE),
        days_left=cohort.days_until_deadline(now),
        reminders=session.scalar(
            select(func.count()).select_from(ReminderSent).where(ReminderSent.cohort_id == cohort.id)
        ),
        failed=failed,
        candidates=ranking(session, cohort),
        sessions=session.scalars(
            select(CohortSession)
            .where(CohortSession.cohort_id == cohort.id)
            .order_by(CohortSession.starts_at, CohortSession.id)
        ).all(),
        participating=[s.value for s in PARTICIPATING],
    )


# -- case list ------------------------------------------------------------------------------------------
@office.get("/bewerbungen")
@roles_required("coordinator")
def cases() -> str:
    """All cases, filtered by cohort, state and a search over reference and municipality."""
    session = db_session()
    number = request.args.get("durchgang", type=int)
    state = request.args.get("status", "")
    state = state if state in {s.value for s in State} else ""
    query = request.args.get("q", "").strip()[:100]
    page = max(request.args.get("seite", 1, type=int), 1)
    stmt = select(Case).join(Cohort, Cohort.id == Case.cohort_id)
    if number is not None:
        stmt = stmt.where(Cohort.number == number)
    if state:
        stmt = stmt.where(Case.state == state)
    if query:
        # % and _ are searched for as themselves, not as LIKE wildcards
        matching = select(Municipality.ags).where(Municipality.name.icontains(query, autoescape=True))
        stmt = stmt.where(
            or_(Case.reference.icontains(query, autoescape=True), Case.municipality_ags.in_(matching))
        )
    rows = session.scalars(
        stmt.order_by(Cohort.number.desc(), Case.number).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    ).all()
    return render_template(
        "office/cases.html",
        cases=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        filters={"durchgang": number, "status": state, "q": query},
        link_args={k: v for k, v in (("durchgang", number), ("status", state), ("q", query)) if v},
        cohort_numbers=session.scalars(select(Cohort.number).order_by(Cohort.number.desc())).all(),
        states=list(State),
        participating=[s.value for s in PARTICIPATING],
    )


# -- cohorts and sessions -------------------------------------------------------------------------------
@office.route("/durchgaenge/neu", methods=["GET", "POST"])
@roles_required("coordinator")
def new_cohort() -> Any:
    session = db_session()
    form = NewCohortForm(data=None if request.method == "POST" else _new_cohort_defaults(session))
    if form.validate_on_submit():
        try:
            cohort = create_cohort(session, my_actor(), number=form.number.data, values=form.values())
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        except Conflict as error:
            session.rollback()
            form.number.errors = [*form.number.errors, error.render(_)]
        else:
            flash(_("Durchgang {number} angelegt.", number=cohort.number), "success")
            return see_other("office.dashboard", durchgang=cohort.number)
    return render_template("office/cohort_form.html", form=form, cohort=None), (422 if form.errors else 200)


def _new_cohort_defaults(session: Session) -> dict[str, Any]:
    newest = session.scalar(select(func.max(Cohort.number))) or 0
    return {**COHORT_DEFAULTS, "number": newest + 1}


@office.route("/durchgaenge/<int:number>/bearbeiten", methods=["GET", "POST"])
@roles_required("coordinator")
def edit_cohort(number: int) -> Any:
    """Change any setting, e.g. an earlier deadline closes the call early (audited with old and new)."""
    session = db_session()
    cohort = _cohort_or_404(session, number)
    form = CohortForm(obj=cohort)
    if form.validate_on_submit():
        try:
            update_cohort(session, my_actor(), cohort, form.changes(cohort))
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        else:
            flash(_("Durchgang {number} gespeichert.", number=number), "success")
            return see_other("office.dashboard", durchgang=number)
    return render_template("office/cohort_form.html", form=form, cohort=cohort), (422 if form.errors else 200)


@office.route("/durchgaenge/<int:number>/termine/neu", methods=["GET", "POST"])
@roles_required("coordinator")
def new_session(number: int) -> Any:
    session = db_session()
    cohort = _cohort_or_404(session, number)
    form = SessionForm()
    if form.validate_on_submit():
        try:
            add_session(session, my_actor(), cohort, **form.values())
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        else:
            flash(_("Termin „{title}“ angelegt.", title=form.title.data.strip()), "success")
            return see_other("office.dashboard", durchgang=number)
    return render_template("office/session_form.html", form=form, cohort=cohort), (
        422 if form.errors else 200
    )


# -- outbox ---------------------------------------------------------------------------------------------
#: What the delivery page shows unless asked otherwise: what still needs someone's attention.
OUTBOX_OPEN = ("pending", "failed")
OUTBOX_PER_PAGE = 50


@office.get("/e-mails")
@roles_required("coordinator")
def outbox() -> str:
    """Email delivery, newest first: waiting and failed messages unless other states are asked for
    (`?status=sent&status=cancelled`), found by recipient or case reference (`?q=`), page by page."""
    session = db_session()
    chosen = [status for status in request.args.getlist("status") if status in OUTBOX_STATUSES]
    statuses = chosen or list(OUTBOX_OPEN)
    text = request.args.get("q", "").strip()[:100]
    stmt = (
        select(OutboxMessage, Case.reference)
        .outerjoin(Case, Case.id == OutboxMessage.case_id)
        .where(OutboxMessage.status.in_(statuses))
    )
    if text:  # % and _ are searched for as themselves, not as LIKE wildcards
        stmt = stmt.where(
            or_(
                OutboxMessage.recipient.icontains(text, autoescape=True),
                Case.reference.icontains(text, autoescape=True),
            )
        )
    totals = dict.fromkeys(OUTBOX_STATUSES, 0)
    totals.update(
        dict(
            session.execute(
                select(OutboxMessage.status, func.count(OutboxMessage.id)).group_by(OutboxMessage.status)
            ).all()
        )
    )
    page = paginate_rows(
        session, stmt.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()), OUTBOX_PER_PAGE
    )
    return render_template(
        "office/outbox.html",
        page=page,
        statuses=statuses,
        asked=bool(chosen),
        shown=", ".join(_(OUTBOX_LABELS[status]) for status in statuses),
        text=text,
        filters={k: v for k, v in (("status", chosen), ("q", text)) if v},
        totals=totals,
    )
