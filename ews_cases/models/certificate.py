"""Certificates: one current per eligible team member, with a public verification code.

A certificate is prepared (serial, PDF, hash) when its case reaches `project_done` and released (`released_at`:
emailed, downloadable by its holder, valid on the verification page) then or on the cohort's ceremony day. A
correction revokes it and points `replaced_by_id` at the certificate that replaces it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base

#: What `Certificate.status` says.
CERTIFICATE_STATUSES = ("prepared", "valid", "revoked")


class Certificate(Base):
    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("team_members.id"), index=True)
    serial: Mapped[str] = mapped_column(String(30), unique=True)
    verification_code: Mapped[str] = mapped_column(String(64), unique=True)
    holder_name: Mapped[str] = mapped_column(String(200))
    pdf_path: Mapped[str | None] = mapped_column(String(500))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    released_at: Mapped[datetime | None]
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))

    @property
    def status(self) -> str:
        """One of CERTIFICATE_STATUSES: `valid`, `revoked` or `prepared` (made, not yet released: not valid yet)."""
        if self.revoked_at is not None:
            return "revoked"
        return "valid" if self.released_at is not None else "prepared"
