"""Pages of the role `auditing` (prefix `/pruefung`)."""

from __future__ import annotations

from flask import Blueprint

auditing = Blueprint("auditing", __name__, url_prefix="/pruefung")
