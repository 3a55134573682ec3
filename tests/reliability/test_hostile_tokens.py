"""A revoked API token, or the token of a deactivated user, is refused at once, everywhere.

"At once" means the very next request, with no caching window: in the process that revoked it, in a second
app instance of the same process, and in a separate `ews web` (gunicorn) process that had just accepted it.
"Everywhere" means every operation of the API that needs a token (the rows of
`tests.api.test_role_matrix.MATRIX`), each answered with a problem+json 401 that changes nothing.

API tokens do not expire (`api_tokens` has no expiry column; SPEC §7 asks for none): revocation and
deactivation are the ways to end one, so there is no expired-token case to test.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from ews_cases.app import create_app
from ews_cases.models import ApiToken
from ews_cases.services.users import hash_token
from testkit.factories import FINNENTROP
from testkit.processes import web_process as start_web
from tests.api.test_role_matrix import APPLICANT, MATRIX, PUBLIC, ROLES, World
from tests.reliability.hostile_helpers import Person, Snapshot, assert_problem_json, person

UNAUTHENTICATED = "urn:ews-cases:problem:unauthenticated"
GUARDED = [row for row in MATRIX if row.allowed is not PUBLIC]


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin(session, factory) -> Person:
    return person(session, factory, "admin")


def token_record(session, secret: str) -> ApiToken:
    record = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).one()
    session.commit()  # end the read: the next look must see what the app committed meanwhile
    return record


def revoke(client, admin: Person, session, who: Person) -> None:
    """Revoke `who`'s token the way an admin does, over the API."""
    token_id = token_record(session, who.token).id
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=admin.headers)
    assert response.status_code == 204, response.get_data(as_text=True)


def assert_unauthenticated(response) -> None:
    body = assert_problem_json(response, (401,))
    assert body["type"] == UNAUTHENTICATED


def test_every_guarded_operation_refuses_a_revoked_token(client, db, session, factory, admin):
    world = World(session, factory)
    # The applicant acts for Finnentrop, whose data the world holds: only the revocation stands in the way.
    holders = {
        role: person(session, factory, role, FINNENTROP if role == APPLICANT else None) for role in ROLES
    }
    calls = []
    for row in GUARDED:
        role = sorted(row.allowed)[0]
        calls.append((row, holders[role], row.build(world, role)))
    session.commit()
    for holder in holders.values():
        revoke(client, admin, session, holder)
    used_before = {role: token_record(session, h.token).last_used_at for role, h in holders.items()}
    before = Snapshot.take(db)
    wrong = {}
    for row, holder, call in calls:
        response = client.open(call.path, method=row.method, json=call.json, headers=holder.headers)
        response.get_data()
        response.close()
        if response.status_code != 401 or response.mimetype != "application/problem+json":
            wrong[str(row)] = (response.status_code, response.get_data(as_text=True)[:200])
    assert wrong == {}
    assert Snapshot.take(db) == before
    assert {role: token_record(session, h.token).last_used_at for role, h in holders.items()} == used_before


def test_revocation_takes_effect_on_the_next_request(client, session, factory, admin):
    coordinator = person(session, factory, "coordinator")
    assert client.get("/api/v1/cases", headers=coordinator.headers).status_code == 200
    revoke(client, admin, session, coordinator)
    assert_unauthenticated(client.get("/api/v1/cases", headers=coordinator.headers))
    assert_unauthenticated(client.post("/api/v1/cohorts", json={"number": 77}, headers=coordinator.headers))


def test_a_deactivated_users_tokens_stop_at_once(client, session, factory, admin):
    coordinator = person(session, factory, "coordinator")
    assert client.get("/api/v1/outbox", headers=coordinator.headers).status_code == 200
    response = client.patch(
        f"/api/v1/users/{coordinator.user.id}", json={"active": False}, headers=admin.headers
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert_unauthenticated(client.get("/api/v1/outbox", headers=coordinator.headers))


def test_a_second_app_instance_refuses_it_at_once(settings, client, session, factory, admin):
    other = create_app(settings).test_client()
    coordinator = person(session, factory, "coordinator")
    assert other.get("/api/v1/cases", headers=coordinator.headers).status_code == 200
    revoke(client, admin, session, coordinator)
    assert_unauthenticated(other.get("/api/v1/cases", headers=coordinator.headers))


@pytest.fixture
def web_process(settings, db, tmp_path: Path) -> Iterator[str]:
    """`ews web` (gunicorn, one worker) on a free port against the test database; yields its base URL."""
    with start_web(settings, tmp_path / "web.log", env={"EWS_REDIS_URL": ""}, timeout=60) as base:
        yield base


def test_another_process_refuses_it_at_once(web_process, client, session, factory, admin):
    coordinator = person(session, factory, "coordinator")
    url = f"{web_process}/api/v1/cases"
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {coordinator.token}"
        for _ in range(3):  # accepted, and whatever the process might keep about it is warm
            assert http.get(url, timeout=30).status_code == 200
        revoke(client, admin, session, coordinator)
        assert_unauthenticated(http.get(url, timeout=30))
        assert_unauthenticated(http.post(f"{web_process}/api/v1/cohorts", json={"number": 78}, timeout=30))
