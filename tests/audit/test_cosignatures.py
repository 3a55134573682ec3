"""Auditors' cosignatures of checkpoints (C2SP tlog-cosignature): registered keys, verified lines, the CLI."""

from __future__ import annotations

import base64
import hashlib
import struct
from datetime import timedelta
from pathlib import Path

import nacl.signing
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ews_cases.audit import notes
from ews_cases.db.engine import Database
from ews_cases.errors import NotFound, ValidationFailed
from ews_cases.models import AuditCheckpoint, AuditCosignature, AuditCosigner, AuditEvent, utcnow
from ews_cases.services import cosignatures as service
from tests.audit.test_timestamps import ORIGIN, store_checkpoint
from tests.test_cli_audit import ews
from workflows import Actor

AUDITOR = Actor.system("test:auditor")
COSIGNER = "lrh.example.org/ews-witness"


def cosigner_key(name: str = COSIGNER) -> notes.Signer:
    return notes.Signer.generate(name, notes.COSIGNATURE_V1)


def actions(session: Session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_a_registered_key_cosigns_and_the_line_is_stored(db: Database, session: Session) -> None:
    checkpoint = store_checkpoint(session, 12)
    signer = cosigner_key()
    cosigner, created = service.register_cosigner(session, AUDITOR, signer.verifier.text)
    assert created
    assert (cosigner.name, cosigner.key_id) == (COSIGNER, signer.verifier.key_id_hex)
    assert service.register_cosigner(session, AUDITOR, signer.verifier.text) == (cosigner, False)

    now = utcnow()
    line = notes.cosign(signer, service.checkpoint_text(checkpoint), int(now.timestamp())).line
    (added,) = service.add_cosignatures(session, AUDITOR, checkpoint, line, now=now)
    session.commit()
    assert added.created
    assert added.cosignature.line + "\n" == line
    assert added.cosignature.timestamp == int(now.timestamp())
    assert actions(session)[-2:] == ["audit.cosigner_registered", "audit.cosigned"]

    # The stored line checks out with libsodium (an Ed25519 implementation independent of `cryptography`)
    # over the message C2SP tlog-cosignature defines, and the key ID is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ key)[:4].
    raw = base64.b64decode(added.cosignature.line.rsplit(" ", 1)[1])
    key_id, (timestamp,), signature = raw[:4], struct.unpack(">Q", raw[4:12]), raw[12:]
    public = signer.verifier.public_key
    assert key_id == hashlib.sha256(COSIGNER.encode() + b"\n\x04" + public).digest()[:4]
    message = (
        f"cosignature/v1\ntime {timestamp}\n".encode() + checkpoint.note.split("\n\n")[0].encode() + b"\n"
    )
    nacl.signing.VerifyKey(public).verify(message, signature)  # raises if it does not verify

    # The cosigned note: the log's note and the cosignature line, which Go-style note reading accepts.
    cosigned = service.cosigned_note(session, checkpoint)
    opened = notes.open_note(cosigned, [signer.verifier])
    assert opened.verified_keys == (signer.verifier,)
    assert (
        service.cosignatures_json(session, [checkpoint.id])[checkpoint.id][0]["verifier_key"]
        == signer.verifier.text
    )

    # The same key again: the stored cosignature is answered, nothing new is stored or audited.
    later = notes.cosign(signer, service.checkpoint_text(checkpoint), int(now.timestamp()) + 60).line
    (again,) = service.add_cosignatures(session, AUDITOR, checkpoint, later, now=now + timedelta(minutes=1))
    assert not again.created
    assert again.cosignature.id == added.cosignature.id
    assert actions(session).count("audit.cosigned") == 1


def test_a_whole_cosigned_note_is_accepted_and_the_logs_own_line_ignored(session: Session) -> None:
    checkpoint = store_checkpoint(session, 4)
    signer = cosigner_key()
    service.register_cosigner(session, AUDITOR, signer.verifier.text)
    line = notes.cosign(signer, service.checkpoint_text(checkpoint), int(utcnow().timestamp())).line
    (added,) = service.add_cosignatures(session, AUDITOR, checkpoint, checkpoint.note + line)
    assert added.created


def test_cosignatures_that_do_not_fit_are_refused(session: Session) -> None:
    checkpoint = store_checkpoint(session, 30)
    other = store_checkpoint(session, 31, b"\x33" * 32)
    signer = cosigner_key()
    stranger = cosigner_key("somebody.example/witness")
    now = utcnow()
    stamp = int(now.timestamp())
    service.register_cosigner(session, AUDITOR, signer.verifier.text)

    def refused(submitted: str, match: str) -> None:
        with pytest.raises(ValidationFailed) as caught:
            service.add_cosignatures(session, AUDITOR, checkpoint, submitted, now=now)
        assert match in caught.value.errors["cosignature"][0]

    text_other = service.checkpoint_text(other)
    refused(notes.cosign(signer, text_other, stamp).line, "passt nicht")  # another checkpoint
    refused(notes.cosign(stranger, service.checkpoint_text(checkpoint), stamp).line, "registrierten")
    future = stamp + 3600
    refused(notes.cosign(signer, service.checkpoint_text(checkpoint), future).line, "Zukunft")
    good = notes.cosign(signer, service.checkpoint_text(checkpoint), stamp)
    tampered = notes.NoteSignature(
        good.name, good.key_id, good.signature[:-1] + bytes([good.signature[-1] ^ 1])
    )
    refused(tampered.line, "passt nicht")
    refused(other.note + good.line, "nicht dieser Prüfpunkt")
    refused("— not a line", "nicht lesbar")
    assert session.scalars(select(AuditCosignature)).all() == []

    with pytest.raises(ValidationFailed):  # a note-signing key (type 0x01) is not a cosigning key
        service.register_cosigner(session, AUDITOR, notes.Signer.generate("x.example/log").verifier.text)
    with pytest.raises(ValidationFailed):
        service.register_cosigner(session, AUDITOR, "garbage")
    with pytest.raises(NotFound):
        service.get_checkpoint(session, 999)
    assert service.get_checkpoint(session, "latest").id == other.id


def test_cosign_tables_are_append_only(db: Database, session: Session) -> None:
    checkpoint = store_checkpoint(session, 8)
    service.cosign_with_key(session, AUDITOR, checkpoint, cosigner_key())
    session.commit()
    for table in ("audit_cosigners", "audit_cosignatures"):
        for statement in (f"UPDATE {table} SET created_at = created_at", f"DELETE FROM {table}"):
            with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(statement))
        if not db.is_sqlite:
            with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table} CASCADE"))


