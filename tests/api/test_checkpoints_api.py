"""The checkpoint endpoints: public checkpoints and keys (JSON, or the note as text/plain), proofs for auditors
and coordinators that verify against the signed checkpoints, and how the OpenAPI document describes them."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import select

from ews_cases.audit import merkle, notes
from ews_cases.models import AuditEvent
from ews_cases.services import checkpoints
from testkit.factories import ATTENDORN
from tests.api.test_participation_api import bearer, token_for
from workflows import State


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def two_checkpoints(session, factory, app):
    settings = app.extensions["ews"].settings
    factory.case(state=State.SUBMITTED)
    session.commit()
    first = checkpoints.write_checkpoint(session, settings).checkpoint
    session.commit()
    factory.case(factory.cohort(), ATTENDORN, state=State.SUBMITTED)
    session.commit()
    second = checkpoints.write_checkpoint(session, settings).checkpoint
    session.commit()
    return first, second


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def test_checkpoints_and_keys_are_public(client, two_checkpoints):
    first, second = two_checkpoints
    page = client.get("/api/v1/audit/checkpoints?limit=1")
    assert page.status_code == 200
    body = page.get_json()
    assert [item["tree_size"] for item in body["items"]] == [second.tree_size]  # newest first
    rest = client.get("/api/v1/audit/checkpoints", query_string={"cursor": body["next_cursor"]}).get_json()
    assert [item["note"] for item in rest["items"]] == [first.note]
    assert rest["next_cursor"] is None

    keys = client.get("/api/v1/audit/keys").get_json()
    assert keys["origin"] == "ews.test/audit-log"
    (key,) = keys["keys"]
    verifier = notes.parse_verifier_key(key["verifier_key"])
    assert (key["name"], key["key_id"], key["algorithm"]) == (verifier.name, verifier.key_id_hex, "ed25519")
    assert b64(key["public_key"]) == verifier.public_key
    assert key["valid_until"] is None

    latest = client.get("/api/v1/audit/checkpoints/latest").get_json()
    assert latest["note"] == second.note
    assert latest["tree_size"] == second.tree_size
    assert b64(latest["root"]) == bytes.fromhex(second.root)
    assert latest["signatures"] == [{"name": verifier.name, "key_id": verifier.key_id_hex}]
    # The published key opens the published note.
    assert notes.open_note(latest["note"], [verifier]).text.startswith("ews.test/audit-log\n")


def test_the_latest_note_as_plain_text_byte_for_byte(client, two_checkpoints):
    _first, second = two_checkpoints
    response = client.get("/api/v1/audit/checkpoints/latest", headers={"Accept": "text/plain"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert response.get_data() == second.note.encode("utf-8")
    assert client.get("/api/v1/audit/checkpoints/latest", headers={"Accept": "*/*"}).is_json


def test_no_checkpoint_yet(client, db):
    response = client.get("/api/v1/audit/checkpoints/latest")
    assert response.status_code == 404
    assert response.get_json()["detail"] == "Es gibt noch keinen Prüfpunkt."
    assert client.get("/api/v1/audit/checkpoints").get_json() == {"items": [], "next_cursor": None}
    assert client.get("/api/v1/audit/keys").get_json()["keys"] == []


@pytest.mark.parametrize("role", ["auditor", "coordinator"])
def test_proofs_verify_against_the_signed_checkpoints(client, session, factory, two_checkpoints, role):
    first, second = two_checkpoints
    token = token_for(session, factory, role)
    old = notes.parse_checkpoint(notes.parse_note(first.note).text)
    new = notes.parse_checkpoint(notes.parse_note(second.note).text)
    events = session.execute(
        select(AuditEvent.id, AuditEvent.hash).order_by(AuditEvent.id).limit(new.size)
    ).all()
    for event_id, event_hash in events[:: max(1, len(events) // 5)]:
        answer = client.get(
            f"/api/v1/audit/proof/inclusion?event={event_id}", headers=bearer(token)
        ).get_json()
        assert answer["tree_size"] == new.size
        assert answer["checkpoint"] == second.note
        leaf = merkle.leaf_hash(event_hash)
        assert b64(answer["leaf_hash"]) == leaf
        assert merkle.verify_inclusion(
            leaf, answer["leaf_index"], new.size, [b64(h) for h in answer["proof"]], new.root
        )
    at_first = client.get(
        f"/api/v1/audit/proof/inclusion?event={events[0][0]}&size={old.size}", headers=bearer(token)
    ).get_json()
    assert b64(at_first["root"]) == old.root

    answer = client.get(f"/api/v1/audit/proof/consistency?from={old.size}", headers=bearer(token)).get_json()
    assert (answer["from"], answer["to"]) == (old.size, new.size)
    assert (answer["old_checkpoint"], answer["new_checkpoint"]) == (first.note, second.note)
    proof = [b64(h) for h in answer["proof"]]
    assert merkle.verify_consistency(old.size, new.size, old.root, new.root, proof)
    assert not merkle.verify_consistency(old.size, new.size, new.root, new.root, proof)


def test_proof_refusals(client, session, factory, two_checkpoints):
    _first, second = two_checkpoints
    token = token_for(session, factory, "auditor")
    assert client.get("/api/v1/audit/proof/inclusion?event=1").status_code == 401
    applicant = token_for(session, factory, "applicant", ATTENDORN)
    assert client.get("/api/v1/audit/proof/inclusion?event=1", headers=bearer(applicant)).status_code == 403
    assert client.get("/api/v1/audit/proof/inclusion", headers=bearer(token)).status_code == 422
    unknown = client.get("/api/v1/audit/proof/inclusion?event=999999", headers=bearer(token))
    assert unknown.status_code == 404
    too_big = client.get(
        f"/api/v1/audit/proof/inclusion?event=1&size={second.tree_size + 1000}", headers=bearer(token)
    )
    assert too_big.status_code == 422
    assert "size" in too_big.get_json()["errors"]
    backwards = client.get(
        f"/api/v1/audit/proof/consistency?from={second.tree_size}&to=1", headers=bearer(token)
    )
    assert backwards.status_code == 422
    assert "from" in backwards.get_json()["errors"]
    # the token's own creation is an event taken in by no checkpoint yet
    newest = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
    pending = client.get(f"/api/v1/audit/proof/inclusion?event={newest}", headers=bearer(token))
    assert pending.status_code == 409


def test_the_openapi_document_names_each_operation(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    operations = {
        ("/audit/checkpoints", "list_audit_checkpoints"),
        ("/audit/checkpoints/latest", "get_latest_audit_checkpoint"),
        ("/audit/keys", "list_audit_keys"),
        ("/audit/proof/inclusion", "get_audit_inclusion_proof"),
        ("/audit/proof/consistency", "get_audit_consistency_proof"),
    }
    for path, operation_id in operations:
        assert paths[f"/api/v1{path}"]["get"]["operationId"] == operation_id
    latest = paths["/api/v1/audit/checkpoints/latest"]["get"]["responses"]["200"]["content"]
    assert set(latest) == {"application/json", "text/plain"}
