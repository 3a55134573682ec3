"""Per-token rate limits (issue 19): `EWS_API_RATE_LIMIT` requests a minute per API token, and per client
address without a token, counted in a real Redis shared by every web process; beyond it 429 problem+json with
`Retry-After`, and the refused request changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import func, select

from ews_cases.api.rate_limit import REDIS_PREFIX
from ews_cases.app import create_app
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.models import AuditEvent, Case
from testkit.factories import FINNENTROP
from tests.api.test_participation_api import bearer, token_for
from tests.workers.conftest import redis_server, redis_url  # noqa: F401 - fixtures
from workflows import State

LIMIT = 3


@pytest.fixture
def limited(settings, db, redis_url) -> Iterator[list]:  # noqa: F811
    """Two apps, as two web processes would be, with a limit of 3 requests a minute and the test's Redis."""
    configured = settings.model_copy(update={"redis_url": redis_url, "api_rate_limit": LIMIT})
    apps = [create_app(configured) for _ in range(2)]
    yield [app.test_client() for app in apps]
    set_dispatcher(None)  # the next test's app must not send tasks to this test's Redis


def assert_throttled(response, limit: int = LIMIT) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 429
    assert body["type"] == "urn:ews-cases:problem:http_429"
    assert "Retry-After" in body["detail"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["RateLimit-Limit"] == str(limit)
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"] == response.headers["Retry-After"]
    assert response.headers["X-Request-ID"]


def test_a_token_beyond_its_limit_gets_429_across_processes(limited, session, factory, redis_url):  # noqa: F811
    first, second = limited
    token = token_for(session, factory, "coordinator")
    other = token_for(session, factory, "auditor")
    case = factory.case(factory.cohort(7), FINNENTROP, state=State.DRAFT)
    session.commit()
    events = session.scalar(select(func.count()).select_from(AuditEvent))

    assert first.get("/api/v1/cohorts", headers=bearer(token)).status_code == 200
    assert second.get("/api/v1/cohorts", headers=bearer(token)).status_code == 200
    assert first.get(f"/api/v1/cases/{case.id}", headers=bearer(token)).status_code == 200
    # The fourth request of the minute, to the other process: the count is shared, and the change is refused
    # before it is looked at.
    refused = second.post(
        f"/api/v1/cases/{case.id}/transitions", json={"name": "withdraw", "version": 1}, headers=bearer(token)
    )
    assert_throttled(refused)
    session.expire_all()
    assert session.get(Case, case.id).state == State.DRAFT.value
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events

    # Another token has its own count.
    assert first.get("/api/v1/cohorts", headers=bearer(other)).status_code == 200

    # The counts are Redis keys that end with the window; they name neither token nor address.
    store = redis.Redis.from_url(redis_url)
    keys = sorted(key.decode() for key in store.scan_iter(f"{REDIS_PREFIX}:*"))
    assert [key.rsplit(":", 1)[0] for key in keys] == [f"{REDIS_PREFIX}:token"] * 2
    assert not any(token in key or other in key for key in keys)
    assert all(0 < store.pttl(key) <= 60_000 for key in keys)

    # When the window is over (shortened here), the token may go on.
    for key in keys:
        store.pexpire(key, 1)
    time.sleep(0.05)
    assert all(store.exists(key) == 0 for key in keys)
    assert first.get("/api/v1/cohorts", headers=bearer(token)).status_code == 200


def test_requests_without_a_token_count_per_client_address(limited):
    first, second = limited
    for client in (first, second, first):
        assert client.get("/api/v1/health").status_code in (200, 503)
    assert_throttled(second.get("/api/v1/openapi.json"))
    # Another address has its own count.
    other = first.get("/api/v1/health", environ_base={"REMOTE_ADDR": "192.0.2.7"})
    assert other.status_code in (200, 503)
    # A 401 for a made-up token counts against that token, not the address.
    assert first.get("/api/v1/cases", headers=bearer("made-up")).status_code == 401


def test_pages_are_not_counted(limited):
    first, _ = limited
    for _ in range(LIMIT + 2):
        assert first.get("/impressum").status_code == 200
    assert first.get("/api/v1/health").status_code in (200, 503)


def test_the_default_limit_and_zero_for_none(settings):
    from ews_cases.settings import Settings

    assert Settings().api_rate_limit == 600
    app = create_app(settings.model_copy(update={"api_rate_limit": 0}))
    client = app.test_client()
    assert all(client.get("/api/v1/openapi.json").status_code == 200 for _ in range(5))


def test_the_openapi_document_names_the_429_on_every_operation(app):
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    answer = document["components"]["responses"]["TooManyRequests"]
    assert {"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(
        answer["headers"]
    )
    assert "application/problem+json" in answer["content"]
    operations = [op for ops in document["paths"].values() for op in ops.values() if isinstance(op, dict)]
    assert len(operations) > 40
    for operation in operations:
        assert operation["responses"]["429"] == {"$ref": "#/components/responses/TooManyRequests"}
