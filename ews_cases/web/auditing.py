"""Pages of the role `auditor` (prefix `/pruefung`): the global log, exports, the case list, a case's timeline,
the chain status.

Every page here only reads: auditors never change anything (SPEC §2), so there are GET links and GET
filter forms only. Coordinators may read these pages too, as they may use the audit API. How the events are
shown (labels, `describe`) is in `auditing_events`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, stream_with_context, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from wtforms import DateField, HiddenField, IntegerField, StringField
from wtforms.validators import AnyOf, Length, NumberRange, Optional, Regexp

from ews_cases.api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT, paginate
from ews_cases.audit.chain import Break, verify_database, verify_records
from ews_cases.audit.export import iter_export
from ews_cases.audit.queries import AuditFilter, iter_records, select_events
from ews_cases.db.request_session import db_session
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.formatting import de_timestamp
from ews_cases.i18n.spreadsheets import CSV_DIALECTS, FOR_PEOPLE, UNKNOWN_DIALECT
from ews_cases.i18n.translate import N_, _
from ews_cases.models import AuditChainHead, AuditEvent, Case, Certificate, Cohort, User, case_chain, utcnow
from ews_cases.services.case_search import CaseFilter, select_cases
from ews_cases.web.access import me, my_actor, readable_case, roles_required
from ews_cases.web.auditing_events import EventView, action_label, chain_case_id, describe, problem_text
from ews_cases.web.auditing_labels import ACTION_LABELS
from ews_cases.web.paging import paginate_rows
from workflows import BERLIN, STATE_LABELS, State

auditing = Blueprint("auditing", __name__, url_prefix="/pruefung")
AUDIT_READERS = ("auditor", "coordinator")
EXPORT_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}

CASES_PER_PAGE = 50
STATE_VALUES = frozenset(s.value for s in State)
REFERENCE_RE = re.compile(r"^EWS\d+-\d+$", re.IGNORECASE)
#: `?order=`: oldest first (the default: the order of the hash chain and of a file) or newest first.
ORDERS = ("oldest", "newest")
NEWEST_FIRST = "newest"


# -- the filter form -------------------------------------------------------------------------------------


class LogFilterForm(FlaskForm):
    """The log's filters as a GET form (no CSRF: it changes nothing). `from`/`to` are Berlin days."""

    class Meta:
        csrf = False

    cohort = IntegerField(
        N_("Durchgang"),
        validators=[Optional(), NumberRange(1, 10_000, message=N_("Bitte eine Durchgangsnummer angeben."))],
        invalid_value_message=N_("Bitte eine Durchgangsnummer angeben."),
    )
    case = StringField(
        N_("Fall"),
        validators=[Optional(), Length(max=20, message=N_("Höchstens 20 Zeichen."))],
        description=N_("Aktenzeichen (z. B. EWS6-0007) oder Fallnummer"),
    )
    actor = StringField(
        N_("Akteur"),
        validators=[Optional(), Length(max=254, message=N_("Höchstens 254 Zeichen."))],
        description=N_("E-Mail-Adresse, user:3 oder system:record_review"),
    )
    action = StringField(
        N_("Aktion"),
        validators=[
            Optional(),
            Length(max=61, message=N_("Höchstens 61 Zeichen.")),
            Regexp(
                r"^[A-Za-z0-9_.:-]*\*?$",
                message=N_("Erwartet wird z. B. transition.admit oder transition.*."),
            ),
        ],
        description=N_("genau, oder als Anfang mit * (z. B. transition.*)"),
        render_kw={"list": "bekannte-aktionen"},
    )
    since = DateField(
        N_("von (Tag)"),
        name="from",
        validators=[Optional()],
        format=["%Y-%m-%d", "%d.%m.%Y"],
        invalid_value_message=N_("Bitte ein Datum angeben, z. B. 30.06.2027."),
    )
    until = DateField(
        N_("bis (Tag, einschließlich)"),
        name="to",
        validators=[Optional()],
        format=["%Y-%m-%d", "%d.%m.%Y"],
        invalid_value_message=N_("Bitte ein Datum angeben, z. B. 30.06.2027."),
    )
    limit = IntegerField(
        N_("Einträge pro Seite"),
        default=DEFAULT_LIMIT,
        validators=[Optional(), NumberRange(1, MAX_LIMIT, message=N_("Bitte 1 bis 500 angeben."))],
        invalid_value_message=N_("Bitte 1 bis 500 angeben."),
    )
    cursor = HiddenField()
    order = HiddenField(validators=[Optional(), AnyOf(ORDERS, message=N_("Unbekannte Reihenfolge."))])

    FILTERS = ("cohort", "case", "actor", "action", "from", "to")

    def filter_args(self) -> dict[str, str]:
        """The filters as given (query-string names), for the export links and the next page."""
        return {name: request.args[name] for name in self.FILTERS if request.args.get(name, "").strip()}


