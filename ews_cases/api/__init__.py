"""The JSON API (`/api/v1`): parse → call a service → serialise; no business rules here."""

from __future__ import annotations

from apiflask import APIFlask, abort
from flask import current_app, request

from ews_cases.api.blueprint import api
from ews_cases.api.errors import register_error_handlers

#: Endpoints anyone may call without a token.
PUBLIC_ENDPOINTS = frozenset({"api.health", "openapi.spec"})


@api.before_request
def _closed_unless_declared() -> None:
    """An endpoint that forgot its `@allow(...)` rule is refused rather than left open."""
    view = current_app.view_functions.get(request.endpoint or "")
    if request.endpoint not in PUBLIC_ENDPOINTS and view is not None and not hasattr(view, "_ews_roles"):
        abort(403)


def register_api(app: APIFlask) -> None:
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
