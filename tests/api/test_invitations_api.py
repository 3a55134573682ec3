"""`POST /api/v1/invitations` (issue 13): the office invites, only admins invite admins, applicants and
auditors never; an address with an account is a 409 problem, invalid input a 422 naming the fields; each
invitation writes one audit event and queues one email, a refusal neither."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Invitation, OutboxMessage
from testkit.factories import FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, token_for

BODY = {
    "email": "Neu@Finnentrop.example",
    "name": "Nina Neu",
    "role": "applicant",
    "municipality": FINNENTROP,
}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    roles = ("admin", "coordinator", "auditor", "applicant", "reviewer")
    return {
        role: token_for(session, factory, role, FINNENTROP if role == "applicant" else None) for role in roles
    }


def written(session) -> tuple[int, int, int]:
    """(invitations, invitation emails, invitation events) as committed."""
    session.commit()
    return (
        session.scalar(select(func.count()).select_from(Invitation)),
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "invitation")
        ),
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "invitation.sent")
        ),
    )


def test_the_office_invites_an_applicant_for_a_municipality(client, session, tokens):
    response = client.post("/api/v1/invitations", json=BODY, headers=bearer(tokens["coordinator"]))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("email", "role", "municipality", "status")} == {
        "email": "neu@finnentrop.example",
        "role": "applicant",
        "municipality": FINNENTROP,
        "status": "open",
    }
    assert "token" not in body  # the link goes to the invitee only
    assert written(session) == (1, 1, 1)


def test_an_address_with_an_account_is_a_conflict(client, session, factory, tokens):
    person = factory.user("reviewer")
    session.commit()
    response = client.post(
        "/api/v1/invitations",
        json={**BODY, "email": person.email, "role": "reviewer"},
        headers=bearer(tokens["coordinator"]),
    )
    problem = assert_problem(response, 409)
    assert "bereits einen Zugang" in problem["detail"]
    assert written(session) == (0, 0, 0)


def test_invalid_input_is_422_naming_the_fields(client, session, tokens):
    response = client.post(
        "/api/v1/invitations",
        json={"email": "kein", "name": "", "role": "applicant", "municipality": "99999999"},
        headers=bearer(tokens["coordinator"]),
    )
    assert_problem(response, 422, "email", "name", "municipality")
    assert_problem(
        client.post("/api/v1/invitations", json={"email": "x@example.org"}, headers=bearer(tokens["admin"])),
        422,
        "name",
        "role",
    )
    assert written(session) == (0, 0, 0)


@pytest.mark.parametrize("role", ["applicant", "auditor", "reviewer"])
def test_applicants_auditors_and_reviewers_never_invite(client, session, tokens, role):
    assert_problem(client.post("/api/v1/invitations", json=BODY, headers=bearer(tokens[role])), 403)
    assert written(session) == (0, 0, 0)


def test_only_admins_invite_admins(client, session, tokens):
    admin_body = {"email": "chefin@example.org", "name": "Chefin", "role": "admin"}
    problem = assert_problem(
        client.post("/api/v1/invitations", json=admin_body, headers=bearer(tokens["coordinator"])), 403
    )
    assert "Administrationszugänge" in problem["detail"]
    assert written(session) == (0, 0, 0)
    assert (
        client.post("/api/v1/invitations", json=admin_body, headers=bearer(tokens["admin"])).status_code
        == 201
    )
    assert written(session) == (1, 1, 1)


def test_without_a_token_401(client):
    assert_problem(client.post("/api/v1/invitations", json=BODY), 401)