def _berlin_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, BERLIN)


def _read_filters(session: Session, form: LogFilterForm) -> AuditFilter | None:
    """The form as an `AuditFilter`, or None with the errors next to the fields."""
    if not form.validate():
        return None
    case_id, case_error = _case_id(session, (form.case.data or "").strip())
    actor, actor_error = _actor_label(session, (form.actor.data or "").strip())
    if case_error:
        form.case.errors.append(case_error)
    if actor_error:
        form.actor.errors.append(actor_error)
    if case_error or actor_error:
        return None
    try:
        return AuditFilter(
            cohort=form.cohort.data,
            case_id=case_id,
            actor=actor,
            action=(form.action.data or "").strip() or None,
            since=_berlin_midnight(form.since.data) if form.since.data else None,
            until=_berlin_midnight(form.until.data + timedelta(days=1)) if form.until.data else None,
        )
    except ValidationFailed as invalid:
        fields = {f.name: f for f in form}
        for key, messages in invalid.errors.items():
            fields.get(key, form.since).errors.extend(messages)
        return None


def _case_id(session: Session, given: str) -> tuple[int | None, str | None]:
    if not given:
        return None, None
    if given.isdigit():
        number = int(given)
        return (number, None) if number <= MAX_ID else (None, _("Keine gültige Fallnummer."))
    if REFERENCE_RE.match(given):
        found = session.scalar(select(Case.id).where(Case.reference == given.upper()))
        if found is not None:
            return found, None
        return None, _("Kein Fall mit dem Aktenzeichen {reference}.", reference=given.upper())
    return None, _("Bitte ein Aktenzeichen (z. B. EWS6-0007) oder eine Fallnummer angeben.")


def _actor_label(session: Session, given: str) -> tuple[str | None, str | None]:
    if not given:
        return None, None
    if re.fullmatch(r"(user|system):\S+", given):
        return given, None
    if "@" in given:
        found = session.scalar(select(User.id).where(func.lower(User.email) == given.lower()))
        if found is not None:
            return f"user:{found}", None
        return None, _("Keine Person mit dieser E-Mail-Adresse.")
    return None, _("Erwartet wird eine E-Mail-Adresse, user:3 oder system:record_review.")


def known_actions() -> list[tuple[str, str]]:
    """The actions the filter suggests, with their German labels."""
    actions = [(code, action_label(code)) for code in sorted(ACTION_LABELS)]
    return [("transition.*", _("alle Statuswechsel")), *actions]


def newest_first() -> bool:
    return request.args.get("order") == NEWEST_FIRST


@auditing.context_processor
def _helpers() -> dict[str, Any]:
    return {"problem_text": problem_text, "chain_case_id": chain_case_id, "state_label": state_label}


def state_label(state: str) -> str:
    return _(STATE_LABELS[State(state)]) if state in STATE_VALUES else state


# -- pages -----------------------------------------------------------------------------------------------


@auditing.get("")
@roles_required(*AUDIT_READERS)
def log() -> Any:
    """The global log, filtered, oldest first, one page at a time ("Weitere Einträge")."""
    session = db_session()
    form = LogFilterForm(formdata=request.args)
    filters = _read_filters(session, form)
    views: list[EventView] = []
    next_cursor: str | None = None
    problems: list[str] = []
    if filters is not None:
        query = {"cursor": form.cursor.data or None, "limit": form.limit.data or DEFAULT_LIMIT}
        try:
            page = paginate(
                session,
                select_events(filters),
                AuditEvent.id,
                query,
                lambda e: {"event": e},
                descending=form.order.data == NEWEST_FIRST,
            )
        except ValidationFailed as invalid:
            problems = [m for messages in invalid.errors.values() for m in messages]
        else:
            views = describe(session, (item["event"] for item in page["items"]))
            next_cursor = page["next_cursor"]
    args = form.filter_args()
    limit = {"limit": str(form.limit.data)} if form.limit.data and form.limit.data != DEFAULT_LIMIT else {}
    order = {"order": NEWEST_FIRST} if form.order.data == NEWEST_FIRST else {}
    return render_template(
        "auditing/log.html",
        form=form,
        views=views,
        problems=problems,
        filtered=bool(args),
        continued=bool(form.cursor.data),
        newest_first=bool(order),
        order_args={**args, **limit},
        next_url=url_for("auditing.log", **args, **limit, **order, cursor=next_cursor)
        if next_cursor
        else None,
        first_url=url_for("auditing.log", **args, **limit, **order),
        export_urls={
            **{fmt: url_for("auditing.export", fmt=fmt, **args) for fmt in EXPORT_MEDIA_TYPES},
            "csv_rfc4180": url_for("auditing.export", fmt="csv", dialect="rfc4180", **args),
        },
        known_actions=known_actions(),
    ), (200 if filters is not None and not problems else 422)


