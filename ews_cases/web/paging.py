"""Numbered pages for the lists people read page by page ("Seite 2 von 7"), as `?seite=` links.

The audit log pages by a cursor instead (`api.pagination`): it grows without end and is read in one
direction; these lists are searched, and a page number is what one tells a colleague on the phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

T = TypeVar("T")
PAGE_PARAM = "seite"
#: Beyond this, a page number is not a page anybody reached by following links.
MAX_PAGE = 100_000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items, its number (from 1), the page size and how many there are in all."""

    items: Sequence[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_item(self) -> int:
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last_item(self) -> int:
        return self.first_item + len(self.items) - 1 if self.items else 0

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None


def requested_page() -> int:
    """The page asked for by `?seite=`; 1 for none, for nonsense and for numbers below 1."""
    number = request.args.get(PAGE_PARAM, 1, type=int) or 1
    return min(max(number, 1), MAX_PAGE)


def paginate_rows(session: Session, stmt: Select[Any], size: int, number: int | None = None) -> Page[Any]:
    """Page `number` (default: the requested one) of `stmt`, which must be ordered; a number past the
    end shows the last page. Rows as `session.execute` gives them (one entity: the entity itself)."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    pages = max(1, -(-total // size))
    number = min(number if number is not None else requested_page(), pages)
    result = session.execute(stmt.offset((number - 1) * size).limit(size))
    single = len(result.keys()) == 1
    rows = result.scalars().unique().all() if single else result.all()
    return Page(items=rows, number=number, size=size, total=total)
