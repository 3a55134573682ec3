"""RFC 9457 problem+json for every error of the API, mapped from domain errors in this one place."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apiflask import APIFlask
from apiflask.exceptions import HTTPError
from flask import Response, json, render_template, request
from flask_babel import get_locale

from ews_cases.api.field_messages import localise_field_message
from ews_cases.db.retry import BUSY
from ews_cases.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ews_cases.http.input_guard import DUPLICATE_KEY, UNSTORABLE_TEXT
from ews_cases.i18n.translate import N_, _
from workflows import RefusalKind, TransitionRefused

PROBLEM_TYPE = "urn:ews-cases:problem:"
STATUS_TITLES = {
    400: N_("Ungültige Anfrage"),
    401: N_("Nicht angemeldet"),
    403: N_("Nicht erlaubt"),
    404: N_("Nicht gefunden"),
    405: N_("Methode nicht erlaubt"),
    409: N_("Konflikt"),
    413: N_("Anfrage zu groß"),
    414: N_("Adresse zu lang"),
    415: N_("Falscher Inhaltstyp"),
    422: N_("Nicht verarbeitbar"),
    429: N_("Zu viele Anfragen"),
    431: N_("Kopfzeilen zu groß"),
    500: N_("Interner Fehler"),
    503: N_("Nicht verfügbar"),
}
#: Messages raised with `abort(status, message=..., extra_data=...)` that say more than the status's default
#: text, and their problem codes; `extra_data` fills the message's placeholders and joins the problem's members.
SPECIFIC_MESSAGES = {UNSTORABLE_TEXT: "unstorable_text", DUPLICATE_KEY: "duplicate_key", BUSY: "busy"}
REFUSAL_STATUS = {
    RefusalKind.FORBIDDEN: 403,
    RefusalKind.WRONG_STATE: 409,
    RefusalKind.STALE_VERSION: 409,
    RefusalKind.GUARD_FAILED: 422,
    RefusalKind.UNKNOWN: 422,
}


#: The OpenAPI schema of every error answer (`problem` below), replacing APIFlask's default error schemas.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "`urn:ews-cases:problem:<code>`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "object",
            "description": "Messages per invalid field (dotted paths such as `team.0.email`)",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
        "transition": {"type": "string", "description": "The refused transition"},
        "refusals": {
            "type": "array",
            "description": "Why the transition was refused",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
_DEFAULT_ERROR_SCHEMAS = ("HTTPError", "ValidationError")


def document_problems(spec: dict[str, Any]) -> dict[str, Any]:
    """Describe the error answers as they are: `application/problem+json` with `PROBLEM_SCHEMA`, where
    APIFlask documents its own `application/json` error bodies (an OpenAPI spec processor)."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    default_refs = {f"#/components/schemas/{name}" for name in _DEFAULT_ERROR_SCHEMAS}
    problem_content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            # Any request may be refused before its handler: a body that is not JSON, or text the database
            # cannot store (NUL) in the query, the path or the body (ews_cases.http.input_guard).
            responses = operation.setdefault("responses", {})
            responses.setdefault("400", {"description": "Bad request", "content": dict(problem_content)})
            if "requestBody" in operation:
                responses.setdefault(
                    "413", {"description": "Body too large", "content": dict(problem_content)}
                )
                responses.setdefault(
                    "415",
                    {
                        "description": "The body is not sent as application/json",
                        "content": dict(problem_content),
                    },
                )
            for response in responses.values():
                content = response.get("content", {})
                if content.get("application/json", {}).get("schema", {}).get("$ref") in default_refs:
                    del content["application/json"]
                    content.update(problem_content)
    used = json.dumps(spec)
    for name in _DEFAULT_ERROR_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in used:
            schemas.pop(name, None)
    return spec


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": _(STATUS_TITLES.get(status, "Fehler")),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = {k: list(v) for k, v in errors.items()}
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype="application/problem+json")
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _field_message(message: str) -> str:
    """Our German msgids through the catalogue, the validation libraries' English messages through the table."""
    return localise_field_message(_(message), str(get_locale() or "de"))


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """`{"json": {"team": {"0": {"email": ["…"]}}}}` → `{"team.0.email": ["…"]}`."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            if prefix == "" and key in ("json", "query", "path", "headers", "form", "files", "cookies"):
                flat.update(flatten_errors(value, ""))
            else:
                flat.update(flatten_errors(value, f"{prefix}{key}."))
    elif isinstance(detail, list) and all(isinstance(m, str) for m in detail):
        flat[prefix.rstrip(".") or "_body"] = [_field_message(m) for m in detail]
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            flat.update(flatten_errors(item, f"{prefix}{index}."))
    else:
        flat[prefix.rstrip(".") or "_body"] = [_field_message(str(detail))]
    return flat


WEB_DETAILS = {
    400: N_("Die Anfrage ist ungültig. Bitte laden Sie die Seite neu und versuchen Sie es noch einmal."),
    403: N_("Diese Seite ist für Ihre Rolle nicht freigegeben."),
    404: N_("Diese Seite gibt es nicht, oder sie ist für Sie nicht sichtbar."),
    413: N_("Die gesendeten Daten sind zu groß. Bitte kürzen Sie Ihre Eingaben."),
    429: N_("Zu viele Versuche. Bitte warten Sie einige Minuten."),
}


def _html_error(error: HTTPError) -> Response:
    """Pages get an HTML error page in the layout; the API always answers problem+json."""
    status = error.status_code
    detail = _(WEB_DETAILS.get(status, N_("Es ist ein Fehler aufgetreten.")))
    if error.message in SPECIFIC_MESSAGES:
        detail = _(error.message, **error.extra_data)
    body = render_template("web/error.html", title=_(STATUS_TITLES.get(status, N_("Fehler"))), detail=detail)
    response = Response(body, status=status, mimetype="text/html")
    for key, value in (error.headers or {}).items():
        response.headers[key] = value
    return response


def register_error_handlers(app: APIFlask) -> None:
    @app.error_processor
    def _http_error(error: HTTPError) -> Response:
        status = error.status_code
        if not request.path.startswith("/api/") and request.accept_mimetypes.best != "application/json":
            return _html_error(error)
        if status == 422 or (status == 400 and isinstance(error.detail, Mapping) and error.detail):
            errors = flatten_errors(error.detail)
            if list(errors) == ["_body"]:
                return problem(400, "invalid_body", "; ".join(errors["_body"]))
            return problem(422, "invalid_fields", _("Einige Angaben sind ungültig."), errors=errors)
        detail = {
            400: _("Die Anfrage ist ungültig (z. B. kein gültiges JSON)."),
            401: _("Bitte melden Sie sich an: Authorization: Bearer <Token>."),
            403: _("Dafür fehlt Ihnen die Berechtigung."),
            404: _("Diese Ressource gibt es nicht."),
            405: _("Diese Methode ist hier nicht erlaubt."),
            413: _("Die Anfrage ist zu groß."),
            414: _("Die Adresse (URL) ist zu lang."),
            415: _("Bitte senden Sie JSON (Content-Type: application/json)."),
            429: _("Zu viele Anfragen. Bitte warten Sie, bis das Zeitfenster abgelaufen ist (Retry-After)."),
            431: _("Die Kopfzeilen der Anfrage sind zu groß."),
        }.get(status, error.message or _("Fehler"))
        code = {401: "unauthenticated", 403: "forbidden", 404: "not_found"}.get(status, f"http_{status}")
        extra: dict[str, Any] = {}
        if error.message in SPECIFIC_MESSAGES:
            detail = _(error.message, **error.extra_data)
            code = SPECIFIC_MESSAGES[error.message]
            extra = dict(error.extra_data)
        return problem(status, code, detail, headers=error.headers, **extra)

    @app.errorhandler(TransitionRefused)
    def _refused(exc: TransitionRefused) -> Response:
        refusals = [{"code": r.code, "message": r.render(_)} for r in exc.refusals]
        return problem(
            REFUSAL_STATUS[exc.kind],
            exc.refusals[0].code,
            " ".join(r["message"] for r in refusals),
            transition=exc.transition,
            refusals=refusals,
        )

    @app.errorhandler(ValidationFailed)
    def _invalid(exc: ValidationFailed) -> Response:
        return problem(exc.status, "invalid_fields", exc.render(_), errors=exc.errors)

    for cls, code in ((NotFound, "not_found"), (Forbidden, "forbidden"), (Conflict, "conflict")):

        def handler(exc: DomainError, code: str = code) -> Response:
            return problem(exc.status, code, exc.render(_))

        app.register_error_handler(cls, handler)
