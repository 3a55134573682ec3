"""Auditors' cosignatures of checkpoints (C2SP tlog-cosignature; docs/audit.md §8; the format is `audit.notes`).

An auditor (or the Landesrechnungshof) keeps their own Ed25519 cosigning key (type 0x04; `ews audit cosign
--generate-key`). They **register** its verifier key once (`POST /api/v1/audit/cosigners`, or implicitly with
`ews audit cosign` on the server), then submit cosignatures for checkpoints they have checked
(`POST /api/v1/audit/checkpoints/<id>/cosignatures`: the cosignature line(s), or the whole cosigned note).
Each line is verified against the registered key and the stored checkpoint's text before it is stored; lines
of unknown keys and the log's own signature lines in a submitted note are ignored, and a submission with no
verifiable cosignature is refused. One cosignature per key and checkpoint: a repeated submission answers the
stored one. Registrations and cosignatures are audit events (`audit.cosigner_registered`, `audit.cosigned`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain, notes
from ews_cases.audit.chain import format_time
from ews_cases.errors import NotFound, ValidationFailed
from ews_cases.models import AuditCheckpoint, AuditCosignature, AuditCosigner, AuditTimestamp, utcnow
from ews_cases.services.checkpoints import latest_checkpoint
from ews_cases.services.timestamps import timestamp_json
from workflows import Actor
from workflows.text import N_

#: A cosignature's own timestamp may be ahead of our clock by this much (clock skew), not more.
FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Added:
    cosignature: AuditCosignature
    created: bool  # False: the key had cosigned this checkpoint before; the stored one is answered


def _invalid(field: str, message: str, **params: object) -> ValidationFailed:
    return ValidationFailed({field: [message.format(**params) if params else message]}, message)


def checkpoint_text(checkpoint: AuditCheckpoint) -> str:
    """The checkpoint's note text (origin, size, root) that cosignatures sign, from the stored note."""
    return notes.parse_note(checkpoint.note).text


def get_checkpoint(session: Session, reference: str | int) -> AuditCheckpoint:
    """A checkpoint by id, or `latest`."""
    if str(reference) == "latest":
        checkpoint = latest_checkpoint(session)
    else:
        try:
            checkpoint = session.get(AuditCheckpoint, int(reference))
        except ValueError:
            checkpoint = None
    if checkpoint is None:
        raise NotFound(N_("Diesen Prüfpunkt gibt es nicht."))
    return checkpoint


def register_cosigner(
    session: Session, actor: Actor, verifier_key: str, *, user_id: int | None = None
) -> tuple[AuditCosigner, bool]:
    """Register a cosigning verifier key (`<name>+<key ID>+<base64(0x04 ‖ key)>`); idempotent."""
    try:
        key = notes.parse_verifier_key(verifier_key)
    except notes.NoteError as exc:
        raise _invalid(
            "verifier_key", N_("Der Prüfschlüssel ist nicht lesbar: {problem}"), problem=str(exc)
        ) from exc
    if key.signature_type != notes.COSIGNATURE_V1:
        raise _invalid(
            "verifier_key",
            N_("Der Schlüssel ist kein Gegenzeichnungsschlüssel (Typ 0x04, C2SP tlog-cosignature)."),
        )
    existing = session.scalars(select(AuditCosigner).where(AuditCosigner.verifier_key == key.text)).first()
    if existing is not None:
        return existing, False
    cosigner = AuditCosigner(verifier_key=key.text, name=key.name, key_id=key.key_id_hex, user_id=user_id)
    session.add(cosigner)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="audit.cosigner_registered",
        data={"cosigner": cosigner.id, "name": key.name, "key_id": key.key_id_hex, "verifier_key": key.text},
    )
    return cosigner, True


def _signature_lines(submitted: str, text: str) -> list[notes.NoteSignature]:
    """The signature lines of a submission: a whole cosigned note (its text must be the checkpoint's) or
    bare `— <name> <base64>` lines."""
    submitted = submitted.replace("\r\n", "\n").strip("\n") + "\n"
    try:
        if "\n\n" in submitted:
            note = notes.parse_note(submitted)
            if note.text != text:
                raise _invalid("cosignature", N_("Die eingereichte Notiz ist nicht dieser Prüfpunkt."))
            return list(note.signatures)
        return list(notes.parse_note(text + "\n" + submitted).signatures)
    except notes.NoteError as exc:
        raise _invalid(
            "cosignature", N_("Die Gegenzeichnung ist nicht lesbar: {problem}"), problem=str(exc)
        ) from exc


def add_cosignatures(
    session: Session,
    actor: Actor,
    checkpoint: AuditCheckpoint,
    submitted: str,
    *,
    user_id: int | None = None,
    now: datetime | None = None,
) -> list[Added]:
    """Verify and store the cosignatures of registered keys in `submitted` (see the module's text)."""
    now = now or utcnow()
    text = checkpoint_text(checkpoint)
    keys = {(c.name, int(c.key_id, 16)): c for c in session.scalars(select(AuditCosigner)).all()}
    added: list[Added] = []
    for signature in _signature_lines(submitted, text):
        cosigner = keys.get((signature.name, signature.key_id))
        if cosigner is None:
            continue  # the log's own signatures, or keys nobody registered
        key = notes.parse_verifier_key(cosigner.verifier_key)
        timestamp = notes.cosignature_timestamp(key, text.encode(), signature.signature)
        if timestamp is None:
            raise _invalid(
                "cosignature",
                N_("Die Gegenzeichnung von {name} passt nicht zu diesem Prüfpunkt oder Schlüssel."),
                name=signature.name,
            )
        cosigned_at = datetime.fromtimestamp(timestamp, UTC)
        if cosigned_at > now + FUTURE_TOLERANCE:
            raise _invalid(
                "cosignature",
                N_("Die Gegenzeichnung von {name} trägt eine Zeit in der Zukunft."),
                name=signature.name,
            )
        added.append(_store(session, actor, checkpoint, cosigner, signature, timestamp, cosigned_at, user_id))
    if not added:
        raise _invalid(
            "cosignature",
            N_("Keine Gegenzeichnung eines registrierten Schlüssels gefunden."),
        )
    return added


