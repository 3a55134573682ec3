"""Invitations (a personal link that creates an account once) and access requests (a municipality that was
not invited asks the programme office for one). Only a hash of an invitation's link is stored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, utcnow

INVITATION_STATUSES = ("open", "accepted", "expired", "revoked")
ACCESS_REQUEST_STATUSES = ("pending", "confirmed", "declined")


class Invitation(Base):
    """An invitation to a role (an applicant's bound to a municipality): good once, until `expires_at`.

    The link's secret is derived from `token_salt` and the secret key (`services.invitations.link_token`),
    so a renewal or a later reminder can mail the same link again; the database alone does not yield it.
    """

    __tablename__ = "invitations"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'accepted', 'expired', 'revoked')", name="status"),
        CheckConstraint("role IN ('applicant', 'reviewer', 'coordinator', 'auditor', 'admin')", name="role"),
        CheckConstraint("role <> 'applicant' OR municipality_ags IS NOT NULL", name="applicant_municipality"),
        # A reminder scan invites a contact once per cohort, however often it runs.
        Index(
            "uq_invitations_open_contact_cohort",
            "contact_id",
            "cohort_id",
            unique=True,
            sqlite_where=text("status = 'open' AND contact_id IS NOT NULL"),
            postgresql_where=text("status = 'open' AND contact_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    municipality_ags: Mapped[str | None] = mapped_column(ForeignKey("municipalities.ags"))
    token_salt: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="open")
    #: Who invited (the audit trail's actor label: `user:12`, `system:scan_reminders`).
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: Invitations a reminder scan created: the contact and the cohort it was reminded of.
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"))


class AccessRequest(Base):
    """A request for access from `/zugang/beantragen`, confirmed (→ an invitation) or declined (→ a letter)."""

    __tablename__ = "access_requests"
    __table_args__ = (CheckConstraint("status IN ('pending', 'confirmed', 'declined')", name="status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), index=True)
    municipality_ags: Mapped[str] = mapped_column(ForeignKey("municipalities.ags"))
    position: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(100))
    decline_reason: Mapped[str | None] = mapped_column(Text)
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id"))
