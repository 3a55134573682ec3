"""Finding cases (`services.case_search`): one rule for the API's case list and the auditor's case list."""

from __future__ import annotations

import pytest

from ews_cases.models import Case, Municipality
from ews_cases.services.actors import actor_for
from ews_cases.services.case_search import CaseFilter, select_cases
from testkit.factories import ATTENDORN, BONN, FINNENTROP
from tests.api.test_participation_api import bearer, token_for
from workflows import State


@pytest.fixture
def cases(session, factory):
    cohort = factory.cohort()
    found = {
        "finnentrop": factory.case(cohort, FINNENTROP, state=State.SUBMITTED),
        "attendorn": factory.case(cohort, ATTENDORN, state=State.REVIEWED),
        "bonn": factory.case(cohort, BONN),
    }
    session.commit()
    return found


def found(session, user, **filters) -> set[int]:
    affiliation = session.get(Municipality, user.municipality_ags) if user.municipality_ags else None
    ids = set(
        session.scalars(
            select_cases(actor_for(user), affiliation, CaseFilter(**filters)).with_only_columns(Case.id)
        )
    )
    session.commit()
    return ids


def test_filters_and_who_sees_what(session, factory, cases):
    auditor = factory.user("auditor")
    everything = {c.id for c in cases.values()}
    assert found(session, auditor) == everything  # drafts too
    assert found(session, auditor, text="0596") == {cases["finnentrop"].id, cases["attendorn"].id}
    assert found(session, auditor, text="bon") == {cases["bonn"].id}
    assert found(session, auditor, text=cases["attendorn"].reference.lower()) == {cases["attendorn"].id}
    assert found(session, auditor, state="reviewed") == {cases["attendorn"].id}
    assert found(session, auditor, cohort=cases["bonn"].cohort.number, state="draft") == {cases["bonn"].id}
    assert found(session, auditor, cohort=9999) == set()
    assert found(session, auditor, text="_") == set()  # no LIKE wildcard

    # Applicants see their own municipality's, reviewers no drafts and nothing they are conflicted for.
    assert found(session, factory.user("applicant", FINNENTROP)) == {cases["finnentrop"].id}
    assert found(session, factory.user("reviewer", ATTENDORN)) == set()  # Kreis Olpe, like Finnentrop
    assert found(session, factory.user("reviewer")) == {cases["finnentrop"].id, cases["attendorn"].id}


def test_the_api_lists_by_the_same_rule(app, session, factory, cases):
    client = app.test_client()
    headers = bearer(token_for(session, factory, "coordinator"))
    listed = client.get("/api/v1/cases", query_string={"q": "05966"}, headers=headers).get_json()["items"]
    assert {item["id"] for item in listed} == {cases["finnentrop"].id, cases["attendorn"].id}
    listed = client.get("/api/v1/cases", query_string={"state": "draft"}, headers=headers).get_json()["items"]
    assert [item["id"] for item in listed] == [cases["bonn"].id]
