"""What others attest about checkpoints (docs/audit.md §8): RFC 3161 timestamps and auditors' cosignatures.

All three tables are append-only (triggers in migration b2d5f8a3c6e1): a token or a cosignature, once
stored, is evidence; a registered cosigner key stays known so that its old cosignatures can be checked."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ews_cases.models.base import Base, BigIntPK, utcnow


class AuditTimestamp(Base):
    """An RFC 3161 time-stamping token over a checkpoint's signed note (audit.timestamps)."""

    __tablename__ = "audit_timestamps"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_checkpoints.id"), unique=True)
    tsa_url: Mapped[str] = mapped_column(String(500))
    #: The token as DER (CMS ContentInfo with SignedData), as `openssl ts -verify -token_in` reads it.
    token: Mapped[bytes] = mapped_column(LargeBinary)
    #: SHA-256 of the checkpoint's note (UTF-8) as 64 hex digits: the token's message imprint.
    imprint: Mapped[str] = mapped_column(String(64))
    #: The token's genTime: when the TSA saw the checkpoint.
    gen_time: Mapped[datetime]
    serial_number: Mapped[str] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(200))
    #: Whether the token's signature was checked against EWS_TSA_CERTIFICATE when it was stored.
    signature_checked: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditCosigner(Base):
    """An auditor's registered cosigning key (C2SP tlog-cosignature, Ed25519, type 0x04)."""

    __tablename__ = "audit_cosigners"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    #: `<name>+<key ID>+<base64(0x04 ‖ public key)>` (audit.notes.VerifierKey.text).
    verifier_key: Mapped[str] = mapped_column(String(400), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    key_id: Mapped[str] = mapped_column(String(8))
    #: The auditor who registered it (None: registered on the command line by `ews audit cosign`).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditCosignature(Base):
    """A verified cosignature line of a registered key over a checkpoint; at most one per key and checkpoint."""

    __tablename__ = "audit_cosignatures"
    __table_args__ = (UniqueConstraint("checkpoint_id", "cosigner_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_checkpoints.id"), index=True)
    cosigner_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audit_cosigners.id"))
    #: `— <name> <base64(key ID ‖ 8-byte timestamp ‖ Ed25519 signature)>` without the newline.
    line: Mapped[str] = mapped_column(Text)
    #: The cosignature's own timestamp (POSIX seconds, signed by the cosigner) and the same as a moment.
    timestamp: Mapped[int] = mapped_column(BigInteger)
    cosigned_at: Mapped[datetime]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
