"""Declarative base, naming convention and column types shared by all models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


#: How far `utcnow` is set back or ahead in this context (`clock_set_to`); None outside it.
_clock_offset: ContextVar[timedelta | None] = ContextVar("ews_clock_offset", default=None)


def utcnow() -> datetime:
    """The time every row, audit event and email is stamped with: now, or the moment `clock_set_to` set."""
    offset = _clock_offset.get()
    return datetime.now(UTC) if offset is None else datetime.now(UTC) + offset


@contextmanager
def clock_set_to(moment: datetime) -> Iterator[None]:
    """Let `utcnow` start at `moment` (and run on from there) inside the block.

    For `ews demo` only: it replays the programme's history through the same services as real use, so
    its cases, reviews and audit events carry the dates of their time (2011–2025), not the load day. The
    clock keeps running, so events inside one block stay in order.
    """
    token = _clock_offset.set(moment.astimezone(UTC) - datetime.now(UTC))
    try:
        yield
    finally:
        _clock_offset.reset(token)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSONType,
        list[int]: JSONType,
        list[dict[str, Any]]: JSONType,
    }
