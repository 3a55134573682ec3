"""The OpenAPI document as generated clients need it (issue 19): what APIFlask derives from the routes and
schemas, finished here in one spec processor.

- every operation has a stable snake_case `operationId`: its view function's name (`name_operations`);
- public operations say `security: []`; the server is `EWS_PUBLIC_URL` without a trailing slash; a licence;
  the limits a client can run into (body size, rate limit, gunicorn's request line and header limits);
- a request body is `required` when its schema has required fields (the others may be left out);
- the schemas only answers use list every property as `required`: the server always sends them all
  (null where nullable), and schemathesis checks each answer against that;
- optional query parameters are not `nullable` (absent is absent): apispec would write `nullable` and a `null`
  in the enum, which clients turn into three types for one parameter;
- the states, roles and statuses are named enums (`CaseState`, `UserRole`, …) taken from their one definition
  (the workflow, the models, the services) and referred to wherever a field holds one; a nullable one, and a
  nullable nested object, is `anyOf: [<the schema>, null]`, which client generators read as "X or None".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from gunicorn.config import Config as GunicornConfig

from ews_cases.models import (
    ATTENDANCE_STATUSES,
    CERTIFICATE_STATUSES,
    INVITATION_STATUSES,
    PROJECT_STATUSES,
    RECOMMENDATIONS,
    SESSION_KINDS,
    USER_ROLES,
)
from ews_cases.models.outbox import OUTBOX_STATUSES
from ews_cases.services.accounts import TOKEN_STATUSES, USER_STATUSES
from ews_cases.services.cases import SALUTATIONS
from ews_cases.services.cohorts import REGIERUNGSBEZIRKE
from ews_cases.settings import Settings
from workflows import TRANSITIONS_BY_NAME, Role, State

LICENSE = {"name": "Proprietary"}  # as pyproject.toml: LicenseRef-Proprietary
#: View functions named after the service they call carry this suffix; the operation is named without it.
_ENDPOINT_SUFFIX = "_endpoint"
_SCHEMA_REF = "#/components/schemas/"
#: The enums of the document, each from its one definition. A string field whose values are one of these
#: refers to it (`_name_enums`).
NAMED_ENUMS: dict[str, tuple[str, ...]] = {
    "CaseState": tuple(State),
    "TransitionName": tuple(TRANSITIONS_BY_NAME),
    "UserRole": USER_ROLES,
    "WorkflowRole": tuple(Role),
    "UserStatus": USER_STATUSES,
    "TokenStatus": TOKEN_STATUSES,
    "InvitationStatus": INVITATION_STATUSES,
    "OutboxStatus": OUTBOX_STATUSES,
    "AttendanceStatus": ATTENDANCE_STATUSES,
    "ProjectStatus": PROJECT_STATUSES,
    "CertificateStatus": CERTIFICATE_STATUSES,
    "Recommendation": RECOMMENDATIONS,
    "SessionKind": SESSION_KINDS,
    "Salutation": SALUTATIONS,
    "Regierungsbezirk": REGIERUNGSBEZIRKE,
}
_NULL = {"nullable": True, "enum": [None]}


def name_operations(app: Flask, blueprint: str) -> None:
    """Give every operation of `blueprint` without an explicit `@api.doc(operation_id=...)` its view
    function's name as `operationId` (`list_cases`, `get_certificate_pdf`). Call after the routes exist."""
    for endpoint, view in app.view_functions.items():
        if endpoint.startswith(f"{blueprint}."):
            name = endpoint.split(".", 1)[1].removesuffix(_ENDPOINT_SUFFIX)
            spec = view.__dict__.setdefault("_spec", {})
            if spec.get("operation_id") is None:
                spec["operation_id"] = name


