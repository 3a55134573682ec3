"""Signed checkpoints of the audit log (docs/audit.md §8): write one when the log has grown, publish them with
their keys, answer proofs against them, and mail each new one to the auditors who asked for it.

A checkpoint is **not** an audit event. It is a signed statement about the log; were its writing appended to the
log, the log would grow with every checkpoint and never hold still for the next one (each would sign little more
than the previous one's event). Checkpoints are kept in their own append-only table instead, and each one is
bound to all earlier ones by the log itself: a consistency proof between any two of them must exist. The mail
to auditors does not write events either (only e-mails of a case do, `mail/delivery.py`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain, log, merkle, notes, signing
from ews_cases.errors import Conflict, DomainError, NotFound, ValidationFailed
from ews_cases.i18n.formatting import de_datetime
from ews_cases.i18n.translate import N_, _
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import AuditCheckpoint, AuditEvent, AuditSigningKey, User, utcnow
from ews_cases.settings import Settings, current_settings
from workflows import Actor

LETTER = "audit_checkpoint"
MAIL_ROLES = ("auditor",)


class LogChanged(DomainError):
    """The stored log no longer has the root an earlier checkpoint signed: nothing is signed over it."""

    status = 409


@dataclass(frozen=True, slots=True)
class Written:
    checkpoint: AuditCheckpoint
    mailed: int


def write_checkpoint(session: Session, settings: Settings | None = None) -> Written | None:
    """Take new events into the log, sign its head and store the checkpoint, mailing it to subscribers;
    None when the log has not grown since the latest checkpoint. In the caller's transaction.

    Integration locks the log's state row, so two runs at once queue up and the second finds nothing new."""
    settings = settings or current_settings()
    signers = signing.log_signers(settings)  # first: a missing key changes nothing
    head = log.integrate_pending(session)
    latest = latest_checkpoint(session)
    if head.size == 0 or (latest is not None and latest.tree_size >= head.size):
        return None
    if latest is not None and log.root_at(session, latest.tree_size) != _signed_root(
        session, latest, signers
    ):
        raise LogChanged(
            N_(
                "Das Protokoll stimmt nicht mehr mit Prüfpunkt {id} (Größe {size}) überein; es wird nichts "
                "signiert. Bitte `ews audit verify` ausführen."
            ),
            id=latest.id,
            size=latest.tree_size,
        )
    origin = settings.log_origin
    now = utcnow()
    checkpoint = AuditCheckpoint(
        origin=origin,
        tree_size=head.size,
        root=head.root_hex,
        note=notes.sign_checkpoint(origin, head.size, head.root, signers),
        created_at=now,
    )
    session.add(checkpoint)
    session.flush()
    for signer in signers:
        _record_key(session, signer.verifier, checkpoint)
    return Written(checkpoint, _mail(session, checkpoint))


def _signed_root(session: Session, checkpoint: AuditCheckpoint, signers: list[notes.Signer]) -> bytes | None:
    """The root the checkpoint's note signs, or None unless a signature on it verifies with a configured key
    or one that signed earlier checkpoints (the stored note was changed)."""
    known = [signer.verifier for signer in signers]
    known += [
        notes.parse_verifier_key(text) for text in session.scalars(select(AuditSigningKey.verifier_key))
    ]
    try:
        return notes.parse_checkpoint(notes.open_note(checkpoint.note, known).text).root
    except notes.NoteError:
        return None


def _record_key(session: Session, key: notes.VerifierKey, checkpoint: AuditCheckpoint) -> None:
    known = session.get(AuditSigningKey, key.text)
    if known is None:
        session.add(
            AuditSigningKey(
                verifier_key=key.text,
                name=key.name,
                key_id=key.key_id_hex,
                first_checkpoint_id=checkpoint.id,
                last_checkpoint_id=checkpoint.id,
                first_used_at=checkpoint.created_at,
                last_used_at=checkpoint.created_at,
            )
        )
    else:
        known.last_checkpoint_id = checkpoint.id
        known.last_used_at = checkpoint.created_at
    session.flush()


# -- reading -------------------------------------------------------------------------------------------------


def latest_checkpoint(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
    ).first()


def require_latest_checkpoint(session: Session) -> AuditCheckpoint:
    checkpoint = latest_checkpoint(session)
    if checkpoint is None:
        raise NotFound(N_("Es gibt noch keinen Prüfpunkt."))
    return checkpoint


def select_checkpoints() -> Select[tuple[AuditCheckpoint]]:
    return select(AuditCheckpoint)


