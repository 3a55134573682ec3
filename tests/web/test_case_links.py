"""The links to a case's other pages, pinned for every role × state: which pages the case page offers."""

from __future__ import annotations

import re

import pytest

from testkit.factories import DUESSELDORF
from tests.web.helpers import login
from workflows import State

PASSWORD = "Links-Passwort-1"
PARTICIPATING = (State.ATTENDING, State.PROJECT_DONE, State.CERTIFIED)
NAV = re.compile(r'<nav class="mt-4" aria-label="[^"]*">(.*?)</nav>', re.DOTALL)
HREF = re.compile(r'href="([^"]+)"')


def expected_links(role: str, state: State) -> list[str] | None:
    """The endpoints linked from the case page, in order; None: the role may not open the case (404)."""
    if role == "admin" or (role == "reviewer" and state == State.DRAFT):
        return None
    if role == "applicant":
        if state == State.DRAFT:
            return ["applicant.edit_case"]
        return ["applicant.project"] if state in PARTICIPATING else []
    if role == "reviewer":
        return ["reviewer.review"] if state == State.SUBMITTED else []
    if role == "auditor":
        return ["auditing.timeline"]
    links = ["applicant.edit_case"] if state == State.DRAFT else []
    if state in PARTICIPATING:
        links += ["office.attendance", "office.project"]
    if state in (State.PROJECT_DONE, State.CERTIFIED):
        links.append("office.certificates")
    return [*links, "auditing.timeline"]


@pytest.fixture
def cases(session, factory) -> dict[State, int]:
    """One case of Düsseldorf in every state, each in a cohort of its own (one case per cohort)."""
    ids = {}
    for state in State:
        cohort = factory.cohort()
        factory.workshop(cohort)
        ids[state] = factory.case(cohort, DUESSELDORF, state=state).id
    session.commit()
    return ids


def linked_endpoints(app, page: str) -> list[str]:
    found = NAV.search(page)
    if found is None:
        return []
    adapter = app.url_map.bind("ews.test")
    return [adapter.match(href)[0] for href in HREF.findall(found.group(1))]


def test_case_page_links_per_role_and_state(app, session, factory, cases):
    users = {
        role: factory.user(role, DUESSELDORF if role == "applicant" else None, password=PASSWORD)
        for role in ("applicant", "reviewer", "coordinator", "auditor", "admin")
    }
    session.commit()
    seen: dict[tuple[str, str], list[str] | None] = {}
    wanted: dict[tuple[str, str], list[str] | None] = {}
    for role, user in users.items():
        client = app.test_client()
        login(client, user.email, PASSWORD)
        for state, case_id in cases.items():
            response = client.get(f"/faelle/{case_id}")
            assert response.status_code in (200, 404), (role, state, response.status_code)
            page = response.get_data(as_text=True)
            seen[role, state.value] = linked_endpoints(app, page) if response.status_code == 200 else None
            wanted[role, state.value] = expected_links(role, state)
    assert seen == wanted


def test_linked_pages_exist(app):
    """Every endpoint the table names is a route of the app (a renamed page would drop its link silently)."""
    endpoints = {
        endpoint
        for role in ("applicant", "reviewer", "coordinator", "auditor")
        for state in State
        for endpoint in expected_links(role, state) or []
    }
    assert endpoints - set(app.view_functions) == set()
