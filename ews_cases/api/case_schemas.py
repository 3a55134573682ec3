"""Request and response schemas of the case endpoints (they also make the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.validators import Length, OneOf, Range, Regexp

from ews_cases.api.fields import AwareDateTime, Boolean, Dict, Integer, List, Nested, String
from ews_cases.i18n.translate import N_, _
from ews_cases.models import ANSWER_FIELDS, CRITERIA, RECOMMENDATIONS, Case
from ews_cases.services.cases import SALUTATIONS
from ews_cases.services.validation import EMAIL_RE
from workflows import STATE_LABELS, TRANSITIONS_BY_NAME, State

AGS = Regexp(r"^05\d{6}$", error=N_("Ein NRW-Gemeindeschlüssel hat 8 Ziffern und beginnt mit 05."))
TEXT = Length(max=20_000)


SALUTATION = OneOf(SALUTATIONS, error=N_("Erlaubt sind „Frau“, „Herr“ oder keine Anrede (leer)."))
#: The case states, as the workflow defines them (for the document's enums).
STATES = [s.value for s in State]
#: An application's addresses: checked when given (services/cases.py), empty while the draft lacks them.
DRAFT_EMAIL = {
    "pattern": f"^$|{EMAIL_RE.pattern}",
    "description": "An email address; may stay empty while the case is a draft",
}


class PersonIn(Schema):
    salutation = String(load_default="", validate=SALUTATION)
    name = String(load_default="", validate=Length(max=200))
    email = String(load_default="", validate=Length(max=254), metadata=DRAFT_EMAIL)
    phone = String(load_default="", validate=Length(max=50))


class MemberIn(Schema):
    salutation = String(load_default="", validate=SALUTATION)
    name = String(load_default="", validate=Length(max=200))
    email = String(load_default="", validate=Length(max=254), metadata=DRAFT_EMAIL)
    position = String(load_default="", validate=Length(max=200))


#: The four answers of an application (the model's ANSWER_FIELDS), each optional until submission.
AnswersIn = Schema.from_dict(
    {name: String(load_default="", validate=TEXT) for name in ANSWER_FIELDS}, name="AnswersIn"
)


class CaseCreateIn(Schema):
    cohort = Integer(required=True, validate=Range(1, 10_000))
    municipality = String(required=True, validate=AGS)
    contact = Nested(PersonIn, load_default=dict)
    team = List(Nested(MemberIn), load_default=list, validate=Length(max=20))
    answers = Nested(AnswersIn, load_default=dict)
    consent = Boolean(load_default=False)


class CasePatchIn(Schema):
    version = Integer(required=True, validate=Range(1))
    contact = Nested(PersonIn)
    team = List(Nested(MemberIn), validate=Length(max=20))
    answers = Nested(AnswersIn)
    consent = Boolean()


class CaseQuery(Schema):
    cohort = Integer(load_default=None, validate=Range(1, 10_000))
    state = String(load_default=None, validate=OneOf(STATES))
    q = String(load_default=None, validate=Length(max=100))
    limit = Integer(load_default=50, validate=Range(1, 500))
    cursor = String(load_default=None, validate=Length(max=40))


class MemberOut(Schema):
    id = Integer()
    salutation = String()
    name = String()
    email = String()
    position = String()


class MunicipalityRef(Schema):
    ags = String()
    name = String()
    type = String()
    kreis_name = String()
    regierungsbezirk = String()


class CaseContactOut(Schema):
    salutation = String()
    name = String()
    email = String()
    phone = String()


AnswersOut = Schema.from_dict({name: String() for name in ANSWER_FIELDS}, name="AnswersOut")


class CaseOut(Schema):
    id = Integer()
    reference = String(metadata={"description": "`EWS<cohort>-<nnnn>`", "example": "EWS6-0007"})
    cohort = Integer()
    municipality = Nested(MunicipalityRef)
    state = String(metadata={"enum": STATES})
    state_label = String()
    version = Integer(metadata={"description": "Name it in PATCH and transitions (optimistic lock)"})
    contact = Nested(CaseContactOut)
    team = List(Nested(MemberOut))
    answers = Nested(AnswersOut)
    consent = Boolean()
    created_at = AwareDateTime()
    updated_at = AwareDateTime()
    submitted_at = AwareDateTime(allow_none=True)


class CasePage(Schema):
    items = List(Nested(CaseOut))
    next_cursor = String(allow_none=True)


class TransitionIn(Schema):
    # The names as the workflow defines them; an unknown one is refused by the workflow (422).
    name = String(required=True, validate=Length(1, 40), metadata={"enum": list(TRANSITIONS_BY_NAME)})
    version = Integer(required=True, validate=Range(1))
    reason = String(load_default=None, allow_none=True, validate=Length(max=5000))
    override = Boolean(load_default=False)


class ReasonOut(Schema):
    code = String()
    message = String()


class TransitionOption(Schema):
    name = String(metadata={"enum": list(TRANSITIONS_BY_NAME)})
    label = String()
    to = String(metadata={"enum": STATES})
    requires_reason = Boolean()
    allowed = Boolean()
    reasons = List(Nested(ReasonOut))


class TransitionOptions(Schema):
    state = String(metadata={"enum": STATES})
    version = Integer()
    allowed = List(Nested(TransitionOption))
    refused = List(Nested(TransitionOption))


#: A score per criterion of the model (CRITERIA), 0 to 5: all of them in a review and in its answer.
Scores = Schema.from_dict(
    {name: Integer(required=True, validate=Range(0, 5)) for name in CRITERIA}, name="Scores"
)


class ReviewIn(Schema):
    scores = Nested(Scores, required=True)
    recommendation = String(required=True, validate=OneOf(RECOMMENDATIONS))
    comment = String(load_default="", validate=Length(max=10_000))


class ReviewOut(Schema):
    id = Integer()
    case = Integer()
    reviewer = Integer()
    scores = Nested(Scores)
    recommendation = String(metadata={"enum": list(RECOMMENDATIONS)})
    comment = String()
    created_at = AwareDateTime()


class ReviewList(Schema):
    items = List(Nested(ReviewOut))
    case_state = String(metadata={"enum": STATES})


class AuditEventOut(Schema):
    sequence = Integer()
    chain = String()
    position = Integer()
    case_id = Integer(allow_none=True)
    cohort = Integer(allow_none=True)
    occurred_at = String(metadata={"format": "date-time", "description": "UTC, microseconds (as hashed)"})
    actor = String()
    actor_role = String()
    action = String()
    from_state = String(allow_none=True)
    to_state = String(allow_none=True)
    data = Dict()
    request_id = String(allow_none=True)
    prev_hash = String()
    hash = String()
    #: Commitment id → value and salt, or when and why it was erased (docs/audit.md §7).
    personal = Dict()


class HistoryOut(Schema):
    items = List(Nested(AuditEventOut))
    chain_ok = Boolean()


def case_data(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "reference": case.reference,
        "cohort": case.cohort.number,
        "municipality": case.municipality,
        "state": case.state,
        "state_label": _(STATE_LABELS[State(case.state)]),
        "version": case.version,
        "contact": {
            "salutation": case.contact_salutation,
            "name": case.contact_name,
            "email": case.contact_email,
            "phone": case.contact_phone,
        },
        "team": case.team,
        "answers": case.answers(),
        "consent": case.consent,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "submitted_at": case.submitted_at,
    }
