"""Users and API tokens over HTTP (admins only): creation, more tokens, revocation, deactivation, audit.

The test session is committed before every request: on SQLite an open transaction holds the write lock.
"""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select, update

from ews_cases.audit.queries import resolved_data
from ews_cases.models import ApiToken, AuditEvent, User, utcnow
from ews_cases.services.actors import actor_for
from ews_cases.services.second_factor import enrol_second_factor, has_second_factor, new_totp_secret
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
    assert (second["name"], second["status"], second["expires_at"], second["user"]) == (
        "laptop",
        "active",
        None,
        created["id"],
    )
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
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.deactivated")).one()
    session.commit()
    assert event.data == {"user": created["id"]}

    # Deactivating twice records nothing new; reactivating brings the tokens back.
    assert client.patch(url, json={"active": False}, headers=bearer(tokens["admin"])).status_code == 200
    assert actions(session).count("user.deactivated") == 1
    response = client.patch(url, json={"active": True, "reason": "zurück"}, headers=bearer(tokens["admin"]))
    assert response.status_code == 200
    assert works(client, created["token"]) == 200
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.reactivated")).one()
    session.commit()
    assert resolved_data(session, event.data) == {"user": created["id"], "reason": "zurück"}


def test_admins_cannot_lock_themselves_out(client, session, tokens):
    me = session.scalar(select(User.id).where(User.role == "admin"))
    session.commit()
    body = assert_problem(
        client.patch(f"/api/v1/users/{me}", json={"active": False}, headers=bearer(tokens["admin"])), 409
    )
    assert body["detail"] == "Sie können Ihren eigenen Zugang nicht deaktivieren."
    assert works(client, tokens["admin"]) == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": "nur ein Grund"},
        {"active": "vielleicht"},
        {"role": "king"},
        {"active": False, "email": "x"},
    ],
)
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


# -- search ----------------------------------------------------------------------------------------


def test_admin_finds_users_by_text_role_municipality_and_status(client, tokens):
    headers = bearer(tokens["admin"])
    nora = create(client, tokens["admin"]).get_json()
    create(client, tokens["admin"], email="anna@attendorn.de", name="Anna Auer", municipality="05966004")
    client.patch(f"/api/v1/users/{nora['id']}", json={"active": False}, headers=headers)

    def emails(**query: str) -> list[str]:
        response = client.get("/api/v1/users", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [u["email"] for u in response.get_json()["items"]]

    assert emails(q="NORA") == ["neu@example.org"]
    assert emails(q="attendorn.de") == ["anna@attendorn.de"]
    assert emails(municipality="attendorn", role="reviewer") == ["anna@attendorn.de"]
    assert "anna@attendorn.de" not in emails(municipality=FINNENTROP)
    assert "neu@example.org" in emails(municipality=FINNENTROP)
    assert emails(status="inactive") == ["neu@example.org"]
    assert "neu@example.org" not in emails(status="active")
    assert_problem(client.get("/api/v1/users?status=gone", headers=headers), 422, "status")


# -- role and municipality --------------------------------------------------------------------------


def test_admin_changes_role_and_municipality_audited_with_old_and_new(client, session, tokens):
    created = create(client, tokens["admin"]).get_json()
    url = f"/api/v1/users/{created['id']}"
    response = client.patch(
        url,
        json={"role": "applicant", "municipality": "05966004", "reason": "Wechsel"},
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["role"], response.get_json()["municipality"]) == ("applicant", "05966004")
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.role_changed")).one()
    recorded = resolved_data(session, event.data)
    session.commit()
    assert recorded == {
        "user": created["id"],
        "changes": {
            "role": {"old": "reviewer", "new": "applicant"},
            "municipality": {"old": FINNENTROP, "new": "05966004"},
        },
        "reason": "Wechsel",
    }
    # Only the municipality: the role stays; a reviewer's affiliation may be removed.
    response = client.patch(
        url, json={"role": "reviewer", "municipality": None}, headers=bearer(tokens["admin"])
    )
    assert (response.get_json()["role"], response.get_json()["municipality"]) == ("reviewer", None)
    body = assert_problem(
        client.patch(url, json={"role": "applicant"}, headers=bearer(tokens["admin"])), 422, "municipality"
    )
    assert body["errors"]["municipality"] == ["Antragstellende müssen einer Kommune zugeordnet sein."]
    assert actions(session).count("user.role_changed") == 2


def test_a_patch_with_role_and_activity_records_each(client, session, tokens):
    created = create(client, tokens["admin"]).get_json()
    response = client.patch(
        f"/api/v1/users/{created['id']}",
        json={"role": "auditor", "active": False},
        headers=bearer(tokens["admin"]),
    )
    assert response.status_code == 200
    assert actions(session)[-2:] == ["user.role_changed", "user.deactivated"]


def test_nobody_changes_their_own_role(client, session, tokens):
    me = session.scalar(select(User.id).where(User.role == "admin"))
    session.commit()
    body = assert_problem(
        client.patch(f"/api/v1/users/{me}", json={"role": "auditor"}, headers=bearer(tokens["admin"])), 409
    )
    assert body["detail"] == "Sie können Ihre eigene Rolle nicht ändern."


# -- token expiry ------------------------------------------------------------------------------------


def test_tokens_with_an_expiry_date_or_moment(client, session, tokens):
    created = create(client, tokens["admin"]).get_json()
    url = f"/api/v1/users/{created['id']}/tokens"
    headers = bearer(tokens["admin"])
    by_date = client.post(url, json={"name": "bis Jahresende", "expires_at": "2099-12-31"}, headers=headers)
    assert by_date.status_code == 201, by_date.get_json()
    # Through the end of that day in Europe/Berlin (UTC+1 in winter).
    assert by_date.get_json()["expires_at"].startswith("2099-12-31T22:59:59")
    by_moment = client.post(
        url, json={"name": "Stunde", "expires_at": "2099-06-30T12:00:00+02:00"}, headers=headers
    )
    assert by_moment.status_code == 201
    assert by_moment.get_json()["expires_at"].startswith("2099-06-30T10:00:00")
    assert works(client, by_date.get_json()["token"]) == 200
    listed = client.get(url, headers=headers).get_json()["items"]
    assert [(t["name"], t["status"]) for t in listed] == [
        ("api", "active"),
        ("bis Jahresende", "active"),
        ("Stunde", "active"),
    ]

    # Time passes the expiry: refused like a revoked token, listed as expired.
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == by_moment.get_json()["id"])
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    session.commit()
    assert_problem(client.get("/api/v1/workflow", headers=bearer(by_moment.get_json()["token"])), 401)
    listed = client.get(url, headers=headers).get_json()["items"]
    assert listed[-1]["status"] == "expired"