def checkpoint_record(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """A checkpoint as the API and the pages show it: the note verbatim, and its parts read from it."""
    note = notes.parse_note(checkpoint.note)
    return {
        "id": checkpoint.id,
        "origin": checkpoint.origin,
        "tree_size": checkpoint.tree_size,
        "root": _b64(bytes.fromhex(checkpoint.root)),
        "created_at": checkpoint.created_at,
        "note": checkpoint.note,
        "signatures": [{"name": s.name, "key_id": s.key_id_hex} for s in note.signatures],
    }


def published_keys(session: Session) -> list[dict[str, Any]]:
    """Every key that has signed a checkpoint, oldest first; `valid_until` is None for the keys that signed the
    latest checkpoint (the current ones), else when the key last signed."""
    latest = latest_checkpoint(session)
    rows = session.scalars(select(AuditSigningKey).order_by(AuditSigningKey.first_used_at)).all()
    keys = []
    for row in rows:
        key = notes.parse_verifier_key(row.verifier_key)
        current = latest is not None and row.last_checkpoint_id == latest.id
        keys.append(
            {
                "name": key.name,
                "key_id": key.key_id_hex,
                "algorithm": "ed25519",
                "public_key": _b64(key.public_key),
                "verifier_key": key.text,
                "valid_from": row.first_used_at,
                "valid_until": None if current else row.last_used_at,
            }
        )
    return keys


# -- proofs --------------------------------------------------------------------------------------------------


def _default_size(session: Session) -> int:
    latest = latest_checkpoint(session)
    return latest.tree_size if latest is not None else log.head(session).size


def _checked_size(session: Session, size: int, field: str) -> int:
    current = log.head(session).size
    if not 0 <= size <= current:
        raise ValidationFailed(
            {field: [_("Das Protokoll hat {size} Einträge; diese Größe liegt außerhalb.", size=current)]}
        )
    return size


def _note_at(session: Session, size: int) -> str | None:
    return session.scalar(select(AuditCheckpoint.note).where(AuditCheckpoint.tree_size == size))


def inclusion_proof(session: Session, event_id: int, size: int | None = None) -> dict[str, Any]:
    """The audit path of an event's leaf in the tree of `size` leaves (default: the latest checkpoint's)."""
    event_hash = session.scalar(select(AuditEvent.hash).where(AuditEvent.id == event_id))
    if event_hash is None:
        raise NotFound(N_("Ereignis {id} gibt es nicht."), id=event_id)
    leaf_index = log.leaf_of_event(session, event_id)
    if leaf_index is None:
        raise Conflict(
            N_("Ereignis {id} ist noch nicht im Merkle-Protokoll (erst ab dem nächsten Prüfpunkt)."),
            id=event_id,
        )
    size = _checked_size(session, _default_size(session) if size is None else size, "size")
    if leaf_index >= size:
        raise Conflict(
            N_("Ereignis {id} kam als Eintrag {leaf} ins Protokoll, nach der Größe {size}."),
            id=event_id,
            leaf=leaf_index,
            size=size,
        )
    return {
        "event": event_id,
        "event_hash": event_hash,
        "leaf_index": leaf_index,
        "tree_size": size,
        "leaf_hash": _b64(merkle.leaf_hash(event_hash)),
        "root": _b64(log.root_at(session, size)),
        "proof": [_b64(h) for h in log.inclusion_proof(session, leaf_index, size)],
        "checkpoint": _note_at(session, size),
    }


def consistency_proof(session: Session, old_size: int, new_size: int | None = None) -> dict[str, Any]:
    """The proof that the tree of `old_size` leaves is a prefix of that of `new_size` (default: the latest
    checkpoint's size)."""
    new_size = _checked_size(session, _default_size(session) if new_size is None else new_size, "to")
    if not 0 <= old_size <= new_size:
        raise ValidationFailed(
            {"from": [_("Erwartet wird eine Größe zwischen 0 und {size}.", size=new_size)]}
        )
    return {
        "old": old_size,
        "new": new_size,
        "old_root": _b64(log.root_at(session, old_size)),
        "new_root": _b64(log.root_at(session, new_size)),
        "proof": [_b64(h) for h in log.consistency_proof(session, old_size, new_size)],
        "old_checkpoint": _note_at(session, old_size),
        "new_checkpoint": _note_at(session, new_size),
    }


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# -- the checkpoint mail -------------------------------------------------------------------------------------


def _mail(session: Session, checkpoint: AuditCheckpoint) -> int:
    """Queue the new checkpoint to every active subscriber; the outbox's key makes it once per reader."""
    readers = session.scalars(
        select(User)
        .where(User.role.in_(MAIL_ROLES), User.active.is_(True), User.checkpoint_mail_since.is_not(None))
        .order_by(User.id)
    ).all()
    filename = f"pruefpunkt-{checkpoint.tree_size}.txt"
    attachment = {
        "filename": filename,
        "content_type": "text/plain; charset=utf-8",
        "content_b64": base64.b64encode(checkpoint.note.encode("utf-8")).decode("ascii"),
    }
    emails = []
    for reader in readers:
        letter = render_letter(
            LETTER,
            name=reader.name,
            note=checkpoint.note,
            size=checkpoint.tree_size,
            origin=checkpoint.origin,
            created=de_datetime(checkpoint.created_at),
            filename=filename,
            checkpoints_url=current_settings().public_url.rstrip("/") + "/api/v1/audit/checkpoints",
        )
        emails.append(
            Email(
                dedup_key=f"{LETTER}:{checkpoint.id}:{reader.id}",
                kind=LETTER,
                recipient=reader.email,
                subject=letter.subject,
                body=letter.body,
                attachments=(attachment,),
            )
        )
    return len(enqueue_emails(session, emails))


def set_checkpoint_mail(session: Session, actor: Actor, user: User, subscribed: bool) -> bool:
    """Mail each new checkpoint to this auditor, or stop; audited when it changes. Returns whether it changed."""
    if user.role not in MAIL_ROLES:
        raise ValidationFailed(
            {"subscribed": [_("Prüfpunkte werden nur an Prüferinnen und Prüfer verschickt.")]}
        )
    if subscribed == (user.checkpoint_mail_since is not None):
        return False
    user.checkpoint_mail_since = utcnow() if subscribed else None
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="user.checkpoint_mail",
        data={"user": user.id, "subscribed": subscribed},
    )
    return True
