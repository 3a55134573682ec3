"""Signed checkpoints of the audit log (docs/audit.md §8) and the keys that signed them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, BigIntPK, utcnow


class AuditCheckpoint(Base):
    """One signed tree head of the Merkle log, its note kept verbatim. Append-only (triggers in the migration)."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    origin: Mapped[str] = mapped_column(String(255))
    #: At most one checkpoint per size: the log signs each of its sizes once.
    tree_size: Mapped[int] = mapped_column(BigInteger, unique=True)
    #: The root hash as 64 lowercase hex digits (the note carries it in base64).
    root: Mapped[str] = mapped_column(String(64))
    #: The signed note exactly as signed and served: `<origin>\n<size>\n<root>\n\n— <key name> <signature>\n`…
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditSigningKey(Base):
    """A public key that has signed checkpoints, for `GET /api/v1/audit/keys` (the private key is never here).

    Verifiers pin the log's keys out of band; this list is a convenience, not a trust anchor."""

    __tablename__ = "audit_signing_keys"

    #: `<name>+<key ID>+<base64(0x01 ‖ public key)>` (audit.notes.VerifierKey.text).
    verifier_key: Mapped[str] = mapped_column(String(400), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(8))
    #: The first and the latest checkpoint the key signed.
    first_checkpoint_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_checkpoints.id"))
    last_checkpoint_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_checkpoints.id"))
    first_used_at: Mapped[datetime]
    last_used_at: Mapped[datetime]
