"""Pages of the role `office` (prefix `/programm`)."""

from __future__ import annotations

from flask import Blueprint

office = Blueprint("office", __name__, url_prefix="/programm")