def _operations(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                yield operation


def _refs(node: Any) -> Iterator[str]:
    """The schema names `node` refers to, directly."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_SCHEMA_REF):
            yield ref.removeprefix(_SCHEMA_REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _reachable(schemas: dict[str, Any], roots: Iterator[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            todo.extend(_refs(schemas[name]))
    return seen


def _limits(settings: Settings) -> str:
    gunicorn = GunicornConfig()  # `ews web` keeps gunicorn's defaults for these
    return (
        "Grenzen: Anfragen mit Inhalt höchstens "
        f"{settings.max_body_bytes} Bytes (413); höchstens {settings.api_rate_limit or 'unbegrenzt viele'} "
        "Anfragen pro Minute und Token, ohne Token pro Adresse (429 mit `Retry-After`). "
        "JSON-Körper werden streng gelesen: ein doppelter Schlüssel ist ein 400, eine Zahl als Text oder mit "
        "Nachkommastellen, wo eine ganze Zahl steht, ein 422, ein Körper mit anderem Content-Type als "
        "`application/json` ein 415. "
        f"gunicorn (`ews web`) weist vor der Anwendung ab: eine Anfragezeile über {gunicorn.limit_request_line} "
        f"Bytes (414), mehr als {gunicorn.limit_request_fields} Kopfzeilen oder eine über "
        f"{gunicorn.limit_request_field_size} Bytes (431), eine unlesbare Anfrage (400) — diese Antworten sind "
        "HTML, kein problem+json. Ein vorgeschalteter Proxy kann engere Grenzen setzen."
    )


def finish_document(spec: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Apply the changes of the module docstring to APIFlask's document (an OpenAPI spec processor)."""
    info = spec.setdefault("info", {})
    info["license"] = LICENSE
    info["description"] = f"{info.get('description', '')}\n\n{_limits(settings)}".strip()
    spec["servers"] = [{"url": settings.public_url.rstrip("/"), "description": "EWS_PUBLIC_URL"}]
    for tag in spec.get("tags", ()):
        tag.setdefault("description", "Die JSON-API (`/api/v1`)")

    schemas = spec.get("components", {}).get("schemas", {})
    request_roots: list[str] = []
    response_roots: list[str] = []
    for operation in _operations(spec):
        operation.setdefault("security", [])  # no requirement of its own: public
        body = operation.get("requestBody")
        if body is not None:
            names = list(_refs(body))
            request_roots.extend(names)
            body["required"] = any(schemas.get(name, {}).get("required") for name in names)
        for parameter in operation.get("parameters", ()):
            request_roots.extend(_refs(parameter))
            if parameter.get("in") == "query" and not parameter.get("required"):
                _not_nullable(parameter.get("schema", {}))
        response_roots.extend(_refs(operation["responses"]))

    only_answered = _reachable(schemas, iter(response_roots)) - _reachable(schemas, iter(request_roots))
    for name in only_answered:
        properties = schemas[name].get("properties")
        if properties and "required" not in schemas[name]:  # Problem says which of its members are optional
            schemas[name]["required"] = sorted(properties)
    return _name_enums(spec)


def _name_enums(spec: dict[str, Any]) -> dict[str, Any]:
    """Named enums for the fields that hold one, and `anyOf: [X, null]` for nullable ones and nullable
    nested objects (apispec writes `anyOf: [{nullable object}, X]`, generators make a type of the first)."""
    by_values = {frozenset(values): name for name, values in NAMED_ENUMS.items()}
    assert len(by_values) == len(NAMED_ENUMS), "two named enums with the same values"
    used: set[str] = set()

    def rewrite(node: Any) -> Any:
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        if not isinstance(node, dict):
            return node
        values = node.get("enum")
        name = (
            by_values.get(frozenset(v for v in values if v is not None)) if isinstance(values, list) else None
        )
        if name is not None and node.get("type") == "string":
            used.add(name)
            ref = {"$ref": _SCHEMA_REF + name}
            rest = {k: v for k, v in node.items() if k not in ("type", "enum", "nullable")}
            if node.get("nullable"):
                return {"anyOf": [ref, {"type": "string", **_NULL}], **rest}
            return {"allOf": [ref], **rest} if rest else ref
        options = node.get("anyOf")
        if (
            isinstance(options, list)
            and len(options) == 2
            and {"nullable": True, "type": "object"} in options
        ):
            (other,) = [option for option in options if option != {"nullable": True, "type": "object"}]
            node = {**node, "anyOf": [other, {"type": "object", **_NULL}]}
        return {key: rewrite(value) for key, value in node.items()}

    spec = rewrite(spec)
    schemas = spec["components"]["schemas"]
    for name in sorted(used):
        schemas[name] = {"type": "string", "enum": list(NAMED_ENUMS[name])}
    return spec


def _not_nullable(schema: dict[str, Any]) -> None:
    schema.pop("nullable", None)
    if schema.get("default", "") is None:
        del schema["default"]
    if "enum" in schema:
        schema["enum"] = [value for value in schema["enum"] if value is not None]
