"""RFC 3161 timestamps of checkpoints against a local TSA (`openssl ts -reply` over HTTP; must-hold 5)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from ews_cases.audit import notes, timestamps
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.db.engine import Database
from ews_cases.models import AuditCheckpoint, AuditTimestamp
from ews_cases.services import timestamps as service
from ews_cases.services.checkpoints import write_checkpoint
from ews_cases.settings import Settings
from testkit.factories import Factory
from testkit.tsa import LocalTsa, make_authority

ORIGIN = "ews.test/audit-log"


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    authority = LocalTsa(tmp_path / "tsa")
    yield authority
    authority.stop()


@pytest.fixture
def tsa_settings(settings: Settings, tsa: LocalTsa) -> Settings:
    return settings.model_copy(update={"tsa_url": tsa.url, "tsa_certificate": tsa.ca_pem})


def store_checkpoint(session: Session, size: int, root: bytes = b"\x11" * 32) -> AuditCheckpoint:
    """A signed checkpoint row as the checkpoint service stores it (the note verbatim)."""
    session.commit()  # end the read snapshot of earlier checks: SQLite cannot upgrade a stale one to a write
    note = notes.sign_checkpoint(ORIGIN, size, root, [notes.Signer.generate(ORIGIN)])
    checkpoint = AuditCheckpoint(origin=ORIGIN, tree_size=size, root=root.hex(), note=note)
    session.add(checkpoint)
    session.commit()
    return checkpoint


def openssl_verifies(folder: Path, token: bytes, message: bytes, ca: Path) -> bool:
    """The token checked by OpenSSL's own `ts -verify`: an implementation independent of ours."""
    (folder / "token.der").write_bytes(token)
    (folder / "data").write_bytes(message)
    result = subprocess.run(
        [
            "openssl",
            "ts",
            "-verify",
            "-token_in",
            "-in",
            str(folder / "token.der"),
            "-data",
            str(folder / "data"),
            "-CAfile",
            str(ca),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode == 0 and "Verification: OK" in result.stdout


def test_a_checkpoint_is_timestamped_stored_and_verifies(
    db: Database, session: Session, tsa: LocalTsa, tsa_settings: Settings, tmp_path: Path
) -> None:
    first = store_checkpoint(session, 5)
    second = store_checkpoint(session, 9, b"\x22" * 32)
    run = service.timestamp_pending(db, tsa_settings)
    assert run.stored == [first.id, second.id]
    assert run.pending == 0
    assert run.error is None
    assert tsa.requests == 2

    stored = session.scalars(select(AuditTimestamp).where(AuditTimestamp.checkpoint_id == first.id)).one()
    message = first.note.encode("utf-8")
    assert stored.imprint == timestamps.imprint(message).hex()
    assert stored.signature_checked is True
    assert stored.tsa_url == tsa.url
    checked = service.check_stored(session, first.id, tsa_settings)
    assert checked is not None
    assert checked.gen_time == stored.gen_time
    assert openssl_verifies(tmp_path, bytes(stored.token), message, tsa.ca_pem)

    # Nothing left to do: a second run asks the TSA nothing.
    assert service.timestamp_pending(db, tsa_settings).stored == []
    assert tsa.requests == 2

    # The token fits its own checkpoint only, and a changed byte breaks it.
    other = second.note.encode("utf-8")
    with pytest.raises(timestamps.TimestampError, match="imprint"):
        timestamps.check_token(bytes(stored.token), other, timestamps.load_certificates(tsa.ca_pem))
    assert not openssl_verifies(tmp_path, bytes(stored.token), other, tsa.ca_pem)
    tampered = bytearray(stored.token)
    tampered[-20] ^= 0x01  # inside the signature
    with pytest.raises(timestamps.TimestampError, match="does not verify"):
        timestamps.check_token(bytes(tampered), message, timestamps.load_certificates(tsa.ca_pem))


def test_a_token_of_another_authority_is_refused(tsa: LocalTsa, tmp_path: Path) -> None:
    message = b"ews.test/audit-log\n1\nAAAA\n"
    token = timestamps.request_timestamp(
        tsa.url, message, certificates=timestamps.load_certificates(tsa.ca_pem)
    )
    assert token.signature_checked
    make_authority(tmp_path / "other")
    with pytest.raises(timestamps.TimestampError, match="does not verify"):
        timestamps.check_token(
            token.token, message, timestamps.load_certificates(tmp_path / "other" / "ca.pem")
        )
    with pytest.raises(timestamps.TimestampError, match="does not verify"):
        timestamps.request_timestamp(
            tsa.url, message, certificates=timestamps.load_certificates(tmp_path / "other" / "ca.pem")
        )
    unchecked = timestamps.request_timestamp(tsa.url, message, certificates=None)
    assert unchecked.signature_checked is False


def test_a_tsa_that_is_down_leaves_the_checkpoint_for_the_next_run(
    db: Database, session: Session, tsa: LocalTsa, tsa_settings: Settings
) -> None:
    checkpoint = store_checkpoint(session, 3)
    tsa.down = True
    run = service.timestamp_pending(db, tsa_settings)
    assert run.stored == []
    assert run.pending == 1
    assert run.error is not None
    assert "503" in run.error
    assert session.scalars(select(AuditTimestamp)).all() == []
    assert session.get(AuditCheckpoint, checkpoint.id) is not None  # the checkpoint itself is untouched

    tsa.down = False
    run = service.timestamp_pending(db, tsa_settings)
    assert run.stored == [checkpoint.id]
    assert run.pending == 0

    tsa.stop()  # nobody listening at all: the same
    later = store_checkpoint(session, 4)
    run = service.timestamp_pending(db, tsa_settings.model_copy(update={"tsa_timeout_seconds": 2.0}))
    assert run.stored == []
    assert run.pending == 1
    assert later.id not in run.stored


def test_without_a_tsa_url_nothing_is_asked(db: Database, session: Session, settings: Settings) -> None:
    store_checkpoint(session, 2)
    assert settings.tsa_url is None
    assert service.timestamp_pending(db, settings).as_dict() == {"stored": [], "pending": 0, "error": None}


def test_timestamps_are_append_only(db: Database, session: Session, tsa_settings: Settings) -> None:
    store_checkpoint(session, 7)
    assert len(service.timestamp_pending(db, tsa_settings).stored) == 1
    for statement in ("UPDATE audit_timestamps SET policy = '1.2.3'", "DELETE FROM audit_timestamps"):
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    if not db.is_sqlite:
        with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_timestamps"))


def test_production_requires_the_tsa_certificate_with_a_tsa_url() -> None:
    secret = "s" * 40
    with pytest.raises(ValueError, match="EWS_TSA_CERTIFICATE"):
        Settings(
            env="production", secret_key=secret, tsa_url="https://tsa.example.org/", audit_signing_key="x"
        )
    with pytest.raises(ValueError, match="EWS_TSA_URL"):
        Settings(env="test", tsa_url="file:///etc/passwd")
    assert Settings(env="test", tsa_url="http://127.0.0.1:9/").tsa_certificate is None


def test_a_new_checkpoint_asks_for_its_timestamp_once_committed(
    session: Session, factory: Factory, app
) -> None:
    topics: list[str] = []
    set_dispatcher(lambda topic, _payload: topics.append(topic))
    try:
        factory.case()
        written = write_checkpoint(session, app.extensions["ews"].settings)
        assert written is not None
        assert topics == []  # not before the checkpoint is committed
        session.commit()
    finally:
        set_dispatcher(None)
    assert topics == ["timestamps"]


def test_ews_audit_checkpoint_timestamps_the_new_checkpoint(
    database_url: str, session: Session, factory: Factory, tsa: LocalTsa, tmp_path: Path
) -> None:
    factory.case()
    session.commit()
    signer = notes.Signer.generate(ORIGIN)
    env = {
        "EWS_DATABASE_URL": database_url,
        "EWS_DATA_DIR": str(tmp_path / "var"),
        "EWS_AUDIT_LOG_ORIGIN": ORIGIN,
        "EWS_AUDIT_SIGNING_KEY": signer.private_text,
        "EWS_TSA_URL": tsa.url,
        "EWS_TSA_CERTIFICATE": str(tsa.ca_pem),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from ews_cases.cli.commands import main; main()", "audit", "checkpoint"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    session.expire_all()
    checkpoint = session.scalars(select(AuditCheckpoint)).one()
    assert result.stdout == checkpoint.note
    stored = session.scalars(select(AuditTimestamp)).one()
    assert stored.checkpoint_id == checkpoint.id
    assert openssl_verifies(tmp_path, bytes(stored.token), checkpoint.note.encode("utf-8"), tsa.ca_pem)

    tsa.down = True  # a later checkpoint while the TSA is down: stored anyway, the token follows later
    factory.case()
    session.commit()
    env["EWS_TSA_URL"] = tsa.url
    later = subprocess.run(
        [sys.executable, "-c", "from ews_cases.cli.commands import main; main()", "audit", "checkpoint"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert later.returncode == 0, later.stderr
    assert "Zeitstempel folgt später" in later.stderr
    assert len(session.scalars(select(AuditCheckpoint)).all()) == 2
    assert len(session.scalars(select(AuditTimestamp)).all()) == 1


def test_beat_asks_again_every_few_minutes_through_the_task(app, db: Database) -> None:
    from workers import tasks
    from workers.schedule import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["audit-timestamps"]
    assert entry["task"] == tasks.timestamp_audit_checkpoints.name
    assert entry["schedule"] == timedelta(minutes=service.RETRY_MINUTES)
    with app.app_context():  # the task wraps the service; without EWS_TSA_URL it asks nobody
        assert tasks.timestamp_audit_checkpoints() == {"stored": [], "pending": 0, "error": None}
