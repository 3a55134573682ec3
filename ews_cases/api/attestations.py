"""Auditors' cosigning keys and their cosignatures of checkpoints (C2SP tlog-cosignature; docs/audit.md §8).

An auditor registers the verifier key of their own cosigning key once, then posts cosignatures of checkpoints
they checked; each is verified against that key and the stored checkpoint before it is kept. The checkpoint
answers (`GET /api/v1/audit/checkpoints`, `/latest`) show the cosignatures and the RFC 3161 timestamp.
"""

from __future__ import annotations

from typing import Any

from ews_cases.api.attestation_schemas import CosignerIn, CosignerOut, CosignersOut, CosignIn
from ews_cases.api.audit import AUDIT_READERS
from ews_cases.api.auth import allow, current_actor, current_user
from ews_cases.api.blueprint import api
from ews_cases.api.checkpoint_schemas import CheckpointOut
from ews_cases.db.request_session import db_session
from ews_cases.services import checkpoints, cosignatures


@api.get("/audit/cosigners")
@allow(*AUDIT_READERS)
@api.output(CosignersOut)
@api.doc(operation_id="list_audit_cosigners", responses=[403])
def list_cosigners() -> dict[str, Any]:
    """The registered cosigning keys (C2SP tlog-cosignature, Ed25519, type 0x04), oldest first."""
    return {"items": [cosignatures.cosigner_json(c) for c in cosignatures.list_cosigners(db_session())]}


@api.post("/audit/cosigners")
@allow("auditor")
@api.input(CosignerIn, arg_name="data")
@api.output(CosignerOut, status_code=201)
@api.doc(operation_id="register_audit_cosigner", responses=[403, 422])
def register_cosigner(data: dict[str, Any]) -> dict[str, Any]:
    """Register the verifier key of your own cosigning key (`ews audit cosign --generate-key` prints it);
    registering a known key again answers it unchanged."""
    session = db_session()
    cosigner, _created = cosignatures.register_cosigner(
        session, current_actor(), data["verifier_key"], user_id=current_user().id
    )
    session.commit()
    return cosignatures.cosigner_json(cosigner)


@api.post("/audit/checkpoints/<int:checkpoint_id>/cosignatures")
@allow("auditor")
@api.input(CosignIn, arg_name="data")
@api.output(CheckpointOut, status_code=201)
@api.doc(operation_id="add_audit_cosignatures", responses=[403, 404, 422])
def add_cosignatures(checkpoint_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Add cosignatures of registered keys to a checkpoint: the signature line(s) or the whole cosigned note.

    Each is verified (key, checkpoint text, signature; no time in the future) before it is stored; a key
    cosigns a checkpoint once (a repeat answers the stored cosignature). Answers the checkpoint with all its
    cosignatures."""
    session = db_session()
    checkpoint = cosignatures.get_checkpoint(session, checkpoint_id)
    cosignatures.add_cosignatures(
        session, current_actor(), checkpoint, data["cosignature"], user_id=current_user().id
    )
    session.commit()
    (record,) = cosignatures.with_attestations(session, [checkpoints.checkpoint_record(checkpoint)])
    return record
