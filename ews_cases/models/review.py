"""Reviews: one per reviewer and case, five criteria scored 0–5 and a recommendation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, utcnow

CRITERIA = ("need", "strategy", "leadership", "capacity", "network")
RECOMMENDATIONS = ("admit", "waitlist", "reject")


class Review(Base):
    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("case_id", "reviewer_id"),
        CheckConstraint("recommendation IN ('admit', 'waitlist', 'reject')", name="recommendation"),
        *(CheckConstraint(f"{c} BETWEEN 0 AND 5", name=f"{c}_range") for c in CRITERIA),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    need: Mapped[int] = mapped_column(SmallInteger)
    strategy: Mapped[int] = mapped_column(SmallInteger)
    leadership: Mapped[int] = mapped_column(SmallInteger)
    capacity: Mapped[int] = mapped_column(SmallInteger)
    network: Mapped[int] = mapped_column(SmallInteger)
    recommendation: Mapped[str] = mapped_column(String(10))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def scores(self) -> dict[str, int]:
        return {c: getattr(self, c) for c in CRITERIA}
