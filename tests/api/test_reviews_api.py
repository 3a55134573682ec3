"""`GET /api/v1/cases/{id}/reviews` answers with the reviews the caller may read (`readable_reviews`)."""

from __future__ import annotations

from ews_cases.services.reviews import record_review
from ews_cases.services.users import issue_token
from testkit.factories import FINNENTROP
from tests.api.test_participation_api import bearer
from workflows import Actor, State

SCORES = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}


def test_a_reviewer_reads_only_their_own_review_the_office_all(app, session, factory):
    case = factory.case(factory.cohort(required_reviews=3), FINNENTROP, state=State.SUBMITTED)
    people = {name: factory.user(role) for name, role in (("first", "reviewer"), ("second", "reviewer"))}
    people["office"] = factory.user("coordinator")
    reviews = {
        name: record_review(session, case, people[name], scores=SCORES, recommendation="admit").id
        for name in ("first", "second")
    }
    tokens = {name: issue_token(session, Actor.system("tests"), user) for name, user in people.items()}
    session.commit()
    client = app.test_client()

    def listed(name: str) -> list[int]:
        response = client.get(f"/api/v1/cases/{case.id}/reviews", headers=bearer(tokens[name]))
        assert response.status_code == 200
        assert response.get_json()["case_state"] == "submitted"
        return [item["id"] for item in response.get_json()["items"]]

    assert listed("first") == [reviews["first"]]
    assert listed("second") == [reviews["second"]]
    assert listed("office") == [reviews["first"], reviews["second"]]
