"""Users and API tokens over HTTP (admins only): creation, more tokens, revocation, deactivation, audit.

The test session is committed before every request: on SQLite an open transaction holds the write lock.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ews_cases.models import ApiToken, AuditEvent, User
from testkit.factories import FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, token_for

OTHER_ROLES = ("coordinator", "auditor", "applicant", "reviewer")
NEW_USER = {"email": "Neu@Example.org", "name": "Nora Neu", "role": "reviewer", "municipality": FINNENTROP}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    roles = ("admin", *OTHER_ROLES)
    return {
        role: token_for(session, factory, role, FINNENTROP if role == "applicant" else None) for role in roles
    }


def works(client, token: str) -> int:
    """The status an API call with `token` gets (200 while it is valid)."""
    return client.get("/api/v1/workflow", headers=bearer(token)).status_code


def actions(session) -> list[str]:
    found = session.scalars(
        select(AuditEvent.action).where(AuditEvent.chain == "global").order_by(AuditEvent.id)
    )
    result = list(found)
    session.commit()
    return result


def create(client, token: str, **changes):
    return client.post("/api/v1/users", json={**NEW_USER, **changes}, headers=bearer(token))


# -- users ---------------------------------------------------------------------------------------------


def test_admin_creates_a_user_whose_token_works_at_once(client, session, tokens):
    response = create(client, tokens["admin"], password="ein langes Passwort")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["email"] == "neu@example.org"
    assert (body["name"], body["role"], body["municipality"], body["active"]) == (
        "Nora Neu",
        "reviewer",
        FINNENTROP,
        True,
    )
    assert "password" not in body
    assert len(body["token"]) >= 40
    assert works(client, body["token"]) == 200

    user = session.get(User, body["id"])
    assert user.password_hash.startswith("$argon2")
    stored = session.get(ApiToken, body["token_id"])
    assert stored.token_hash != body["token"]
    session.commit()
    assert actions(session)[-2:] == ["user.created", "token.created"]


def test_a_password_given_for_a_new_user_follows_the_password_rules(client, session, tokens):
    response = create(client, tokens["admin"], password="Nora Neu")  # too short, and her name
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]["password"] == [
        "Das Passwort ist zu kurz: mindestens 12 Zeichen, Sie haben 8 eingegeben. "
        "Am besten eignet sich ein Satz aus mehreren Wörtern."
    ]
    assert session.scalar(select(User).where(User.email == "neu@example.org")) is None


def test_applicants_must_be_bound_to_a_municipality(client, tokens):
    response = create(client, tokens["admin"], role="applicant", municipality=None)
    body = assert_problem(response, 422, "municipality")
    assert body["errors"]["municipality"] == ["Antragstellende müssen einer Kommune zugeordnet sein."]
    ok = create(client, tokens["admin"], role="applicant")
    assert ok.status_code == 201
    assert ok.get_json()["municipality"] == FINNENTROP


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"email": "keine-adresse"}, "email"),
        ({"name": "  "}, "name"),
        ({"role": "superuser"}, "role"),
        ({"municipality": "05999999"}, "municipality"),
        ({"email": None}, "email"),
        ({"active": False}, "active"),
    ],
)
def test_invalid_users_are_422(client, session, tokens, changes, field):
    assert_problem(create(client, tokens["admin"], **changes), 422, field)
    assert session.scalar(select(User.id).where(User.name == "Nora Neu")) is None
    session.commit()


def test_an_email_address_is_one_user(client, tokens):
    assert create(client, tokens["admin"]).status_code == 201
    body = assert_problem(create(client, tokens["admin"], email="NEU@example.org"), 409)
    assert body["detail"] == "Die E-Mail-Adresse neu@example.org ist bereits vergeben."


def test_admin_lists_users_in_pages(client, tokens):
    for n in range(4):
        assert create(client, tokens["admin"], email=f"u{n}@example.org").status_code == 201
    headers = bearer(tokens["admin"])
    everything = client.get("/api/v1/users", query_string={"limit": 500}, headers=headers).get_json()["items"]
    assert len(everything) == 9
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/users", query_string=query, headers=headers).get_json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [u["id"] for u in everything]
    reviewers = client.get("/api/v1/users?role=reviewer", headers=headers).get_json()["items"]
    assert {u["role"] for u in reviewers} == {"reviewer"}
    assert len(reviewers) == 5
    assert_problem(client.get("/api/v1/users?role=king", headers=headers), 422, "role")


def test_admin_reads_one_user(client, tokens):
    created = create(client, tokens["admin"]).get_json()
    response = client.get(f"/api/v1/users/{created['id']}", headers=bearer(tokens["admin"]))
    assert response.status_code == 200
    assert response.get_json()["email"] == "neu@example.org"
    assert "token" not in response.get_json()
    body = assert_problem(client.get("/api/v1/users/999999", headers=bearer(tokens["admin"])), 404)
    assert body["detail"] == "Den Zugang 999999 gibt es nicht."


# -- tokens --------------------------------------------------------------------------------------------


def test_more_tokens_and_revocation(client, session, tokens):
    created = create(client, tokens["admin"]).get_json()
    response = client.post(
        f"/api/v1/users/{created['id']}/tokens", json={"name": "laptop"}, headers=bearer(tokens["admin"])
    )
    assert response.status_code == 201, response.get_json()
    second = response.get_json()
    assert set(second) == {"id", "token"}
    assert second["token"] != created["token"]
    assert works(client, second["token"]) == 200

    listed = client.get(f"/api/v1/users/{created['id']}/tokens", headers=bearer(tokens["admin"])).get_json()
    assert [(t["id"], t["name"]) for t in listed["items"]] == [
        (created["token_id"], "api"),
        (second["id"], "laptop"),
    ]
    assert all("token" not in t for t in listed["items"])
    assert listed["items"][1]["last_used_at"] is not None

    revoked = client.delete(f"/api/v1/tokens/{second['id']}", headers=bearer(tokens["admin"]))
    assert revoked.status_code == 204
    assert revoked.get_data() == b""
    assert_problem(client.get("/api/v1/workflow", headers=bearer(second["token"])), 401)
    assert works(client, created["token"]) == 200  # the other token still works
    # Revoking again changes nothing and is still a success.
    assert client.delete(f"/api/v1/tokens/{second['id']}", headers=bearer(tokens["admin"])).status_code == 204
    assert actions(session).count("token.revoked") == 1


def test_a_token_post_needs_no_body(client, tokens):
    created = create(client, tokens["admin"]).get_json()
    response = client.post(f"/api/v1/users/{created['id']}/tokens", headers=bearer(tokens["admin"]))
    assert response.status_code == 201
    assert works(client, response.get_json()["token"]) == 200


def test_tokens_of_unknown_users_and_unknown_tokens_are_404(client, tokens):
    headers = bearer(tokens["admin"])
    assert_problem(client.post("/api/v1/users/999999/tokens", json={}, headers=headers), 404)
    assert_problem(client.get("/api/v1/users/999999/tokens", headers=headers), 404)
    assert_problem(client.delete("/api/v1/tokens/999999", headers=headers), 404)


# -- deactivation --------------------------------------------------------------------------------------


def test_deactivating_a_user_stops_their_tokens_and_is_audited(client, session, tokens):
    created = create(client, tokens["admin"]).get_json()
    url = f"/api/v1/users/{created['id']}"
    response = client.patch(url, json={"active": False}, headers=bearer(tokens["admin"]))
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert_problem(client.get("/api/v1/workflow", headers=bearer(created["token"])), 401)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.updated")).one()
    session.commit()
    assert event.data == {"user": created["id"], "changes": {"active": {"old": True, "new": False}}}

    # Deactivating twice records nothing new; reactivating brings the tokens back.
    assert client.patch(url, json={"active": False}, headers=bearer(tokens["admin"])).status_code == 200
    assert actions(session).count("user.updated") == 1
    assert client.patch(url, json={"active": True}, headers=bearer(tokens["admin"])).status_code == 200
    assert works(client, created["token"]) == 200


def test_admins_cannot_lock_themselves_out(client, session, tokens):
    me = session.scalar(select(User.id).where(User.role == "admin"))
    session.commit()
    body = assert_problem(
        client.patch(f"/api/v1/users/{me}", json={"active": False}, headers=bearer(tokens["admin"])), 409
    )
    assert body["detail"] == "Sie können Ihren eigenen Zugang nicht deaktivieren."
    assert works(client, tokens["admin"]) == 200


@pytest.mark.parametrize("body", [{}, {"active": "vielleicht"}, {"active": False, "role": "admin"}])
def test_invalid_user_patches_are_422(client, session, tokens, body):
    user = session.scalar(select(User.id).where(User.role == "reviewer"))
    session.commit()
    response = client.patch(f"/api/v1/users/{user}", json=body, headers=bearer(tokens["admin"]))
    assert_problem(response, 422)


def test_patching_an_unknown_user_is_404(client, tokens):
    response = client.patch("/api/v1/users/999999", json={"active": False}, headers=bearer(tokens["admin"]))
    assert_problem(response, 404)


# -- who may ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", OTHER_ROLES)
def test_only_admins_manage_access(client, session, tokens, role):
    target = session.scalar(select(User.id).where(User.role == "reviewer"))
    token_id = session.scalar(select(ApiToken.id).where(ApiToken.user_id == target))
    session.commit()
    headers = bearer(tokens[role])
    for response in (
        client.get("/api/v1/users", headers=headers),
        create(client, tokens[role]),
        client.get(f"/api/v1/users/{target}", headers=headers),
        client.patch(f"/api/v1/users/{target}", json={"active": False}, headers=headers),
        client.get(f"/api/v1/users/{target}/tokens", headers=headers),
        client.post(f"/api/v1/users/{target}/tokens", json={}, headers=headers),
        client.delete(f"/api/v1/tokens/{token_id}", headers=headers),
    ):
        body = assert_problem(response, 403)
        assert body["detail"] == "Dafür fehlt Ihnen die Berechtigung."
    assert works(client, tokens["reviewer"]) == 200


def test_user_management_needs_a_token(client, db):
    assert_problem(client.get("/api/v1/users"), 401)
    assert_problem(client.post("/api/v1/users", json=NEW_USER), 401)
    assert_problem(client.delete("/api/v1/tokens/1"), 401)


def test_the_openapi_document_describes_the_admin_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/users"])
    assert {"get", "patch"} <= set(paths["/api/v1/users/{user_id}"])
    assert {"get", "post"} <= set(paths["/api/v1/users/{user_id}/tokens"])
    assert "delete" in paths["/api/v1/tokens/{token_id}"]
    assert "204" in paths["/api/v1/tokens/{token_id}"]["delete"]["responses"]
