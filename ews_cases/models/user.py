"""People who log in or call the API, and their API tokens (stored only as hashes)."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ColumnElement, ForeignKey, String, and_, or_
from sqlalchemy.ext.hybrid import hybrid_method
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ews_cases.models.base import Base, utcnow
from ews_cases.models.municipality import Municipality

USER_ROLES = ("applicant", "reviewer", "coordinator", "auditor", "admin")


class User(Base):
    """Also the Flask-Login user of the web pages (`get_id`, `is_active`, `is_authenticated`)."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('applicant', 'reviewer', 'coordinator', 'auditor', 'admin')", name="role"),
        CheckConstraint("role <> 'applicant' OR municipality_ags IS NOT NULL", name="applicant_municipality"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    #: Applicants: the municipality they act for. Reviewers: the affiliation for conflicts of interest.
    municipality_ags: Mapped[str | None] = mapped_column(ForeignKey("municipalities.ags"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: For the unsubscribe link in deadline reminders to applicants with a draft.
    unsubscribe_token: Mapped[str] = mapped_column(
        String(64), unique=True, default=lambda: secrets.token_urlsafe(24)
    )
    reminders_opted_out_at: Mapped[datetime | None]
    #: Auditors: since when each new signed checkpoint of the audit log is mailed to them (None: not mailed).
    checkpoint_mail_since: Mapped[datetime | None]
    #: Web sessions opened before this moment are over (set on deactivation; a reactivation does not revive them).
    sessions_ended_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The second factor (TOTP, RFC 6238): the shared secret (base32) once confirmed with a code, and when.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[datetime | None]
    #: The time step of the last code accepted: each code is good once (RFC 6238 section 5.2).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)

    municipality: Mapped[Municipality | None] = relationship(lazy="joined")

    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return str(self.id)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    #: The token is refused from this moment on; None: until revoked.
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    @hybrid_method
    def valid_at(self, now: datetime) -> bool:
        """Neither revoked nor expired at `now`; the same rule in Python and in SQL (`user_for_token`)."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @valid_at.inplace.expression
    @classmethod
    def _valid_at_expression(cls, now: Any) -> ColumnElement[bool]:
        return and_(cls.revoked_at.is_(None), or_(cls.expires_at.is_(None), cls.expires_at > now))

    def status_at(self, now: datetime) -> str:
        """`revoked`, `expired` or `active` (the API, the pages and the command line show it)."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.valid_at(now) else "expired"
