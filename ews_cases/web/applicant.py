"""Pages of the role `applicant` (prefix `/bewerbungen`)."""

from __future__ import annotations

from flask import Blueprint

applicant = Blueprint("applicant", __name__, url_prefix="/bewerbungen")
