"""Strict JSON (issue 19): a key named twice is a 400 naming it, integers and booleans must be JSON's own (no
`1.9`, `"2"` or `true` for a version), and a body of another content type is a 415 — each as problem+json,
and nothing changes: the case keeps its version and state and the audit trail gets no event."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ews_cases.models import AuditEvent, Case, Cohort
from testkit.factories import FINNENTROP
from tests.api.test_participation_api import bearer, token_for
from workflows import State

API_PACKAGE = Path(__file__).resolve().parents[2] / "ews_cases" / "api"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def draft(session, factory):
    case = factory.case(factory.cohort(7), FINNENTROP, state=State.DRAFT)
    session.commit()
    return case


@pytest.fixture
def coordinator(session, factory):
    return bearer(token_for(session, factory, "coordinator"))


def unchanged(session, case: Case, events_before: int) -> None:
    """The case as it was, and no audit event added."""
    version, state = case.version, case.state
    session.expire_all()
    fresh = session.get(Case, case.id)
    assert (fresh.version, fresh.state) == (version, state)
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before


def events(session) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent))


def problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["type"] == f"urn:ews-cases:problem:{code}", body
    assert body["title"]
    assert body["detail"]
    return body


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "submit", "version": 1, "version": 99}',
        '{"name": "withdraw", "name": "submit", "version": 1}',
        '{"name": "submit", "version": 1, "reason": null, "override": false, "override": true}',
    ],
)
def test_a_key_named_twice_is_a_400_naming_it(client, session, draft, coordinator, raw):
    before = events(session)
    key = "version" if raw.count('"version"') == 2 else ("name" if raw.count('"name"') == 2 else "override")
    response = client.post(
        f"/api/v1/cases/{draft.id}/transitions",
        data=raw,
        content_type="application/json",
        headers=coordinator,
    )
    body = problem(response, 400, "duplicate_key")
    assert body["key"] == key
    assert f"„{key}“" in body["detail"]
    assert "mehrfach" in body["detail"]
    unchanged(session, draft, before)


def test_duplicate_keys_are_found_in_nested_objects_too(client, session, draft, coordinator):
    raw = '{"version": 1, "contact": {"name": "Erika", "email": "a@example.org", "name": "Max"}}'
    before = events(session)
    response = client.patch(
        f"/api/v1/cases/{draft.id}", data=raw, content_type="application/json", headers=coordinator
    )
    assert problem(response, 400, "duplicate_key")["key"] == "name"
    unchanged(session, draft, before)


def test_the_duplicate_key_message_is_english_for_english_readers(client, session, draft, coordinator):
    response = client.post(
        f"/api/v1/cases/{draft.id}/transitions",
        data='{"version": 1, "version": 1, "name": "submit"}',
        content_type="application/json",
        headers={**coordinator, "Accept-Language": "en"},
    )
    assert problem(response, 400, "duplicate_key")["detail"] == (
        "The key “version” occurs more than once in a JSON object."
    )


@pytest.mark.parametrize("version", [1.9, "2", "1", True, 1.0, [1], {"v": 1}])
def test_a_version_must_be_a_json_integer(client, session, draft, coordinator, version):
    before = events(session)
    response = client.post(
        f"/api/v1/cases/{draft.id}/transitions",
        json={"name": "withdraw", "version": version},
        headers=coordinator,
    )
    body = problem(response, 422, "invalid_fields")
    assert list(body["errors"]) == ["version"]
    assert body["errors"]["version"] == ["Keine gültige ganze Zahl."]
    unchanged(session, draft, before)


def test_an_integer_version_still_works(client, session, draft, coordinator):
    response = client.post(
        f"/api/v1/cases/{draft.id}/transitions", json={"name": "withdraw", "version": 1}, headers=coordinator
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["state"] == "withdrawn"


@pytest.mark.parametrize(
    ("field", "value"),
    [("capacity", "12"), ("capacity", 12.5), ("team_size", True), ("reminder_days", [14, "7"])],
)
def test_every_integer_of_a_body_is_strict(client, session, factory, coordinator, field, value):
    factory.cohort(8)
    session.commit()
    before = events(session)
    response = client.patch("/api/v1/cohorts/8", json={field: value}, headers=coordinator)
    errors = problem(response, 422, "invalid_fields")["errors"]
    assert [name.split(".")[0] for name in errors] == [field], errors
    session.expire_all()
    cohort = session.scalar(select(Cohort).where(Cohort.number == 8))
    assert (cohort.capacity, cohort.team_size, cohort.reminder_days) == (10, 2, [14, 7, 3, 1])
    assert events(session) == before


@pytest.mark.parametrize("consent", ["true", 1, "yes", None])
def test_booleans_must_be_true_or_false(client, session, draft, coordinator, consent):
    before = events(session)
    response = client.patch(
        f"/api/v1/cases/{draft.id}", json={"version": 1, "consent": consent}, headers=coordinator
    )
    assert "consent" in problem(response, 422, "invalid_fields")["errors"]
    unchanged(session, draft, before)


def test_query_strings_are_text_and_still_read_as_numbers(client, session, draft, coordinator):
    response = client.get("/api/v1/cases?cohort=7&limit=5", headers=coordinator)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [item["id"] for item in response.get_json()["items"]] == [draft.id]
    problem(client.get("/api/v1/cases?limit=1.5", headers=coordinator), 422, "invalid_fields")


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("text/plain", '{"name": "withdraw", "version": 1}'),
        ("application/x-www-form-urlencoded", "name=withdraw&version=1"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="name"\r\n\r\na\r\n--x--\r\n',
        ),
        (None, '{"name": "withdraw", "version": 1}'),
    ],
)
def test_a_body_of_another_content_type_is_a_415(client, session, draft, coordinator, content_type, data):
    before = events(session)
    headers = dict(coordinator)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post(f"/api/v1/cases/{draft.id}/transitions", data=data, headers=headers)
    assert "application/json" in problem(response, 415, "http_415")["detail"]
    unchanged(session, draft, before)


def test_a_patch_sent_as_text_is_no_empty_change(client, session, draft, coordinator):
    """Before: webargs read a text/plain body as no body, and the PATCH succeeded as an empty change."""
    before = events(session)
    response = client.patch(
        f"/api/v1/cases/{draft.id}",
        data=json.dumps({"version": 1, "consent": True}),
        headers={**coordinator, "Content-Type": "text/plain"},
    )
    problem(response, 415, "http_415")
    unchanged(session, draft, before)


def test_json_with_a_parameter_or_a_json_suffix_is_json(client, session, draft, coordinator):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.get(f"/api/v1/cases/{draft.id}", headers=coordinator)
        version = response.get_json()["version"]
        response = client.patch(
            f"/api/v1/cases/{draft.id}",
            data=json.dumps({"version": version, "consent": True}),
            headers={**coordinator, "Content-Type": content_type},
        )
        assert response.status_code == 200, (content_type, response.get_data(as_text=True))


def test_operations_without_a_body_take_any_content_type(client, session, draft, coordinator):
    response = client.get(
        f"/api/v1/cases/{draft.id}", headers={**coordinator, "Content-Type": "text/plain"}, data="x"
    )
    assert response.status_code == 200


def test_every_schema_module_takes_its_fields_from_the_strict_module():
    """A field imported from marshmallow or APIFlask directly would convert `"2"` again."""
    for path in sorted(API_PACKAGE.glob("*.py")):
        if path.name == "fields.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("apiflask.fields", "marshmallow.fields"), path.name
                if node.module in ("apiflask", "marshmallow"):
                    assert "fields" not in {alias.name for alias in node.names}, path.name


def test_an_operation_whose_fields_are_all_optional_needs_no_body(client, session, factory, coordinator):
    admin = bearer(token_for(session, factory, "admin"))
    user = factory.user("auditor")
    session.commit()
    assert client.post(f"/api/v1/users/{user.id}/tokens", headers=admin).status_code == 201
    response = client.post(f"/api/v1/users/{user.id}/tokens", headers={**admin, "Content-Type": "text/plain"})
    assert response.status_code == 201
    problem(
        client.post(
            f"/api/v1/users/{user.id}/tokens", headers={**admin, "Content-Type": "text/plain"}, data="{}"
        ),
        415,
        "http_415",
    )
