"""The JSON API (`/api/v1`): parse → call a service → serialise; no business rules here."""

from __future__ import annotations

from typing import Any

from apiflask import APIFlask, abort
from flask import current_app, request
from werkzeug.routing import IntegerConverter, Map

from ews_cases.api.blueprint import api
from ews_cases.api.errors import register_error_handlers
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
    """`<int:…>` in our URLs: a number a table's id can be. A larger one matches no route (404) instead of
    reaching the database, whose driver refuses it (SQLite: integers beyond 64 bits) with a 500."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


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
