"""Cases: create, read, edit drafts, transitions, reviews and history."""

from __future__ import annotations

from typing import Any

from apiflask import abort
from flask import Response, jsonify

from ews_cases.api.auth import allow, current_actor, current_user
from ews_cases.api.blueprint import api
from ews_cases.api.case_schemas import (
    CaseCreateIn,
    CaseOut,
    CasePage,
    CasePatchIn,
    CaseQuery,
    HistoryOut,
    ReviewIn,
    ReviewList,
    ReviewOut,
    TransitionIn,
    TransitionOptions,
    case_data,
)
from ews_cases.api.pagination import paginate
from ews_cases.audit import chain
from ews_cases.audit.queries import case_history as case_history_records
from ews_cases.audit.queries import with_personal
from ews_cases.db.request_session import db_session
from ews_cases.errors import NotFound
from ews_cases.i18n.translate import _
from ews_cases.models import Case, Review
from ews_cases.services.case_search import CaseFilter, select_cases
from ews_cases.services.cases import CaseInput, MemberInput, case_snapshot, create_case, update_draft
from ews_cases.services.locking import lock_case
from ews_cases.services.permissions import can_read_case
from ews_cases.services.reviews import readable_reviews, record_review
from ews_cases.services.transitions import apply_transition, transition_options
from workflows import Decision

CASE_READERS = ("applicant", "reviewer", "coordinator", "auditor")


def load_case(case_id: int, *, lock: bool = False) -> Case:
    """The case if the caller may read it; 404 otherwise (never reveal another municipality's case).

    `lock=True` loads it with the row lock the service takes anyway (one query instead of two).
    """
    try:
        case = lock_case(db_session(), case_id) if lock else db_session().get(Case, case_id)
    except NotFound:
        case = None
    user = current_user()
    if case is None or not can_read_case(current_actor(), case, user.municipality):
        abort(404)
    return case


def _content(data: dict[str, Any], base: CaseInput | None = None) -> CaseInput:
    base = base or CaseInput()
    contact = data.get("contact")
    answers = data.get("answers")
    team = data.get("team")
    return CaseInput(
        # A contact left out of a new case is `{}` (the schema's default is not loaded through PersonIn).
        contact_name=contact.get("name", "") if contact is not None else base.contact_name,
        contact_email=contact.get("email", "") if contact is not None else base.contact_email,
        contact_phone=contact.get("phone", "") if contact is not None else base.contact_phone,
        contact_salutation=contact.get("salutation", "") if contact is not None else base.contact_salutation,
        team=[MemberInput(**m) for m in team] if team is not None else base.team,
        answers=answers if answers is not None else base.answers,
        consent=data.get("consent", base.consent),
    )


def _current_content(case: Case) -> CaseInput:
    snap = case_snapshot(case)
    return CaseInput(
        contact_name=snap["contact"]["name"],
        contact_email=snap["contact"]["email"],
        contact_phone=snap["contact"]["phone"],
        contact_salutation=snap["contact"]["salutation"],
        team=[MemberInput(**m) for m in snap["team"]],
        answers=snap["answers"],
        consent=snap["consent"],
    )


@api.post("/cases")
@allow("applicant", "coordinator")
@api.input(CaseCreateIn, arg_name="data")
@api.output(CaseOut, status_code=201)
@api.doc(responses=[403, 409, 422])
def create_case_endpoint(data: dict[str, Any]) -> dict[str, Any]:
    """Create a draft application for one municipality and cohort."""
    session = db_session()
    case = create_case(
        session,
        current_actor(),
        cohort_number=data["cohort"],
        municipality_ags=data["municipality"],
        content=_content(data),
    )
    session.commit()
    return case_data(case)


@api.get("/cases")
@allow(*CASE_READERS)
@api.input(CaseQuery, location="query", arg_name="query")
@api.output(CasePage)
def list_cases(query: dict[str, Any]) -> dict[str, Any]:
    """Cases the caller may read, filtered by cohort, state and a search over reference and municipality."""
    filters = CaseFilter(cohort=query["cohort"], state=query["state"], text=query["q"] or "")
    stmt = select_cases(current_actor(), current_user().municipality, filters)
    return paginate(db_session(), stmt, Case.id, query, case_data)


