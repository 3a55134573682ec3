"""The OpenAPI document for generated clients (issue 19): stable operation ids, public operations marked,
required request bodies and answer fields, enums from their one definition, times as date-time, typed
contact/answers/scores, the server's limits, and downloads as binary (with the answer to match)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from gunicorn.config import Config as GunicornConfig

from ews_cases.api.openapi import finish_document
from ews_cases.models import ANSWER_FIELDS, CRITERIA, USER_ROLES
from ews_cases.services.cohorts import REMINDER_DAYS_RANGE, SETTING_RANGES
from ews_cases.services.validation import EMAIL_RE
from testkit.factories import DUESSELDORF
from tests.api.test_participation_api import bearer, token_for
from workflows import TRANSITIONS_BY_NAME, State

SCHEMAS = "#/components/schemas/"
#: The operation ids are the generated clients' function names: renaming one breaks integrators.
OPERATION_IDS = {
    "apply_transition", "cancel_session", "create_case", "create_cohort", "create_contact", "create_invitation",
    "create_review", "create_session", "create_token", "create_user", "export_audit", "get_attendance",
    "get_case", "get_case_history", "get_certificate_pdf", "get_cohort", "get_health", "get_municipality",
    "get_project", "get_user", "get_workflow", "list_all_tokens", "list_audit_events", "list_cases",
    "list_certificates", "list_cohorts", "list_contacts", "list_municipalities", "list_outbox", "list_reviews",
    "list_sessions", "list_tokens", "list_transitions", "list_users", "patch_case", "patch_cohort",
    "patch_session", "patch_user", "put_attendance", "put_project", "replace_certificate", "reset_second_factor",
    "revoke_certificate", "revoke_token", "verify_audit", "list_audit_checkpoints", "get_latest_audit_checkpoint",
    "list_audit_keys", "get_audit_inclusion_proof", "get_audit_consistency_proof", "list_audit_cosigners",
    "register_audit_cosigner", "add_audit_cosignatures",
}  # fmt: skip


@pytest.fixture
def document(app) -> dict[str, Any]:
    return app.test_client().get("/api/v1/openapi.json").get_json()


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for ops in document["paths"].values() for op in ops.values()}


def schema(document: dict[str, Any], name: str) -> dict[str, Any]:
    return document["components"]["schemas"][name]


def nodes(node: Any) -> Any:
    """Every object in the document, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from nodes(item)


