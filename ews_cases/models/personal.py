"""Personal values kept outside the hash-chained audit trail (docs/audit.md §7, docs/privacy.md).

An audit event holds a commitment `{"$pd": <id>, "sha256": …}` to each personal value it records; the value
and its salt live here, so that erasing them (value and salt to NULL) leaves every chain verifiable.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, BigIntPK, utcnow


class PersonalValue(Base):
    __tablename__ = "personal_values"
    __table_args__ = (Index("ix_personal_values_subject_kind_subject_id", "subject_kind", "subject_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: Whom the value is about: `case_contact` (id = case), `team_member`, `user`, `contact` (a reminder
    #: recipient), `case` (free texts of a case), `global` (free texts outside cases; id NULL).
    subject_kind: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int | None]
    #: The case the value belongs to (erasure per case); NULL outside cases.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    #: The event data path the value was recorded at, e.g. `team.1.email` or `changes.contact.name.new`.
    field: Mapped[str] = mapped_column(String(200))
    #: The canonical JSON of the value (docs/audit.md §3); NULL once erased.
    value: Mapped[str | None] = mapped_column(Text)
    #: 16 random bytes as 32 lowercase hex digits; NULL once erased.
    salt: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    erased_at: Mapped[datetime | None]
    #: Why: a retention category (`retention.rejected_case`, …) or `request` (Art. 17).
    erasure_category: Mapped[str | None] = mapped_column(String(60))
    #: Free text the office gave with an erasure request (never names a person).
    erasure_reason: Mapped[str | None] = mapped_column(Text)
