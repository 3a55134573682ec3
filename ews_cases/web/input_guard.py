"""Refuse text the database cannot store before any handler sees it (NUL characters, lone surrogates)."""

from __future__ import annotations

from typing import Any

from apiflask import abort
from flask import Flask, request

from ews_cases.i18n import N_

UNSTORABLE_TEXT = N_("Die Anfrage enthält Zeichen, die nicht gespeichert werden können (z. B. NUL).")


def storable_text(value: str) -> bool:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _all_strings(value: Any) -> bool:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return all(storable_text(str(k)) and _all_strings(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_all_strings(v) for v in value)
    return True


def register_input_guard(app: Flask) -> None:
    @app.before_request
    def _refuse_unstorable_text() -> None:
        values = [*request.args.values(), *request.form.values(), *(request.view_args or {}).values()]
        if not all(_all_strings(v) for v in values):
            abort(400, message=UNSTORABLE_TEXT)
        if request.is_json and request.content_length:
            body = request.get_json(silent=True)
            if body is not None and not _all_strings(body):
                abort(400, message=UNSTORABLE_TEXT)