@auditing.get("/export.<any(csv, jsonl):fmt>")
@roles_required(*AUDIT_READERS)
def export(fmt: str) -> Any:
    """The log as CSV or JSON Lines, streamed; with filters only the matching events (in chain order). CSV is
    for Excel in a German locale unless `?dialect=rfc4180` asks for the comma-separated form for tools."""
    dialect = request.args.get("dialect", FOR_PEOPLE)
    if dialect not in CSV_DIALECTS:
        return Response(_(UNKNOWN_DIALECT), status=400, mimetype="text/plain")
    form = LogFilterForm(formdata=request.args)
    filters = _read_filters(db_session(), form)
    if filters is None:
        return redirect(url_for("auditing.log", **request.args)), 303
    whole = not form.filter_args()
    response = Response(
        stream_with_context(_export_chunks(fmt, None if whole else filters, dialect)),
        mimetype=EXPORT_MEDIA_TYPES[fmt],
    )
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f"attachment; filename=ews-audit-{stamp}.{fmt}"
    return response


def _export_chunks(fmt: str, filters: AuditFilter | None, dialect: str) -> Iterator[bytes]:
    """Runs while the response streams: Flask 3.1 tears the view's request context down when it returns
    and pushes it again around the stream, so the DB session is opened here (see `api.audit`)."""
    session = db_session()
    records = iter_records(session, filters) if filters is not None else None
    yield from iter_export(session, fmt, records, dialect=dialect)


@auditing.get("/bewerbungen")
@roles_required(*AUDIT_READERS)
def cases() -> str:
    """Every case, found by reference or municipality, cohort and state; each leads to its timeline."""
    session = db_session()
    number = request.args.get("durchgang", type=int)
    state = request.args.get("status", "")
    state = state if state in STATE_VALUES else ""
    text = request.args.get("q", "").strip()[:100]
    stmt = (
        select_cases(my_actor(), me().municipality, CaseFilter(cohort=number, state=state or None, text=text))
        .join(Cohort, Cohort.id == Case.cohort_id)
        .order_by(Cohort.number.desc(), Case.number)
    )
    filters = {k: v for k, v in (("q", text), ("durchgang", number), ("status", state)) if v}
    return render_template(
        "auditing/cases.html",
        page=paginate_rows(session, stmt, CASES_PER_PAGE),
        filters=filters,
        cohorts=session.execute(select(Cohort.number, Cohort.title).order_by(Cohort.number.desc())).all(),
        states=[(s.value, _(STATE_LABELS[s])) for s in State],
    )


@auditing.get("/faelle/<int:case_id>")
@roles_required(*AUDIT_READERS)
def timeline(case_id: int) -> str:
    """Everything that happened to one case, as sentences, oldest first (`?order=newest`: newest first),
    and whether its chain verifies."""
    session = db_session()
    case = readable_case(case_id)
    heads = dict(
        session.execute(
            select(AuditChainHead.chain, AuditChainHead.hash).where(
                AuditChainHead.chain == case_chain(case.id)
            )
        ).all()
    )
    verification = verify_records(iter_records(session, AuditFilter(case_id=case.id)), heads)
    order = AuditEvent.position.desc() if newest_first() else AuditEvent.position
    events = session.scalars(select_events(AuditFilter(case_id=case.id)).order_by(order))
    return render_template(
        "auditing/timeline.html",
        case=case,
        state_label=_(STATE_LABELS[State(case.state)]),
        newest_first=newest_first(),
        views=describe(session, events),
        verification=verification,
        first_break=_first(verification.breaks),
        certificates=session.scalars(
            select(Certificate).where(Certificate.case_id == case.id).order_by(Certificate.serial)
        ).all(),
    )


@auditing.get("/pruefkette")
@roles_required(*AUDIT_READERS)
def chain() -> str:
    """Recompute every hash chain; "intakt", or the first broken event."""
    verification = verify_database(db_session())
    return render_template(
        "auditing/chain.html",
        verification=verification,
        first_break=_first(verification.breaks),
        checked_at=de_timestamp(utcnow()),
    )


def _first(breaks: list[Break]) -> Break | None:
    return breaks[0] if breaks else None