@api.get("/cases/<int:case_id>")
@allow(*CASE_READERS)
@api.output(CaseOut)
@api.doc(responses=[404])
def get_case(case_id: int) -> dict[str, Any]:
    """One case."""
    return case_data(load_case(case_id))


@api.patch("/cases/<int:case_id>")
@allow("applicant", "coordinator")
@api.input(CasePatchIn, arg_name="data")
@api.output(CaseOut)
@api.doc(responses=[403, 404, 409, 422])
def patch_case(case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Edit a draft; `version` must be the current one. Parts not given stay as they are."""
    session = db_session()
    case = load_case(case_id)
    content = _content(data, _current_content(case))
    case = update_draft(session, case, current_actor(), expected_version=data["version"], content=content)
    session.commit()
    return case_data(case)


def _option(decision: Decision) -> dict[str, Any]:
    spec = decision.spec
    return {
        "name": spec.name,
        "label": _(spec.label),
        "to": spec.dest.value,
        "requires_reason": spec.requires_reason,
        "allowed": decision.allowed,
        "reasons": [{"code": r.code, "message": r.render(_)} for r in decision.refusals],
    }


@api.get("/cases/<int:case_id>/transitions")
@allow(*CASE_READERS)
@api.output(TransitionOptions)
@api.doc(responses=[404])
def list_transitions(case_id: int) -> dict[str, Any]:
    """What the caller may do with the case now, and what is refused with the reasons."""
    case = load_case(case_id)
    options = [_option(d) for d in transition_options(db_session(), case, current_actor())]
    return {
        "state": case.state,
        "version": case.version,
        "allowed": [o for o in options if o["allowed"]],
        "refused": [o for o in options if not o["allowed"]],
    }


@api.post("/cases/<int:case_id>/transitions")
@allow("applicant", "coordinator")
@api.input(TransitionIn, arg_name="data")
@api.output(CaseOut)
@api.doc(operation_id="apply_transition", responses=[403, 404, 409, 422])
def post_transition(case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Apply one transition, naming the version the caller saw (stale → 409)."""
    session = db_session()
    case = load_case(case_id, lock=True)
    case = apply_transition(
        session,
        case,
        data["name"],
        current_actor(),
        data["version"],
        data["reason"],
        override=data["override"],
    )
    answer = case_data(case)  # reads the team inside the transaction, not in a second one after it
    session.commit()
    return answer


def _review_data(review: Review) -> dict[str, Any]:
    return {
        "id": review.id,
        "case": review.case_id,
        "reviewer": review.reviewer_id,
        "scores": review.scores(),
        "recommendation": review.recommendation,
        "comment": review.comment,
        "created_at": review.created_at,
    }


@api.get("/cases/<int:case_id>/reviews")
@allow("reviewer", "coordinator", "auditor")
@api.output(ReviewList)
@api.doc(responses=[404])
def list_reviews(case_id: int) -> dict[str, Any]:
    """Reviews of a case; a reviewer sees only their own (to keep the assessments independent)."""
    case = load_case(case_id)
    reviews = readable_reviews(db_session(), case, current_user())
    return {"items": [_review_data(r) for r in reviews], "case_state": case.state}


@api.post("/cases/<int:case_id>/reviews")
@allow("reviewer")
@api.input(ReviewIn, arg_name="data")
@api.output(ReviewOut, status_code=201)
@api.doc(operation_id="create_review", responses=[403, 404, 409, 422])
def post_review(case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Record the caller's review; the last required review moves the case to `reviewed`."""
    session = db_session()
    case = load_case(case_id)
    review = record_review(
        session,
        case,
        current_user(),
        scores=data["scores"],
        recommendation=data["recommendation"],
        comment=data["comment"],
    )
    session.commit()
    return _review_data(review)


@api.get("/cases/<int:case_id>/history")
@allow("coordinator", "auditor")
@api.output(HistoryOut)
@api.doc(operation_id="get_case_history", responses=[404])
def case_history(case_id: int) -> Response:
    """The case's audit events, oldest first, and whether its chain verifies."""
    session = db_session()
    records = with_personal(session, case_history_records(session, load_case(case_id).id))
    # The records are already what HistoryOut describes, in JSON types: not a second pass through the
    # schema (it was most of the request's time for a long history; bench/audit_scale.py).
    return jsonify(items=records, chain_ok=chain.verify_records(records).ok)
