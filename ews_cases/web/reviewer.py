"""Pages of the role `reviewer` (prefix `/gutachten`)."""

from __future__ import annotations

from flask import Blueprint

reviewer = Blueprint("reviewer", __name__, url_prefix="/gutachten")