def test_every_operation_has_its_stable_snake_case_id(document):
    ids = [op.get("operationId") for ops in document["paths"].values() for op in ops.values()]
    assert all(isinstance(i, str) and re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", i) for i in ids), ids
    assert len(ids) == len(set(ids))
    assert set(ids) == OPERATION_IDS


PUBLIC = {"get_health", "list_audit_checkpoints", "get_latest_audit_checkpoint", "list_audit_keys"}


def test_public_operations_say_so_and_the_others_need_the_token(document):
    for operation_id, operation in operations(document).items():
        expected = [] if operation_id in PUBLIC else [{"BearerAuth": []}]
        assert operation["security"] == expected, operation_id


def test_server_licence_and_limits(document, settings):
    assert document["servers"] == [{"url": "http://ews.test", "description": "EWS_PUBLIC_URL"}]
    assert document["info"]["license"]["name"]
    described = document["info"]["description"]
    gunicorn = GunicornConfig()
    for figure in (gunicorn.limit_request_line, gunicorn.limit_request_field_size, settings.max_body_bytes):
        assert str(figure) in described
    assert "429" in described
    assert "415" in described
    slashed = finish_document(
        {"paths": {}, "components": {"schemas": {}}},
        settings.model_copy(update={"public_url": "https://x.de/"}),
    )
    assert slashed["servers"][0]["url"] == "https://x.de"


def test_request_bodies_are_required_where_the_schema_requires_fields(document):
    ops = operations(document)
    for operation_id, operation in ops.items():
        body = operation.get("requestBody")
        if body is None:
            continue
        name = body["content"]["application/json"]["schema"]["$ref"].removeprefix(SCHEMAS)
        assert body["required"] is bool(schema(document, name).get("required")), operation_id
        assert "415" in operation["responses"], operation_id
    assert ops["create_case"]["requestBody"]["required"] is True
    assert ops["apply_transition"]["requestBody"]["required"] is True
    assert ops["create_token"]["requestBody"]["required"] is False  # a token needs no name


def test_answer_schemas_require_every_field(document):
    for name in (
        "CaseOut",
        "CohortOut",
        "ReviewOut",
        "CertificateOut",
        "AuditEventOut",
        "UserOut",
        "CaseCounts",
    ):
        definition = schema(document, name)
        assert definition["required"] == sorted(definition["properties"]), name
    problem = schema(document, "Problem")
    assert problem["required"] == ["type", "title", "status", "detail"]  # `errors` and others only sometimes


def test_states_roles_and_statuses_are_enums_from_their_definitions(document):
    assert schema(document, "CaseState")["enum"] == [state.value for state in State]
    assert schema(document, "TransitionName")["enum"] == list(TRANSITIONS_BY_NAME)
    assert schema(document, "UserRole")["enum"] == list(USER_ROLES)
    assert schema(document, "CaseOut")["properties"]["state"] == {"$ref": SCHEMAS + "CaseState"}
    assert schema(document, "TransitionIn")["properties"]["name"]["allOf"] == [
        {"$ref": SCHEMAS + "TransitionName"}
    ]
    assert schema(document, "UserOut")["properties"]["role"] == {"$ref": SCHEMAS + "UserRole"}
    for name in ("CertificateStatus", "OutboxStatus", "TokenStatus", "ProjectStatus", "AttendanceStatus"):
        assert schema(document, name)["type"] == "string"
    status = schema(document, "ProjectIn")["properties"]["status"]  # nullable: the enum or null, nothing else
    assert status["anyOf"] == [
        {"$ref": SCHEMAS + "ProjectStatus"},
        {"type": "string", "nullable": True, "enum": [None]},
    ]


def test_no_nullable_query_parameters_and_no_null_in_a_named_enum(document):
    states = next(
        p
        for p in operations(document)["list_cases"]["parameters"]
        if p["name"] == "state" and p["in"] == "query"
    )
    assert states["schema"] == {"$ref": SCHEMAS + "CaseState"}
    for ops in document["paths"].values():
        for operation in ops.values():
            for parameter in operation.get("parameters", ()):
                assert "nullable" not in json.dumps(parameter), parameter
    for node in nodes(document):
        if None in node.get("enum", ()):
            assert node == {"type": node["type"], "nullable": True, "enum": [None]}, node


def test_times_are_date_time(document):
    times = 0
    for name, definition in document["components"]["schemas"].items():
        for field, prop in definition.get("properties", {}).items():
            if field.endswith("_at") and (name, field) != ("TokenIn", "expires_at"):  # a date is welcome too
                times += 1
                assert prop.get("format") == "date-time", (name, field, prop)
    assert times > 30
    assert schema(document, "AuditEventOut")["properties"]["occurred_at"]["format"] == "date-time"


def test_contact_answers_and_scores_are_typed(document):
    case = schema(document, "CaseOut")["properties"]
    assert case["contact"] == {"$ref": SCHEMAS + "CaseContactOut"}
    assert set(schema(document, "CaseContactOut")["properties"]) == {"salutation", "name", "email", "phone"}
    assert case["answers"] == {"$ref": SCHEMAS + "AnswersOut"}
    assert list(schema(document, "AnswersOut")["properties"]) == sorted(ANSWER_FIELDS)
    assert schema(document, "ReviewOut")["properties"]["scores"] == {"$ref": SCHEMAS + "Scores"}
    scores = schema(document, "Scores")
    assert sorted(scores["properties"]) == sorted(CRITERIA)
    assert scores["required"] == sorted(CRITERIA)
    assert all(p == {"type": "integer", "minimum": 0, "maximum": 5} for p in scores["properties"].values())
    counts = schema(document, "CohortOut")["properties"]["case_counts"]
    assert counts["anyOf"] == [
        {"$ref": SCHEMAS + "CaseCounts"},
        {"type": "object", "nullable": True, "enum": [None]},
    ]


def test_the_servers_limits_are_schema_constraints(document):
    fields = schema(document, "CohortFieldsIn")["properties"]
    for name, (low, high) in SETTING_RANGES.items():
        assert (fields[name]["minimum"], fields[name]["maximum"]) == (low, high), name
    days = fields["reminder_days"]["items"]
    assert (days["minimum"], days["maximum"]) == REMINDER_DAYS_RANGE
    for name in ("UserCreateIn", "InvitationIn", "ContactIn"):
        email = schema(document, name)["properties"]["email"]
        assert (email["format"], email["pattern"], email["maxLength"]) == ("email", EMAIL_RE.pattern, 254), (
            name
        )
    assert schema(document, "PersonIn")["properties"]["email"]["pattern"] == f"^$|{EMAIL_RE.pattern}"
    assert schema(document, "TransitionIn")["properties"]["name"]["maxLength"] == 40


def test_downloads_are_binary_for_generated_clients(document):
    ops = operations(document)
    pdf = ops["get_certificate_pdf"]["responses"]["200"]["content"]
    export = ops["export_audit"]["responses"]["200"]["content"]
    assert set(pdf) == {"application/pdf", "application/octet-stream"}
    assert set(export) == {"text/csv", "application/x-ndjson", "application/octet-stream"}
    for content in (pdf, export):
        assert all(media["schema"] == {"type": "string", "format": "binary"} for media in content.values())


def test_downloads_answer_as_octet_stream_when_asked_to(app, session, factory):
    cohort = factory.cohort(7)
    factory.workshop(cohort)
    case = factory.case(cohort, DUESSELDORF, state=State.CERTIFIED)
    token = token_for(session, factory, "coordinator")
    client = app.test_client()
    serial = client.get(f"/api/v1/cases/{case.id}/certificates", headers=bearer(token)).get_json()["items"][0]
    for accept, expected in (
        (None, "application/pdf"),
        ("application/pdf", "application/pdf"),
        ("application/octet-stream", "application/octet-stream"),
        ("application/octet-stream, application/pdf;q=0.5", "application/octet-stream"),
    ):
        headers = bearer(token) | ({"Accept": accept} if accept else {})
        response = client.get(serial["pdf_url"], headers=headers)
        assert response.status_code == 200
        assert response.mimetype == expected, accept
        assert response.data.startswith(b"%PDF")
    export = client.get(
        "/api/v1/audit/export?format=csv", headers=bearer(token) | {"Accept": "application/octet-stream"}
    )
    assert export.mimetype == "application/octet-stream"
    assert client.get("/api/v1/audit/export?format=csv", headers=bearer(token)).mimetype == "text/csv"
