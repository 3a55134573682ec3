"""Refuse what no handler should see: text the database cannot store (NUL characters, lone surrogates),
bodies that claim to be JSON but cannot be parsed (e.g. nested thousands deep, integers of 5000 digits), and
chunked bodies beyond the size limit."""

from __future__ import annotations

from typing import Any

from apiflask import abort
from flask import Flask, request
from werkzeug.exceptions import BadRequest

from ews_cases.i18n.translate import N_

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
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


def _refuse_chunked_body_beyond_the_limit() -> None:
    """Werkzeug reads a body without Content-Length (chunked) only up to MAX_CONTENT_LENGTH and hands on
    what it read, cut off; like a body that declares a length above the limit, it is a 413."""
    limit = request.max_content_length
    if (
        limit is None
        or request.content_length is not None
        or not request.environ.get("wsgi.input_terminated")
    ):
        return
    if len(request.get_data(cache=True)) >= limit and request.environ["wsgi.input"].read(1):
        abort(413)


def register_input_guard(app: Flask) -> None:
    @app.before_request
    def _refuse_unstorable_text() -> None:
        _refuse_chunked_body_beyond_the_limit()  # before anything reads the body
        form = request.form.values() if request.mimetype in _FORM_TYPES else ()
        values = [*request.args.values(), *form, *(request.view_args or {}).values()]
        if not all(_all_strings(v) for v in values):
            abort(400, message=UNSTORABLE_TEXT)
        if request.is_json and request.get_data(cache=True).strip():  # also chunked bodies (no length)
            try:
                storable = _all_strings(request.get_json())
            except (BadRequest, RecursionError):  # not JSON; nested too deep for the parser
                abort(400)
            if not storable:
                abort(400, message=UNSTORABLE_TEXT)
