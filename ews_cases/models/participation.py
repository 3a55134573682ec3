"""What happens after admission: attendance per session and member, and the practice project."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, utcnow

ATTENDANCE_STATUSES = ("present", "excused", "absent")
PROJECT_STATUSES = ("planned", "submitted", "approved")


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("session_id", "member_id"),
        CheckConstraint("status IN ('present', 'excused', 'absent')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("cohort_sessions.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("team_members.id"), index=True)
    status: Mapped[str] = mapped_column(String(10))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class PracticeProject(Base):
    __tablename__ = "practice_projects"
    __table_args__ = (CheckConstraint("status IN ('planned', 'submitted', 'approved')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    summary: Mapped[str] = mapped_column(Text, default="")
    report: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="planned")
    return_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
