"""Refuse what no handler should see: text the database cannot store (NUL characters, lone surrogates),
bodies that claim to be JSON but cannot be parsed (e.g. nested thousands deep, integers of 5000 digits) or
name a key twice, and chunked bodies beyond the size limit.

Every JSON body is parsed here first, strictly (`parse_json_body`), before any handler or schema reads it.
"""

from __future__ import annotations

import json
from typing import Any

from apiflask import abort
from flask import Flask, request

from ews_cases.i18n.translate import N_

_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
UNSTORABLE_TEXT = N_("Die Anfrage enthält Zeichen, die nicht gespeichert werden können (z. B. NUL).")
DUPLICATE_KEY = N_("Der Schlüssel „{key}“ kommt in einem JSON-Objekt mehrfach vor.")


class DuplicateKey(ValueError):
    """A JSON object names `key` twice: which value is meant is anyone's guess (RFC 8259 §4 leaves it open,
    parsers differ), so the body is refused rather than read as its last occurrence."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate key {key!r}")
        self.key = key


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise DuplicateKey(key)
        obj[key] = value
    return obj


def parse_json_body(data: bytes) -> Any:
    """The body as JSON: `DuplicateKey` for a key named twice in one object, ValueError if it is no JSON
    (or RecursionError when nested deeper than the parser goes)."""
    return json.loads(data, object_pairs_hook=_object_without_duplicates)


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
        body = request.get_data(cache=True) if request.is_json else b""  # also chunked bodies (no length)
        if body.strip():
            try:
                storable = _all_strings(parse_json_body(body))
            except DuplicateKey as duplicate:
                # Shown as is (no more than a line of it): it names the key the client sent.
                abort(400, message=DUPLICATE_KEY, extra_data={"key": duplicate.key[:100]})
            except (ValueError, RecursionError):  # not JSON; nested too deep for the parser
                abort(400)
            if not storable:
                abort(400, message=UNSTORABLE_TEXT)
