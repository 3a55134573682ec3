"""Translation for service code: German msgids, translated by Flask-Babel when an app context exists."""

from __future__ import annotations

from typing import Any

from flask import has_app_context
from flask_babel import gettext as _babel_gettext

from workflows.text import N_


def _(message: str, **params: Any) -> str:
    """Translate `message` (a German msgid) and fill in `{placeholders}`."""
    text = _babel_gettext(message) if has_app_context() else message
    return text.format(**params) if params else text


__all__ = ["N_", "_"]