@pytest.mark.parametrize(
    ("expires_at", "message"),
    [
        ("2020-01-01", "Das Ablaufdatum muss in der Zukunft liegen."),
        ("2020-01-01T00:00:00+00:00", "Das Ablaufdatum muss in der Zukunft liegen."),
        ("2099-01-01T00:00:00", "Bitte einen Zeitpunkt mit Zeitzone angeben."),
        ("nächsten Dienstag", "Bitte ein Datum (2027-06-30) oder einen Zeitpunkt angeben."),
        ("2099-02-30", "Bitte ein Datum (2027-06-30) oder einen Zeitpunkt angeben."),
        ("2100-01-01", "Ein Token kann höchstens bis zum 31.12.2099 gelten."),
        (
            "9999-12-31T23:00:00-02:00",
            "Ein Token kann höchstens bis zum 31.12.2099 gelten.",
        ),  # beyond datetime
    ],
)
def test_past_or_unreadable_expiry_is_422(client, session, tokens, expires_at, message):
    created = create(client, tokens["admin"]).get_json()
    before = actions(session).count("token.created")
    response = client.post(
        f"/api/v1/users/{created['id']}/tokens",
        json={"name": "x", "expires_at": expires_at},
        headers=bearer(tokens["admin"]),
    )
    body = assert_problem(response, 422, "expires_at")
    assert body["errors"]["expires_at"] == [message]
    assert actions(session).count("token.created") == before


def test_all_tokens_and_one_users(client, tokens):
    headers = bearer(tokens["admin"])
    created = create(client, tokens["admin"]).get_json()
    everything = client.get("/api/v1/tokens?limit=500", headers=headers).get_json()
    assert len(everything["items"]) == 6  # one per role of the fixture, and the new user's
    assert all("token" not in t for t in everything["items"])
    mine = client.get(f"/api/v1/tokens?user={created['id']}", headers=headers).get_json()["items"]
    assert [t["id"] for t in mine] == [created["token_id"]]
    assert_problem(client.get(f"/api/v1/tokens?user={2**80}", headers=headers), 422, "user")  # not a 500
    page = client.get("/api/v1/tokens?limit=4", headers=headers).get_json()
    rest = client.get(
        "/api/v1/tokens", query_string={"cursor": page["next_cursor"]}, headers=headers
    ).get_json()
    assert [t["id"] for t in page["items"] + rest["items"]] == [t["id"] for t in everything["items"]]


def test_the_openapi_document_describes_expiry_and_patch_fields(client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    token_in = schemas[
        document["paths"]["/api/v1/users/{user_id}/tokens"]["post"]["requestBody"]["content"][
            "application/json"
        ]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert "expires_at" in token_in["properties"]
    patch = schemas[
        document["paths"]["/api/v1/users/{user_id}"]["patch"]["requestBody"]["content"]["application/json"][
            "schema"
        ]["$ref"].rsplit("/", 1)[1]
    ]
    assert {"role", "municipality", "active", "reason"} <= set(patch["properties"])
    assert "get" in document["paths"]["/api/v1/tokens"]


def test_an_admin_resets_a_lost_second_factor(client, session, factory, tokens):
    person = factory.user("coordinator")
    secret = new_totp_secret()
    enrol_second_factor(session, actor_for(person), person, secret, pyotp.TOTP(secret).now())
    session.commit()
    url = f"/api/v1/users/{person.id}/second-factor"
    assert_problem(client.delete(url, headers=bearer(tokens["coordinator"])), 403)
    assert client.delete(url, headers=bearer(tokens["admin"])).status_code == 200
    session.expire_all()
    assert not has_second_factor(session.get(User, person.id))
    assert client.delete(url, headers=bearer(tokens["admin"])).status_code == 200  # nothing left to reset
    assert actions(session).count("user.second_factor_reset") == 1
    assert_problem(client.delete("/api/v1/users/999999/second-factor", headers=bearer(tokens["admin"])), 404)
