"""The JSON API (`/api/v1`): parse → call a service → serialise; no business rules here."""

from __future__ import annotations

import re
import warnings
from typing import Any

from apiflask import APIFlask, abort
from flask import current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from ews_cases.api.auth import document_roles
from ews_cases.api.blueprint import api
from ews_cases.api.errors import document_problems, register_error_handlers
from ews_cases.api.openapi import finish_document, name_operations
from ews_cases.api.pagination import MAX_ID
from ews_cases.api.rate_limit import document_rate_limit, register_rate_limit

# apispec warns while APIFlask adds such a copy; merge_repeated_schemas drops it from the document.
warnings.filterwarnings("ignore", message=r".* has already been added to the spec", category=UserWarning)

JSON = "application/json"
#: Endpoints anyone may call without a token.
PUBLIC_ENDPOINTS = frozenset(
    {"api.health", "openapi.spec", "api.list_checkpoints", "api.latest_checkpoint", "api.list_audit_keys"}
)


@api.before_request
def _closed_unless_declared() -> None:
    """An endpoint that forgot its `@allow(...)` rule is refused rather than left open."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.endpoint not in PUBLIC_ENDPOINTS and view is not None and not hasattr(view, "_ews_roles"):
        abort(403)


@api.before_request
def _json_bodies_only() -> None:
    """An operation that reads a JSON body gets JSON or a 415: webargs would read a body of another type as
    no body at all, so a `PATCH` sent as text/plain or as a form would succeed as an empty change. A request
    without any body is left to the schema (an operation whose fields are all optional needs none)."""
    view = current_app.view_functions.get(request.endpoint or "")
    spec = getattr(view, "_spec", {})
    if spec.get("body") is None or spec.get("content_type", JSON) != JSON or request.is_json:
        return
    if request.content_length or "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        abort(415)


class IdConverter(IntegerConverter):
    """`<int:…>` in our URLs: a number larger than any id is no such resource (404), and never reaches the
    database, whose driver refuses it with a 500 (SQLite: integers beyond 64 bits). Raising NotFound rather
    than werkzeug's ValidationError: that would answer 405 where another method's route shares the path."""

    def to_python(self, value: str) -> int:
        number: int = super().to_python(value)
        if number > MAX_ID:
            raise NotFound()
        return number


def register_api(app: APIFlask) -> None:
    app.url_map.converters["int"] = IdConverter  # before any route is added
    from ews_cases.api import (  # noqa: F401 - modules add routes
        admin,
        attestations,
        audit,
        cases,
        certificates,
        checkpoints,
        cohorts,
        invitations,
        municipalities,
        participation,
        system,
    )

    settings = app.extensions["ews"].settings
    # Before the other hooks that read the request (the input guard parses the body): first the count.
    register_rate_limit(app, settings)
    app.register_blueprint(api)
    name_operations(app, api.name)
    register_error_handlers(app)

    @app.spec_processor  # APIFlask keeps one processor: it does all our changes
    def _finish_document(spec: dict[str, Any]) -> dict[str, Any]:
        spec = document_roles(document_problems(merge_repeated_schemas(spec)))
        return finish_document(document_rate_limit(spec), settings)


_REPEATED_NAME = re.compile(r"(.+?)(\d+)")


def merge_repeated_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    """One component per schema class (an OpenAPI spec processor).

    A schema that is nested in another before some route answers with it directly is added a second time by
    APIFlask, as `<Name>1` with the same definition (apispec warns "has already been added"): generated
    clients would get two types for one thing. Such a copy is dropped and references to it point to `<Name>`.
    """
    schemas = spec.get("components", {}).get("schemas", {})
    copies = {}
    for name, definition in schemas.items():
        repeated = _REPEATED_NAME.fullmatch(name)
        if repeated and schemas.get(repeated.group(1)) == definition:
            copies[f"#/components/schemas/{name}"] = f"#/components/schemas/{repeated.group(1)}"
    if not copies:
        return spec
    for ref in copies:
        del schemas[ref.rsplit("/", 1)[1]]
    return _point_refs(spec, copies)


def _point_refs(node: Any, targets: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: targets.get(value, value) if key == "$ref" else _point_refs(value, targets)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_point_refs(item, targets) for item in node]
    return node
