"""Cosigners, cosignatures and RFC 3161 timestamps over the API (docs/audit.md §8)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import notes, timestamps
from ews_cases.db.engine import Database
from ews_cases.models import AuditCosignature, AuditEvent, utcnow
from ews_cases.services import checkpoints
from ews_cases.services.timestamps import timestamp_pending
from ews_cases.settings import Settings
from testkit.factories import Factory
from testkit.tsa import LocalTsa
from tests.api.test_participation_api import assert_problem, bearer, role_tokens
from tests.audit.test_timestamps import openssl_verifies
from workflows import State

COSIGNER = "lrh.example.org/ews-witness"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session: Session, factory: Factory) -> dict[str, str]:
    return role_tokens(session, factory)


@pytest.fixture
def checkpoint(session: Session, factory: Factory, app, tokens):
    factory.case(state=State.SUBMITTED)
    written = checkpoints.write_checkpoint(session, app.extensions["ews"].settings)
    assert written is not None
    session.commit()
    return written.checkpoint


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[LocalTsa]:
    authority = LocalTsa(tmp_path / "tsa")
    yield authority
    authority.stop()


def test_an_auditor_registers_a_key_and_cosigns_a_checkpoint(
    client, session: Session, tokens, checkpoint
) -> None:
    signer = notes.Signer.generate(COSIGNER, notes.COSIGNATURE_V1)
    auditor = bearer(tokens["auditor"])
    registered = client.post(
        "/api/v1/audit/cosigners", json={"verifier_key": signer.verifier.text}, headers=auditor
    )
    assert registered.status_code == 201, registered.get_data(as_text=True)
    assert registered.get_json()["key_id"] == signer.verifier.key_id_hex
    listed = client.get("/api/v1/audit/cosigners", headers=bearer(tokens["coordinator"])).get_json()["items"]
    assert [c["verifier_key"] for c in listed] == [signer.verifier.text]

    text = notes.parse_note(checkpoint.note).text
    line = notes.cosign(signer, text, int(utcnow().timestamp())).line
    url = f"/api/v1/audit/checkpoints/{checkpoint.id}/cosignatures"
    answer = client.post(url, json={"cosignature": line}, headers=auditor)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["id"] == checkpoint.id
    assert [c["line"] + "\n" for c in body["cosignatures"]] == [line]
    assert body["cosignatures"][0]["verifier_key"] == signer.verifier.text
    assert body["cosigned_note"] == checkpoint.note + line
    # The cosigned note is one C2SP signed note: the cosigner's key opens it, and so do the log's keys.
    assert notes.open_note(body["cosigned_note"], [signer.verifier]).verified_keys == (signer.verifier,)
    log_keys = [
        notes.parse_verifier_key(k["verifier_key"])
        for k in client.get("/api/v1/audit/keys").get_json()["keys"]
    ]
    assert notes.open_note(body["cosigned_note"], log_keys).verified_keys == tuple(log_keys)

    # Public checkpoint answers show it (no token needed).
    latest = client.get("/api/v1/audit/checkpoints/latest").get_json()
    assert latest["cosignatures"] == body["cosignatures"]
    assert latest["timestamp"] is None
    page = client.get("/api/v1/audit/checkpoints").get_json()
    assert page["items"][0]["cosignatures"] == body["cosignatures"]
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id.desc()).limit(2)).all()
    assert set(actions) == {"audit.cosigned", "audit.cosigner_registered"}


def test_cosignatures_are_refused_when_they_do_not_verify_or_come_from_others(
    client, session: Session, tokens, checkpoint
) -> None:
    signer = notes.Signer.generate(COSIGNER, notes.COSIGNATURE_V1)
    auditor = bearer(tokens["auditor"])
    url = f"/api/v1/audit/checkpoints/{checkpoint.id}/cosignatures"
    text = notes.parse_note(checkpoint.note).text
    line = notes.cosign(signer, text, int(utcnow().timestamp())).line
    assert_problem(
        client.post(url, json={"cosignature": line}, headers=auditor), 422, "cosignature"
    )  # unregistered
    client.post("/api/v1/audit/cosigners", json={"verifier_key": signer.verifier.text}, headers=auditor)
    forged = notes.cosign(signer, text.replace("\n", "x\n", 1), int(utcnow().timestamp())).line
    assert_problem(client.post(url, json={"cosignature": forged}, headers=auditor), 422, "cosignature")
    assert_problem(
        client.post("/api/v1/audit/cosigners", json={"verifier_key": "x+0+AA=="}, headers=auditor),
        422,
        "verifier_key",
    )
    for role in ("coordinator", "applicant", "reviewer", "admin"):
        refused = client.post(url, json={"cosignature": line}, headers=bearer(tokens[role]))
        assert refused.status_code == 403, role
    assert client.post(url, json={"cosignature": line}).status_code == 401
    missing = client.post(
        "/api/v1/audit/checkpoints/999/cosignatures", json={"cosignature": line}, headers=auditor
    )
    assert missing.status_code == 404
    assert client.get("/api/v1/audit/cosigners", headers=bearer(tokens["applicant"])).status_code == 403
    assert session.scalars(select(AuditCosignature)).all() == []


def test_the_checkpoint_answers_carry_the_timestamp_token(
    client, db: Database, app, checkpoint, tsa: LocalTsa, tmp_path: Path
) -> None:
    settings: Settings = app.extensions["ews"].settings.model_copy(
        update={"tsa_url": tsa.url, "tsa_certificate": tsa.ca_pem}
    )
    assert timestamp_pending(db, settings).stored == [checkpoint.id]
    stamp = client.get("/api/v1/audit/checkpoints/latest").get_json()["timestamp"]
    assert stamp["tsa_url"] == tsa.url
    assert stamp["signature_checked"] is True
    token = base64.b64decode(stamp["token"])
    message = checkpoint.note.encode("utf-8")
    assert stamp["imprint_sha256"] == timestamps.imprint(message).hex()
    assert openssl_verifies(tmp_path, token, message, tsa.ca_pem)
    assert timestamps.check_token(
        token, message, timestamps.load_certificates(tsa.ca_pem)
    ).gen_time.isoformat()
    listed = client.get("/api/v1/audit/checkpoints").get_json()["items"][0]["timestamp"]
    assert listed == stamp
