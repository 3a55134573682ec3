"""The derived figures of a cohort, each defined once: days until the deadline, places left, cases per state."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort
from ews_cases.services.figures import CohortFigures, cohort_figures, figures_of
from ews_cases.services.transitions import apply_transition, transition_options
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, OLPE_KREIS, Factory
from tests.api.test_participation_api import bearer, token_for
from tests.services.test_transitions import refuse
from tests.web.helpers import login
from workflows import Actor, State

SUMMER, WINTER = date(2027, 6, 30), date(2027, 1, 15)
PASSWORD = "richtig-geheim-2027"
#: A test client and the headers of a coordinator's API token.
ApiClient = tuple[FlaskClient, dict[str, str]]


@pytest.mark.parametrize(
    ("deadline", "moment", "days"),
    [
        (SUMMER, datetime(2027, 6, 1, 7, 0, tzinfo=UTC), 29),
        (SUMMER, datetime(2027, 6, 29, 21, 59, tzinfo=UTC), 1),  # 23:59 in Berlin (CEST)
        (SUMMER, datetime(2027, 6, 29, 22, 0, tzinfo=UTC), 0),  # midnight in Berlin: the last day
        (SUMMER, datetime(2027, 6, 30, 21, 59, 59, 999_999, tzinfo=UTC), 0),  # the deadline itself
        (SUMMER, datetime(2027, 6, 30, 22, 0, tzinfo=UTC), -1),
        (WINTER, datetime(2027, 1, 15, 22, 59, tzinfo=UTC), 0),  # 23:59 in Berlin (CET)
        (WINTER, datetime(2027, 1, 15, 23, 0, tzinfo=UTC), -1),
        (WINTER, datetime(2027, 2, 1, 12, 0, tzinfo=UTC), -17),
    ],
)
def test_days_until_deadline_counts_berlin_days_and_turns_negative_exactly_after_the_deadline(
    deadline: date, moment: datetime, days: int
) -> None:
    cohort = Cohort(application_deadline=deadline)
    assert cohort.days_until_deadline(moment) == days
    assert (days < 0) is (moment > cohort.deadline_at)


# -- places left and cases per state: the dashboard, the API and the admit guard ---------------------------
@pytest.fixture
def office(app: Flask, session: Session, factory: Factory) -> FlaskClient:
    """A test client logged in as a coordinator (the dashboard)."""
    client = app.test_client()
    user = factory.user("coordinator", password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    return client


@pytest.fixture
def api(app: Flask, session: Session, factory: Factory) -> ApiClient:
    """A test client and the headers of a coordinator's API token."""
    return app.test_client(), bearer(token_for(session, factory, "coordinator"))


def dashboard_figures(office: FlaskClient, number: int) -> tuple[int, dict[str, int]]:
    """Places left and cases per state as the dashboard shows them."""
    response = office.get(f"/programm?durchgang={number}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    places = re.search(r'data-figure="places-left">\s*(\d+)\s*<', page)
    assert places, "no places-left figure on the dashboard"
    counts = {state: int(count) for state, count in re.findall(r'data-count="([a-z_]+)">\s*(\d+)\s*<', page)}
    return int(places.group(1)), counts


def api_figures(api: ApiClient, number: int) -> tuple[int, dict[str, int]]:
    """Places left and cases per state as `GET /api/v1/cohorts/N` answers them."""
    client, headers = api
    response = client.get(f"/api/v1/cohorts/{number}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    return body["places_left"], body["case_counts"]


def shown_places_left(session: Session, office: FlaskClient, api: ApiClient, cohort: Cohort) -> int:
    """Places left after checking that the dashboard, the API and the service say the same."""
    session.commit()  # on SQLite an open transaction would hold the lock the requests need
    page, answer = dashboard_figures(office, cohort.number), api_figures(api, cohort.number)
    figures = figures_of(session, cohort)
    assert page == answer == (figures.places_left, dict(figures.case_counts))
    return figures.places_left


def may_admit(session: Session, case: Case, coordinator: Actor) -> bool:
    """Whether the admit guard lets the coordinator admit `case` now (without firing it)."""
    options = {decision.spec.name: decision for decision in transition_options(session, case, coordinator)}
    return options["admit"].allowed


def test_dashboard_api_and_admit_guard_agree_on_places_left(
    session: Session, factory: Factory, office: FlaskClient, api: ApiClient
) -> None:
    cohort = factory.cohort(capacity=3)
    admitted = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    factory.case(cohort, ATTENDORN, state=State.ATTENDING)
    factory.case(cohort, OLPE_KREIS, state=State.SUBMITTED)  # holds no place
    first = factory.case(cohort, DUESSELDORF, state=State.REVIEWED)
    second = factory.case(cohort, BONN, state=State.WAITLISTED)
    coordinator = factory.coordinator()

    # capacity − 1 places taken: one left, and the guard admits
    assert shown_places_left(session, office, api, cohort) == 1
    assert may_admit(session, first, coordinator)
    apply_transition(session, first, "admit", coordinator, first.version)

    # at capacity: none left, and the guard refuses with the place_available refusal
    assert shown_places_left(session, office, api, cohort) == 0
    assert not may_admit(session, second, coordinator)
    refusal = refuse(session, second, "admit", coordinator)
    assert [(r.code, r.params) for r in refusal.refusals] == [("capacity_reached", {"capacity": 3})]

    # an admitted case withdraws: its place is free again, for the figures and for the guard
    apply_transition(session, admitted, "withdraw", coordinator, admitted.version)
    assert shown_places_left(session, office, api, cohort) == 1
    assert may_admit(session, second, coordinator)
    apply_transition(session, second, "admit", coordinator, second.version)
    assert shown_places_left(session, office, api, cohort) == 0


def test_figures_of_many_cohorts_come_in_the_order_asked_and_count_every_state(
    session: Session, factory: Factory
) -> None:
    full = factory.cohort(capacity=2)
    factory.case(full, FINNENTROP, state=State.ADMITTED)
    factory.case(full, ATTENDORN, state=State.ATTENDING)
    empty = factory.cohort(capacity=2)
    drafts = factory.cohort(capacity=5)
    factory.case(drafts, FINNENTROP)

    figures = cohort_figures(session, [empty, full, drafts])
    assert [(f.capacity, f.occupied, f.places_left) for f in figures] == [(2, 0, 2), (2, 2, 0), (5, 0, 5)]
    assert all(set(f.case_counts) == {state.value for state in State} for f in figures)
    assert sum(figures[0].case_counts.values()) == 0
    assert figures[2].case_counts["draft"] == 1
    assert cohort_figures(session, []) == []


def test_places_left_never_go_below_zero() -> None:
    counts = dict.fromkeys((state.value for state in State), 0) | {
        "admitted": 2,
        "attending": 1,
        "reviewed": 4,
    }
    figures = CohortFigures(capacity=2, case_counts=counts)
    assert (figures.occupied, figures.places_left) == (3, 0)
