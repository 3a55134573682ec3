"""Cohorts (Durchgänge) and their sessions: read for every role, create and change for coordinators."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.api.auth import ALL_ROLES, READERS, allow, current_actor, current_user
from ews_cases.api.blueprint import api
from ews_cases.api.cohort_schemas import (
    CohortCreateIn,
    CohortFieldsIn,
    CohortOut,
    CohortPage,
    SessionIn,
    SessionList,
    SessionOut,
    cohort_data,
    session_data,
)
from ews_cases.api.pagination import PageQuery, paginate
from ews_cases.db.request_session import db_session
from ews_cases.models import Case, Cohort, CohortSession, utcnow
from ews_cases.services.cohorts import add_session, create_cohort, get_cohort, update_cohort
from workflows import OCCUPYING_STATES, State

EVERYONE = sorted(ALL_ROLES)


def _case_counts(session: Session, numbers: list[int]) -> dict[int, dict[str, int]]:
    """Cases per state for each cohort number (every state present, zero when empty)."""
    counts = {number: {state.value: 0 for state in State} for number in numbers}
    rows = session.execute(
        select(Cohort.number, Case.state, func.count(Case.id))
        .join(Case, Case.cohort_id == Cohort.id)
        .where(Cohort.number.in_(numbers))
        .group_by(Cohort.number, Case.state)
    )
    for number, state, count in rows:
        counts[number][state] = count
    return counts


def _with_counts(session: Session, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add the per-state counts and the free places for the programme office and auditors."""
    if current_user().role not in READERS or not items:
        return items
    counts = _case_counts(session, [item["number"] for item in items])
    for item in items:
        item["case_counts"] = counts[item["number"]]
        occupied = sum(counts[item["number"]][state.value] for state in OCCUPYING_STATES)
        item["places_left"] = max(item["capacity"] - occupied, 0)
    return items


def _cohort_out(session: Session, cohort: Cohort) -> dict[str, Any]:
    return _with_counts(session, [cohort_data(cohort, utcnow())])[0]


@api.get("/cohorts")
@allow(*EVERYONE)
@api.input(PageQuery, location="query", arg_name="query")
@api.output(CohortPage)
def list_cohorts(query: dict[str, Any]) -> dict[str, Any]:
    """All cohorts, oldest first."""
    session = db_session()
    now = utcnow()
    page = paginate(session, select(Cohort), Cohort.id, query, lambda cohort: cohort_data(cohort, now))
    page["items"] = _with_counts(session, page["items"])
    return page


@api.post("/cohorts")
@allow("coordinator")
@api.input(CohortCreateIn, arg_name="data")
@api.output(CohortOut, status_code=201)
@api.doc(responses=[403, 409, 422])
def create_cohort_endpoint(data: dict[str, Any]) -> dict[str, Any]:
    """Create a cohort; omitted settings take the programme defaults (10 sites, teams of two, …)."""
    session = db_session()
    values = dict(data)
    number = values.pop("number")
    cohort = create_cohort(session, current_actor(), number=number, values=values)
    session.commit()
    return _cohort_out(session, cohort)


@api.get("/cohorts/<int:number>")
@allow(*EVERYONE)
@api.output(CohortOut)
@api.doc(responses=[404])
def get_cohort_endpoint(number: int) -> dict[str, Any]:
    """One cohort, with whether its call is open now and its exact closing moment."""
    session = db_session()
    return _cohort_out(session, get_cohort(session, number))


@api.patch("/cohorts/<int:number>")
@allow("coordinator")
@api.input(CohortFieldsIn, arg_name="data")
@api.output(CohortOut)
@api.doc(responses=[403, 404, 422])
def patch_cohort(number: int, data: dict[str, Any]) -> dict[str, Any]:
    """Change any settings of a cohort.

    Only the fields given change; e.g. an earlier `application_deadline` closes the call early. Every change
    is audited with the old and the new value.
    """
    session = db_session()
    cohort = update_cohort(session, current_actor(), get_cohort(session, number), data)
    session.commit()
    return _cohort_out(session, cohort)


@api.get("/cohorts/<int:number>/sessions")
@allow(*EVERYONE)
@api.output(SessionList)
@api.doc(responses=[404])
def list_sessions(number: int) -> dict[str, Any]:
    """The cohort's Fachtagung, workshops and closing ceremony, in time order."""
    session = db_session()
    cohort = get_cohort(session, number)
    events = session.scalars(
        select(CohortSession)
        .where(CohortSession.cohort_id == cohort.id)
        .order_by(CohortSession.starts_at, CohortSession.id)
    )
    return {"items": [session_data(e, cohort.number) for e in events], "next_cursor": None}


@api.post("/cohorts/<int:number>/sessions")
@allow("coordinator")
@api.input(SessionIn, arg_name="data")
@api.output(SessionOut, status_code=201)
@api.doc(responses=[403, 404, 422])
def create_session(number: int, data: dict[str, Any]) -> dict[str, Any]:
    """Add a dated session (kind `fachtagung`, `workshop` or `abschluss`) to a cohort."""
    session = db_session()
    event = add_session(session, current_actor(), get_cohort(session, number), **data)
    session.commit()
    return session_data(event, number)
