"""Keyset pagination: `?limit=&cursor=` → `{"items": [...], "next_cursor": ...}` in a stable order (by id)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from apiflask import Schema
from apiflask.validators import Range
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from ews_cases.api.fields import Integer, String
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.translate import _

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
#: The largest id a table holds (a 32-bit integer column); larger ids in a request are invalid, not a crash.
MAX_ID = 2**31 - 1


class PageQuery(Schema):
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None, metadata={"description": "next_cursor of the previous page"})


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        value = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        value = -1
    if not 0 <= value <= MAX_ID:  # beyond any id the database refuses the number (a 500, not a 422)
        raise ValidationFailed({"cursor": [_("Ungültiger Cursor.")]})
    return value


def paginate(
    session: Session,
    stmt: Select[Any],
    key: InstrumentedAttribute[Any],
    query: dict[str, Any],
    serialise: Callable[[Any], dict[str, Any]],
    *,
    descending: bool = False,
) -> dict[str, Any]:
    """One page of `stmt` ordered by `key` (an integer id; highest first if `descending`), with the cursor
    of the next page."""
    after = decode_cursor(query.get("cursor"))
    limit = query["limit"]
    if after is not None:
        stmt = stmt.where(key < after if descending else key > after)
    order = key.desc() if descending else key
    rows: Sequence[Any] = session.scalars(stmt.order_by(order).limit(limit + 1)).unique().all()
    items = rows[:limit]
    next_cursor = encode_cursor(getattr(items[-1], key.key)) if len(rows) > limit else None
    return {"items": [serialise(row) for row in items], "next_cursor": next_cursor}
