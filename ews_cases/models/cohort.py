"""Cohorts (Durchgänge) and their dated sessions."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ews_cases.models.base import Base, utcnow
from workflows import BERLIN

SESSION_KINDS = ("fachtagung", "workshop", "abschluss")


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("team_size > 0", name="team_size_positive"),
        CheckConstraint("required_reviews > 0", name="required_reviews_positive"),
        CheckConstraint("min_attendance >= 0 AND min_attendance <= 1", name="min_attendance_share"),
        CheckConstraint("ends_on IS NULL OR starts_on IS NULL OR ends_on >= starts_on", name="dates_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(40))
    applications_open_at: Mapped[datetime | None]
    application_deadline: Mapped[date]
    capacity: Mapped[int] = mapped_column(default=10)
    team_size: Mapped[int] = mapped_column(default=2)
    starts_on: Mapped[date | None]
    ends_on: Mapped[date | None]
    reminder_days: Mapped[list[int]] = mapped_column(default=lambda: [14, 7, 3, 1])
    min_attendance: Mapped[Decimal] = mapped_column(Numeric(3, 2), default=Decimal("0.75"))
    required_reviews: Mapped[int] = mapped_column(default=2)
    ceremony_on: Mapped[date | None]
    #: Set when the office released the certificates before the ceremony day (the reason is in the audit trail).
    certificates_released_at: Mapped[datetime | None]
    ceremony_place: Mapped[str | None] = mapped_column(String(120))
    signatory_name: Mapped[str | None] = mapped_column(String(200))
    signatory_title: Mapped[str | None] = mapped_column(String(200))
    funding_eur: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    sessions: Mapped[list[CohortSession]] = relationship(
        back_populates="cohort", order_by="CohortSession.starts_at"
    )

    @property
    def deadline_at(self) -> datetime:
        """The end of the application period: the deadline day, 23:59:59 Europe/Berlin (the whole second)."""
        return datetime.combine(self.application_deadline, time(23, 59, 59, 999_999), tzinfo=BERLIN)

    def is_open(self, now: datetime) -> bool:
        opened = self.applications_open_at is None or self.applications_open_at <= now
        return opened and now <= self.deadline_at

    def days_until_deadline(self, now: datetime) -> int:
        """Whole days from `now`'s day to the deadline day, both in Europe/Berlin: 0 on the last day, negative
        once the deadline has passed (then and only then `now > deadline_at`)."""
        return (self.application_deadline - now.astimezone(BERLIN).date()).days


class CohortSession(Base):
    """A dated event of a cohort: the Fachtagung, a workshop or the closing ceremony."""

    __tablename__ = "cohort_sessions"
    __table_args__ = (
        CheckConstraint("kind IN ('fachtagung', 'workshop', 'abschluss')", name="kind"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    location: Mapped[str] = mapped_column(String(200))
    #: iCalendar SEQUENCE: raised with every change its invitees are told about (moved, cancelled).
    sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    cancelled_at: Mapped[datetime | None]

    cohort: Mapped[Cohort] = relationship(back_populates="sessions")
