"""Deadline reminders sent: at most one per (cohort, recipient, offset), enforced by the database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, BigIntPK, utcnow


class ReminderSent(Base):
    __tablename__ = "reminders_sent"
    __table_args__ = (UniqueConstraint("cohort_id", "recipient", "offset_days"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"))
    #: The email address, lower-cased: one person gets one reminder however many roles they have.
    recipient: Mapped[str] = mapped_column(String(254))
    offset_days: Mapped[int]
    municipality_ags: Mapped[str] = mapped_column(ForeignKey("municipalities.ags"))
    outbox_key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
