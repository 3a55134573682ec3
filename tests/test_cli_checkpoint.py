"""`ews audit checkpoint`, `ews audit keygen` and `ews audit checkpoint-mail`, each in a process of its own."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ews_cases.audit import log, notes
from ews_cases.models import AuditCheckpoint, OutboxMessage, User
from workflows import State

REPO = Path(__file__).resolve().parents[1]
PRODUCTION = {"EWS_ENV": "production", "EWS_SECRET_KEY": "s" * 40}


def ews(database_url: str, data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from ews_cases.cli.commands import main; main()", *args],
        env={
            **os.environ,
            "EWS_DATABASE_URL": database_url,
            "EWS_DATA_DIR": str(data_dir),
            "EWS_PUBLIC_URL": "https://ews.example.org",
            **env,
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def grown(session, factory):
    factory.case(state=State.SUBMITTED)
    session.commit()


def test_checkpoint_prints_the_signed_note_then_says_the_log_has_not_grown(
    database_url, tmp_path, session, grown
):
    first = ews(database_url, tmp_path, "audit", "checkpoint")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "audit" / "development-signing-key"
    verifier = notes.parse_signer_key(key_file.read_text()).verifier
    opened = notes.open_note(first.stdout, [verifier])
    checkpoint = notes.parse_checkpoint(opened.text)
    assert checkpoint.origin == "ews.example.org/audit-log"
    assert (checkpoint.size, checkpoint.root) == (log.head(session).size, log.head(session).root)
    stored = session.scalars(select(AuditCheckpoint)).one()
    assert stored.note == first.stdout
    assert f"Prüfpunkt {stored.id} gespeichert ({checkpoint.size} Einträge)" in first.stderr
    session.commit()

    again = ews(database_url, tmp_path, "audit", "checkpoint")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == (
        f"Das Protokoll ist seit dem letzten Prüfpunkt nicht gewachsen ({checkpoint.size} Einträge)."
    )
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 1


def test_production_refuses_to_sign_without_a_key_and_signs_with_a_generated_one(
    database_url, tmp_path, session, grown
):
    refused = ews(database_url, tmp_path, "audit", "checkpoint", **PRODUCTION)
    assert refused.returncode == 1
    assert "EWS_AUDIT_SIGNING_KEY is not set" in refused.stderr
    assert refused.stdout == ""
    assert session.scalar(select(func.count()).select_from(AuditCheckpoint)) == 0
    assert not (tmp_path / "audit").exists()  # no development key in production

    key_file = tmp_path / "keys" / "log.key"
    made = ews(database_url, tmp_path, "audit", "keygen", "--output", str(key_file), **PRODUCTION)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    verifier = notes.parse_verifier_key(made.stdout.strip())
    assert verifier.name == "ews.example.org/audit-log"
    assert key_file.read_text().strip() not in made.stdout + made.stderr  # the secret is not printed
    again = ews(database_url, tmp_path, "audit", "keygen", "--output", str(key_file), **PRODUCTION)
    assert again.returncode == 1
    assert "nichts überschrieben" in again.stderr

    signed = ews(
        database_url, tmp_path, "audit", "checkpoint", **PRODUCTION, EWS_AUDIT_SIGNING_KEY=str(key_file)
    )
    assert signed.returncode == 0, signed.stderr
    assert notes.open_note(signed.stdout, [verifier]).verified_keys == (verifier,)


def test_checkpoint_mail_switched_for_an_auditor_from_the_command_line(
    database_url, tmp_path, session, factory
):
    auditor = factory.user("auditor")
    session.commit()
    switched = ews(
        database_url, tmp_path, "audit", "checkpoint-mail", "--email", auditor.email.upper(), "--on"
    )
    assert switched.returncode == 0, switched.stderr
    assert switched.stdout.strip() == f"Prüfpunkte per E-Mail für {auditor.email.upper()}: an"
    session.expire_all()
    assert session.get(User, auditor.id).checkpoint_mail_since is not None
    session.commit()
    written = ews(database_url, tmp_path, "audit", "checkpoint")
    assert written.returncode == 0, written.stderr
    assert "an 1 Abonnentinnen und Abonnenten verschickt" in written.stderr
    assert session.scalars(select(OutboxMessage.recipient)).all() == [auditor.email]
    unknown = ews(
        database_url, tmp_path, "audit", "checkpoint-mail", "--email", "niemand@example.org", "--off"
    )
    assert unknown.returncode == 1
    assert "Kein Zugang mit der Adresse niemand@example.org" in unknown.stderr
