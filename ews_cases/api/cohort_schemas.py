"""Request and response schemas of the cohort and session endpoints (they also make the OpenAPI document).

The schemas check only the shape; ranges, date order and the Regierungsbezirk are checked by
`ews_cases.services.cohorts`, so the API and the web pages refuse the same things with the same words.
"""

from __future__ import annotations

import decimal
from datetime import UTC, date, datetime
from typing import Any

from apiflask import Schema
from apiflask.validators import Length, Range

from ews_cases.api.fields import (
    AwareDateTime,
    Boolean,
    Date,
    Decimal,
    Float,
    Integer,
    List,
    Nested,
    String,
)
from ews_cases.models import SESSION_KINDS, Cohort, CohortSession
from ews_cases.services.cohorts import COHORT_FIELDS, REGIERUNGSBEZIRKE, REMINDER_DAYS_RANGE, SETTING_RANGES
from workflows import State

_MAX_FUNDING = decimal.Decimal("9999999999.99")  # Numeric(12, 2)
#: Deadlines the answer can state: `deadline_at` is in Europe/Berlin, which before 1893 kept local mean time,
#: an offset with seconds (+00:53:28) that is no valid RFC 3339 time.
_DEADLINE_YEARS = Range(date(2000, 1, 1), date(2099, 12, 31))


def _bounds(low: int, high: int) -> dict[str, Any]:
    """The range the service checks, stated in the document (the schema itself checks only the shape)."""
    return {"minimum": low, "maximum": high}


_KINDS = {"enum": list(SESSION_KINDS)}


class CohortFieldsIn(Schema):
    """Every setting of a cohort, none required: the shape of `PATCH` (only the fields given change)."""

    title = String(validate=Length(1, 200))
    region = String(
        allow_none=True,
        validate=Length(max=40),
        metadata={
            "description": "Regierungsbezirk the call is limited to, or null for all of NRW",
            "enum": list(REGIERUNGSBEZIRKE),
        },
    )
    applications_open_at = AwareDateTime(allow_none=True)
    application_deadline = Date(
        validate=_DEADLINE_YEARS, metadata={"description": "Applications close 23:59:59 Europe/Berlin"}
    )
    capacity = Integer(metadata={"description": "Sites admitted", **_bounds(*SETTING_RANGES["capacity"])})
    team_size = Integer(metadata=_bounds(*SETTING_RANGES["team_size"]))
    starts_on = Date(allow_none=True)
    ends_on = Date(allow_none=True)
    reminder_days = List(
        Integer(metadata=_bounds(*REMINDER_DAYS_RANGE)),
        validate=Length(max=30),
        metadata={"description": "Days before the deadline on which reminders go out"},
    )
    min_attendance = Decimal(
        places=2, metadata={"description": "Share of workshops, 0 to 1", "minimum": 0, "maximum": 1}
    )
    required_reviews = Integer(metadata=_bounds(*SETTING_RANGES["required_reviews"]))
    ceremony_on = Date(allow_none=True)
    ceremony_place = String(allow_none=True, validate=Length(max=120))
    signatory_name = String(allow_none=True, validate=Length(max=200))
    signatory_title = String(allow_none=True, validate=Length(max=200))
    funding_eur = Decimal(
        places=2,
        allow_none=True,
        validate=Range(0, _MAX_FUNDING),
        # The document needs numbers: apispec would write the Decimal bounds as strings.
        metadata={"minimum": 0, "maximum": float(_MAX_FUNDING)},
    )


class CohortCreateIn(CohortFieldsIn):
    number = Integer(required=True, validate=Range(1, 10_000))
    title = String(required=True, validate=Length(1, 200))
    application_deadline = Date(
        required=True,
        validate=_DEADLINE_YEARS,
        metadata={"description": "Applications close 23:59:59 Europe/Berlin"},
    )


#: How many of a cohort's cases are in each state (every state of the workflow, 0 included).
CaseCounts = Schema.from_dict({state.value: Integer() for state in State}, name="CaseCounts")


class CohortOut(Schema):
    number = Integer()
    title = String()
    region = String(allow_none=True)
    applications_open_at = AwareDateTime(allow_none=True)
    application_deadline = Date()
    deadline_at = AwareDateTime(metadata={"description": "The exact closing moment (Europe/Berlin)"})
    open = Boolean(metadata={"description": "Whether applications are accepted now"})
    capacity = Integer()
    team_size = Integer()
    starts_on = Date(allow_none=True)
    ends_on = Date(allow_none=True)
    reminder_days = List(Integer())
    min_attendance = Float()
    required_reviews = Integer()
    ceremony_on = Date(allow_none=True)
    ceremony_place = String(allow_none=True)
    signatory_name = String(allow_none=True)
    signatory_title = String(allow_none=True)
    funding_eur = Float(allow_none=True)
    created_at = AwareDateTime()
    updated_at = AwareDateTime()
    case_counts = Nested(
        CaseCounts,
        allow_none=True,
        metadata={"description": "Cases per state (coordinators and auditors; null for other roles)"},
    )
    places_left = Integer(
        allow_none=True, metadata={"description": "Capacity minus admitted and attending cases (ditto)"}
    )


class CohortPage(Schema):
    items = List(Nested(CohortOut))
    next_cursor = String(allow_none=True)


class SessionIn(Schema):
    kind = String(required=True, metadata=_KINDS)
    title = String(required=True, validate=Length(1, 200))
    starts_at = AwareDateTime(required=True)
    ends_at = AwareDateTime(required=True)
    location = String(load_default="", validate=Length(max=200))


class SessionChangeIn(Schema):
    title = String(validate=Length(1, 200))
    starts_at = AwareDateTime()
    ends_at = AwareDateTime()
    location = String(validate=Length(1, 200))


class SessionCancelIn(Schema):
    reason = String(required=True, validate=Length(1, 5000))


class SessionOut(Schema):
    id = Integer()
    cohort = Integer()
    kind = String(metadata=_KINDS)
    title = String()
    starts_at = AwareDateTime()
    ends_at = AwareDateTime()
    location = String()
    sequence = Integer(
        metadata={"description": "iCalendar SEQUENCE: raised with every change sent to invitees"}
    )
    cancelled_at = AwareDateTime(allow_none=True)


class SessionList(Schema):
    items = List(Nested(SessionOut), metadata={"description": "All sessions of the cohort, in time order"})
    next_cursor = String(allow_none=True, metadata={"description": "Always null: the list is complete"})


def cohort_data(cohort: Cohort, now: datetime) -> dict[str, Any]:
    """A cohort as the API shows it; the endpoints add `case_counts` and `places_left` for readers."""
    data: dict[str, Any] = {name: getattr(cohort, name) for name in ("number", *COHORT_FIELDS)}
    opens = cohort.applications_open_at
    data.update(
        applications_open_at=opens.astimezone(UTC) if opens is not None else None,
        deadline_at=cohort.deadline_at,
        open=cohort.is_open(now),
        created_at=cohort.created_at,
        updated_at=cohort.updated_at,
        case_counts=None,
        places_left=None,
    )
    return data


def session_data(event: CohortSession, cohort_number: int) -> dict[str, Any]:
    return {
        "id": event.id,
        "cohort": cohort_number,
        "kind": event.kind,
        "title": event.title,
        "starts_at": event.starts_at.astimezone(UTC),
        "ends_at": event.ends_at.astimezone(UTC),
        "location": event.location,
        "sequence": event.sequence,
        "cancelled_at": event.cancelled_at.astimezone(UTC) if event.cancelled_at else None,
    }
