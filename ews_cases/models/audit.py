"""The append-only audit trail: hash-chained events, one chain per case and one for everything else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
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
