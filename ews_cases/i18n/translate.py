"""Translation for service code: German msgids, translated by Flask-Babel when an app context exists."""

from __future__ import annotations

from typing import Any

from flask import has_app_context, has_request_context, request
from flask_babel import gettext as _babel_gettext

from workflows.text import N_


def _(message: str, **params: Any) -> str:
    """Translate `message` (a German msgid) and fill in `{placeholders}`."""
    text = _babel_gettext(message) if has_app_context() else message
    return text.format(**params) if params else text


__all__ = ["N_", "_"]


SUPPORTED_LOCALES = ("de", "en")


def select_locale() -> str:
    """German unless the request prefers English (`Accept-Language`)."""
    if not has_request_context():
        return "de"
    for tag, _quality in request.accept_languages:  # best first; "de-DE" counts as "de"
        language = tag.replace("_", "-").split("-", 1)[0].lower()
        if language in SUPPORTED_LOCALES:
            return language
    return "de"