def test_ews_audit_cosign_makes_a_key_and_cosigns_the_latest_checkpoint(
    database_url: str, session: Session, tmp_path: Path
) -> None:
    store_checkpoint(session, 3)
    checkpoint = store_checkpoint(session, 6)
    key_file = tmp_path / "auditor.key"
    made = ews(database_url, "audit", "cosign", "--generate-key", str(key_file), "--name", COSIGNER)
    assert made.returncode == 0, made.stderr
    verifier = notes.parse_verifier_key(made.stdout.strip())
    assert verifier.signature_type == notes.COSIGNATURE_V1
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert notes.parse_signer_key(key_file.read_text()).verifier == verifier
    assert (
        ews(database_url, "audit", "cosign", "--generate-key", str(key_file), "--name", "x").returncode == 1
    )

    note_file = tmp_path / "cosigned.txt"
    run = ews(
        database_url,
        "audit",
        "cosign",
        "--checkpoint",
        "latest",
        "--key",
        str(key_file),
        "--output",
        str(note_file),
    )
    assert run.returncode == 0, run.stderr
    line = run.stdout.strip()
    assert line.startswith(f"— {COSIGNER} ")
    session.expire_all()
    stored = session.scalars(select(AuditCosignature)).one()
    assert stored.checkpoint_id == checkpoint.id
    assert stored.line == line
    assert session.scalars(select(AuditCosigner.verifier_key)).one() == verifier.text
    assert notes.open_note(note_file.read_text(), [verifier]).verified_keys == (verifier,)

    wrong_name = ews(
        database_url, "audit", "cosign", "--checkpoint", "1", "--key", str(key_file), "--name", "x.y/z"
    )
    assert wrong_name.returncode == 1
    missing = ews(database_url, "audit", "cosign", "--checkpoint", "999", "--key", str(key_file))
    assert missing.returncode == 1
    assert "Prüfpunkt" in missing.stderr
    assert session.get(AuditCheckpoint, checkpoint.id) is not None
    assert ORIGIN in checkpoint.note
