"""RFC 3161 timestamps for signed checkpoints (docs/audit.md §8; the format is `audit.timestamps`).

A checkpoint is signed and stored first; timestamping follows in its own step, so a TSA that is slow or down
never holds up or loses a checkpoint. `timestamp_pending` asks the TSA (`EWS_TSA_URL`) for every checkpoint
without a token, oldest first, outside any transaction, and stores each checked token in a short transaction
of its own. It stops at the first TSA failure and leaves the rest for the next run: the beat task
`timestamp_checkpoints` (every `RETRY_MINUTES`) and `ews audit checkpoint` call it. A token's genTime is
therefore the moment the TSA saw the checkpoint, which may be later than the checkpoint's `created_at`.

No audit event is appended for a token: it is evidence about the log, not a change of the cases, and an
event would make the log grow after each checkpoint so that the next run signs a checkpoint again.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ews_cases.audit import timestamps
from ews_cases.audit.chain import format_time
from ews_cases.db.engine import Database
from ews_cases.models import AuditCheckpoint, AuditTimestamp
from ews_cases.settings import Settings

log = logging.getLogger(__name__)

#: How often beat looks for checkpoints still without a token (a TSA that was down is asked again).
RETRY_MINUTES = 5
#: At most this many checkpoints are timestamped per run (a TSA back after a long outage is not flooded).
BATCH = 50


@dataclass(slots=True)
class TimestampRun:
    stored: list[int] = field(default_factory=list)  # checkpoint ids timestamped in this run
    pending: int = 0  # checkpoints still without a token afterwards
    error: str | None = None  # why the run stopped early

    def as_dict(self) -> dict[str, Any]:
        return {"stored": self.stored, "pending": self.pending, "error": self.error}


def pending_checkpoints(session: Session, *, limit: int = BATCH) -> list[tuple[int, str]]:
    """(id, note) of the checkpoints without a token, oldest first."""
    stamped = exists().where(AuditTimestamp.checkpoint_id == AuditCheckpoint.id)
    rows = session.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.note)
        .where(~stamped)
        .order_by(AuditCheckpoint.id)
        .limit(limit)
    )
    return [(int(checkpoint_id), note) for checkpoint_id, note in rows]


def tsa_certificates(settings: Settings) -> list[x509.Certificate] | None:
    """The certificates of `EWS_TSA_CERTIFICATE` (None: unset, only imprint and nonce are checked)."""
    return timestamps.load_certificates(settings.tsa_certificate) if settings.tsa_certificate else None


def timestamp_pending(db: Database, settings: Settings, *, limit: int = BATCH) -> TimestampRun:
    """Timestamp the checkpoints that have no token yet (nothing when `EWS_TSA_URL` is unset)."""
    run = TimestampRun()
    if not settings.tsa_url:
        return run
    with db.session() as session:
        pending = pending_checkpoints(session, limit=limit)
    if not pending:
        return run
    certificates = tsa_certificates(settings)
    for checkpoint_id, note in pending:
        try:
            token = timestamps.request_timestamp(
                settings.tsa_url,
                note.encode("utf-8"),
                certificates=certificates,
                timeout=settings.tsa_timeout_seconds,
            )
        except timestamps.TimestampError as exc:
            run.error = str(exc)
            log.warning("checkpoint %s not timestamped, asking again later: %s", checkpoint_id, exc)
            break
        if not token.signature_checked:
            log.warning(
                "checkpoint %s: EWS_TSA_CERTIFICATE is unset, the token's signature was not checked",
                checkpoint_id,
            )
        if store_timestamp(db, checkpoint_id, settings.tsa_url, token):
            run.stored.append(checkpoint_id)
    with db.session() as session:
        run.pending = len(pending_checkpoints(session, limit=limit))
    return run


def store_timestamp(db: Database, checkpoint_id: int, tsa_url: str, token: timestamps.Timestamp) -> bool:
    """Store a checked token; False if another run stored one for the checkpoint first."""
    try:
        with db.transaction() as session:
            session.execute(
                insert(AuditTimestamp).values(
                    checkpoint_id=checkpoint_id,
                    tsa_url=tsa_url,
                    token=token.token,
                    imprint=token.imprint.hex(),
                    gen_time=token.gen_time,
                    serial_number=str(token.serial_number),
                    policy=token.policy,
                    signature_checked=token.signature_checked,
                )
            )
    except IntegrityError:
        return False
    return True


def check_stored(session: Session, checkpoint_id: int, settings: Settings) -> timestamps.Timestamp | None:
    """Check a stored token again against its checkpoint's note (and EWS_TSA_CERTIFICATE); None if none.

    Raises `timestamps.TimestampError` when the token does not fit the note or does not verify."""
    row = session.execute(
        select(AuditTimestamp.token, AuditCheckpoint.note)
        .join(AuditCheckpoint, AuditCheckpoint.id == AuditTimestamp.checkpoint_id)
        .where(AuditTimestamp.checkpoint_id == checkpoint_id)
    ).one_or_none()
    if row is None:
        return None
    return timestamps.check_token(bytes(row.token), row.note.encode("utf-8"), tsa_certificates(settings))


def timestamp_json(row: AuditTimestamp | None) -> dict[str, Any] | None:
    """A stored token as the checkpoint API shows it (the token base64, DER)."""
    if row is None:
        return None
    return {
        "tsa_url": row.tsa_url,
        "gen_time": format_time(row.gen_time),
        "serial_number": row.serial_number,
        "policy": row.policy,
        "imprint_sha256": row.imprint,
        "signature_checked": row.signature_checked,
        "token": base64.b64encode(row.token).decode("ascii"),
    }