def _store(
    session: Session,
    actor: Actor,
    checkpoint: AuditCheckpoint,
    cosigner: AuditCosigner,
    signature: notes.NoteSignature,
    timestamp: int,
    cosigned_at: datetime,
    user_id: int | None,
) -> Added:
    existing = session.scalars(
        select(AuditCosignature).where(
            AuditCosignature.checkpoint_id == checkpoint.id, AuditCosignature.cosigner_id == cosigner.id
        )
    ).first()
    if existing is not None:
        return Added(existing, False)
    row = AuditCosignature(
        checkpoint_id=checkpoint.id,
        cosigner_id=cosigner.id,
        line=signature.line.rstrip("\n"),
        timestamp=timestamp,
        cosigned_at=cosigned_at,
        user_id=user_id,
    )
    session.add(row)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="audit.cosigned",
        data={
            "checkpoint": checkpoint.id,
            "tree_size": checkpoint.tree_size,
            "cosigner": cosigner.id,
            "name": cosigner.name,
            "key_id": cosigner.key_id,
            "timestamp": timestamp,
        },
    )
    return Added(row, True)


def cosign_with_key(
    session: Session,
    actor: Actor,
    checkpoint: AuditCheckpoint,
    signer: notes.Signer,
    *,
    now: datetime | None = None,
) -> Added:
    """Cosign a stored checkpoint with a private cosigning key (`ews audit cosign`), registering its key."""
    if signer.signature_type != notes.COSIGNATURE_V1:
        raise _invalid(
            "key", N_("Der Schlüssel ist kein Gegenzeichnungsschlüssel (Typ 0x04, C2SP tlog-cosignature).")
        )
    moment = now or utcnow()
    register_cosigner(session, actor, signer.verifier.text)
    line = notes.cosign(signer, checkpoint_text(checkpoint), int(moment.timestamp()))
    (added,) = add_cosignatures(session, actor, checkpoint, line.line, now=moment)
    return added


def cosigned_note(session: Session, checkpoint: AuditCheckpoint) -> str:
    """The checkpoint's note with its stored cosignature lines appended (C2SP: one note, all signatures)."""
    lines = session.scalars(
        select(AuditCosignature.line)
        .where(AuditCosignature.checkpoint_id == checkpoint.id)
        .order_by(AuditCosignature.id)
    ).all()
    return checkpoint.note + "".join(f"{line}\n" for line in lines)


def cosignatures_json(session: Session, checkpoint_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The stored cosignatures of some checkpoints, as the checkpoint API shows them."""
    result: dict[int, list[dict[str, Any]]] = {checkpoint_id: [] for checkpoint_id in checkpoint_ids}
    if not checkpoint_ids:
        return result
    rows = session.execute(
        select(AuditCosignature, AuditCosigner)
        .join(AuditCosigner, AuditCosigner.id == AuditCosignature.cosigner_id)
        .where(AuditCosignature.checkpoint_id.in_(checkpoint_ids))
        .order_by(AuditCosignature.id)
    ).all()
    for cosignature, cosigner in rows:
        result[cosignature.checkpoint_id].append(
            {
                "name": cosigner.name,
                "key_id": cosigner.key_id,
                "verifier_key": cosigner.verifier_key,
                "timestamp": cosignature.timestamp,
                "cosigned_at": format_time(cosignature.cosigned_at),
                "line": cosignature.line,
            }
        )
    return result


def cosigner_json(cosigner: AuditCosigner) -> dict[str, Any]:
    return {
        "id": cosigner.id,
        "name": cosigner.name,
        "key_id": cosigner.key_id,
        "verifier_key": cosigner.verifier_key,
        "registered_at": format_time(cosigner.created_at),
    }


def list_cosigners(session: Session) -> list[AuditCosigner]:
    return list(session.scalars(select(AuditCosigner).order_by(AuditCosigner.id)))


def with_attestations(session: Session, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checkpoint records (`checkpoints.checkpoint_record`) with their cosignatures, their RFC 3161 timestamp
    (or None) and the cosigned note (the note followed by the cosignature lines), in two queries."""
    ids = [record["id"] for record in records]
    cosigned = cosignatures_json(session, ids)
    stamps = (
        {
            row.checkpoint_id: row
            for row in session.scalars(select(AuditTimestamp).where(AuditTimestamp.checkpoint_id.in_(ids)))
        }
        if ids
        else {}
    )
    for record in records:
        record["cosignatures"] = cosigned[record["id"]]
        record["cosigned_note"] = record["note"] + "".join(f"{c['line']}\n" for c in record["cosignatures"])
        record["timestamp"] = timestamp_json(stamps.get(record["id"]))
    return records
