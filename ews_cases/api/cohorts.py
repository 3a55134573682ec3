"""Cohorts (Durchgänge) and their sessions: read for every role, create and change for coordinators."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.api.auth import ALL_ROLES, READERS, allow, current_actor, current_user
from ews_cases.api.blueprint import api
from ews_cases.api.cohort_schemas import (
    CohortCreateIn,
    CohortFieldsIn,
    CohortOut,
    CohortPage,
    SessionCancelIn,
    SessionChangeIn,
    SessionIn,
    SessionList,
    SessionOut,
    cohort_data,
    session_data,
)
from ews_cases.api.pagination import PageQuery, paginate
from ews_cases.db.request_session import db_session
from ews_cases.models import Cohort, CohortSession, utcnow
from ews_cases.services.cohorts import add_session, create_cohort, get_cohort, update_cohort
from ews_cases.services.figures import cohort_figures
from ews_cases.services.session_changes import cancel_session, change_session, get_session

EVERYONE = sorted(ALL_ROLES)


def _cohorts_out(session: Session, cohorts: Sequence[Cohort]) -> list[dict[str, Any]]:
    """Cohorts as the API shows them, with cases per state and places left for the office and auditors."""
    now = utcnow()
    items = [cohort_data(cohort, now) for cohort in cohorts]
    if current_user().role in READERS:
        for item, figures in zip(items, cohort_figures(session, cohorts), strict=True):
            item.update(case_counts=dict(figures.case_counts), places_left=figures.places_left)
    return items


def _cohort_out(session: Session, cohort: Cohort) -> dict[str, Any]:
    return _cohorts_out(session, [cohort])[0]


@api.get("/cohorts")
@allow(*EVERYONE)
@api.input(PageQuery, location="query", arg_name="query")
@api.output(CohortPage)
def list_cohorts(query: dict[str, Any]) -> dict[str, Any]:
    """All cohorts, oldest first."""
    session = db_session()
    page = paginate(session, select(Cohort), Cohort.id, query, lambda cohort: {"cohort": cohort})
    page["items"] = _cohorts_out(session, [item["cohort"] for item in page["items"]])
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


@api.patch("/cohorts/<int:number>/sessions/<int:session_id>")
@allow("coordinator")
@api.input(SessionChangeIn, arg_name="data")
@api.output(SessionOut)
@api.doc(responses=[403, 404, 409, 422])
def patch_session(number: int, session_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Move a session: change its `title`, `starts_at`, `ends_at` or `location`.

    Every team member of a case that received the cohort's sessions gets an email with an iCalendar update
    (METHOD:REQUEST, the same UID, a higher SEQUENCE); audited as `session.updated`. A cancelled session is a 409.
    """
    session = db_session()
    event = change_session(session, current_actor(), get_session(session, number, session_id), **data)
    session.commit()
    return session_data(event, number)


@api.post("/cohorts/<int:number>/sessions/<int:session_id>/cancel")
@allow("coordinator")
@api.input(SessionCancelIn, arg_name="data")
@api.output(SessionOut)
@api.doc(responses=[403, 404, 409, 422])
def cancel_session_endpoint(number: int, session_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Call a session off with a `reason`.

    Its invitees get an email with an iCalendar cancellation (METHOD:CANCEL, STATUS:CANCELLED, the same UID);
    audited as `session.cancelled`. Cancelling twice is a 409.
    """
    session = db_session()
    event = cancel_session(
        session, current_actor(), get_session(session, number, session_id), reason=data["reason"]
    )
    session.commit()
    return session_data(event, number)
