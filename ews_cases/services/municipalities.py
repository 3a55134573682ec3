"""Finding municipalities in the reference list: one search for the API and the application form."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from ews_cases.models import Municipality


def _folded(column: ColumnElement[str]) -> ColumnElement[str]:
    """Lower case that folds Ä, Ö, Ü too (SQLite's lower() and PostgreSQL's in a C locale fold only ASCII)."""
    for upper, lower in (("Ä", "ä"), ("Ö", "ö"), ("Ü", "ü")):
        column = func.replace(column, upper, lower)
    return func.lower(column)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def matching(q: str | None) -> ColumnElement[bool]:
    """Name contains `q` (any case, umlauts too), or — for digits — the AGS starts with it; all for no `q`.

    `q` is always a bound parameter with LIKE's wildcards escaped: it can only ever be searched for.
    """
    q = (q or "").strip()
    if not q:
        return true()
    by_name = _folded(Municipality.name).like(f"%{_escape_like(q.lower())}%", escape="\\")
    if q.isascii() and q.isdigit():
        return or_(by_name, Municipality.ags.startswith(q, autoescape=True))
    return by_name


def search_municipalities(session: Session, q: str, limit: int) -> tuple[list[Municipality], bool]:
    """At most `limit` municipalities matching `q`, by name, and whether there were more; none for no `q`."""
    if not q.strip():
        return [], False
    rows = session.scalars(
        select(Municipality).where(matching(q)).order_by(Municipality.name, Municipality.ags).limit(limit + 1)
    ).all()
    return list(rows[:limit]), len(rows) > limit
