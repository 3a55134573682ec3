"""The append-only audit trail: hash-chained events, one chain per case and one for everything else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, BigIntPK

GLOBAL_CHAIN = "global"


def case_chain(case_id: int) -> str:
    return f"case:{case_id}"


class AuditEvent(Base):
    """One event. The database refuses UPDATE and DELETE on this table (triggers in the migration)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("chain", "position"),
        Index("ix_audit_events_case_id_position", "case_id", "position"),
        # The global log pages by id: an equality filter followed by id hands out matches in page order.
        Index("ix_audit_events_cohort_number_id", "cohort_number", "id"),
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_actor_id", "actor", "id"),
        # Who did what when; the pattern operator class lets `LIKE 'transition.%'` bound the scan.
        Index(
            "ix_audit_events_actor_action_occurred_at",
            "actor",
            "action",
            "occurred_at",
            postgresql_ops={"action": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    chain: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(Integer)
    # No cascade: cases are never deleted, and an event must outlive anything it mentions.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    cohort_number: Mapped[int | None]
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(80))
    actor_role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    data: Mapped[dict[str, Any]]
    request_id: Mapped[str | None] = mapped_column(String(100))
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The last position and hash of each chain: the row appends lock, so chains never fork."""

    __tablename__ = "audit_chain_heads"

    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int]
    hash: Mapped[str] = mapped_column(String(64))


class AuditLogLeaf(Base):
    """The Merkle log's leaves: which event is leaf `leaf_index` (docs/audit.md §8). Append-only."""

    __tablename__ = "audit_log_leaves"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_events.id"), unique=True)
    integrated_at: Mapped[datetime]


class AuditLogNode(Base):
    """A perfect subtree of the Merkle log: the root of leaves `[index·2^level, (index+1)·2^level)`.

    Level 0 holds the leaf hashes. Append-only: a node, once complete, never changes."""

    __tablename__ = "audit_log_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditLogState(Base):
    """The Merkle log's head (one row): its size and root, and the last event taken in. Integration locks it."""

    __tablename__ = "audit_log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[str] = mapped_column(String(64))
    max_event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]
