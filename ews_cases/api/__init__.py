"""The JSON API (`/api/v1`): parse → call a service → serialise; no business rules here."""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask, abort
from flask import current_app, request
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from ews_cases.api.auth import document_roles
from ews_cases.api.blueprint import api
from ews_cases.api.errors import document_problems, register_error_handlers
from ews_cases.api.pagination import MAX_ID

#: Endpoints anyone may call without a token.
PUBLIC_ENDPOINTS = frozenset({"api.health", "openapi.spec"})


@api.before_request
def _closed_unless_declared() -> None:
    """An endpoint that forgot its `@allow(...)` rule is refused rather than left open."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.endpoint not in PUBLIC_ENDPOINTS and view is not None and not hasattr(view, "_ews_roles"):
        abort(403)


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
        audit,
        cases,
        certificates,
        cohorts,
        municipalities,
        participation,
        system,
    )

    app.register_blueprint(api)
    register_error_handlers(app)
    app.spec_processor(_finish_document)  # APIFlask keeps one processor: it does all our changes


def _finish_document(spec: dict[str, Any]) -> dict[str, Any]:
    return document_roles(document_problems(spec))
