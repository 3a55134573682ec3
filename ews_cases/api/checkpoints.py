"""The audit log's signed checkpoints, its keys and its proofs (docs/audit.md §8).

Checkpoints and keys are public: they reveal nothing but the log's size and root, and the more copies of
them exist outside, the less an insider can rewrite. Proofs name events, so they are for auditors and
coordinators with a token, as the rest of the audit API.
"""

from __future__ import annotations

from typing import Any

from flask import Response, request

from ews_cases.api.audit import AUDIT_READERS
from ews_cases.api.auth import allow
from ews_cases.api.blueprint import api
from ews_cases.api.checkpoint_schemas import (
    CheckpointOut,
    CheckpointPage,
    CheckpointQuery,
    ConsistencyOut,
    ConsistencyQuery,
    InclusionOut,
    InclusionQuery,
    KeysOut,
)
from ews_cases.api.pagination import paginate
from ews_cases.db.request_session import db_session
from ews_cases.models import AuditCheckpoint
from ews_cases.services import checkpoints
from ews_cases.services.cosignatures import with_attestations
from ews_cases.settings import current_settings

NOTE_MEDIA_TYPE = "text/plain; charset=utf-8"


@api.get("/audit/checkpoints")
@api.input(CheckpointQuery, location="query", arg_name="query")
@api.output(CheckpointPage)
@api.doc(operation_id="list_audit_checkpoints", responses=[422])
def list_checkpoints(query: dict[str, Any]) -> dict[str, Any]:
    """The log's signed checkpoints, newest first; no token needed.

    Each `note` is the signed checkpoint (C2SP tlog-checkpoint) as signed: keep it to check later that the log
    was only appended to (`ews audit verify --checkpoint FILE`)."""
    session = db_session()
    page = paginate(
        session,
        checkpoints.select_checkpoints(),
        AuditCheckpoint.id,
        query,
        checkpoints.checkpoint_record,
        descending=True,
    )
    with_attestations(session, page["items"])
    return page


@api.get("/audit/checkpoints/latest")
@api.output(CheckpointOut)
@api.doc(
    operation_id="get_latest_audit_checkpoint",
    responses={
        200: {
            "description": "The latest checkpoint: JSON, or with `Accept: text/plain` the signed note alone",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/CheckpointOut"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        404: "No checkpoint yet",
    },
)
def latest_checkpoint() -> Any:
    """The latest signed checkpoint; no token needed.

    `Accept: text/plain` answers the note alone, byte for byte as signed
    (`curl -H 'Accept: text/plain' …/latest > checkpoint.txt`)."""
    session = db_session()
    checkpoint = checkpoints.require_latest_checkpoint(session)
    if request.accept_mimetypes.best_match(["application/json", "text/plain"]) == "text/plain":
        return Response(checkpoint.note, mimetype=NOTE_MEDIA_TYPE)
    (record,) = with_attestations(session, [checkpoints.checkpoint_record(checkpoint)])
    return record


@api.get("/audit/keys")
@api.output(KeysOut)
@api.doc(operation_id="list_audit_keys")
def list_audit_keys() -> dict[str, Any]:
    """Every public key that has signed a checkpoint, with its verifier key and validity; no token needed.

    A convenience: verify against keys you obtained from the operator, not only against this list."""
    return {"origin": current_settings().log_origin, "keys": checkpoints.published_keys(db_session())}


@api.get("/audit/proof/inclusion")
@allow(*AUDIT_READERS)
@api.input(InclusionQuery, location="query", arg_name="query")
@api.output(InclusionOut)
@api.doc(operation_id="get_audit_inclusion_proof", responses=[403, 404, 409, 422])
def inclusion_proof(query: dict[str, Any]) -> dict[str, Any]:
    """The proof that an event is in the log (RFC 9162 §2.1.3 audit path).

    Against the tree of `size` leaves, by default the latest checkpoint's. 409 while the event is not yet in
    that tree."""
    return checkpoints.inclusion_proof(db_session(), query["event"], query["size"])


@api.get("/audit/proof/consistency")
@allow(*AUDIT_READERS)
@api.input(ConsistencyQuery, location="query", arg_name="query")
@api.output(ConsistencyOut)
@api.doc(operation_id="get_audit_consistency_proof", responses=[403, 422])
def consistency_proof(query: dict[str, Any]) -> dict[str, Any]:
    """The proof that the log of `from` leaves is a prefix of the log of `to` leaves (RFC 9162 §2.1.4).

    `to` defaults to the latest checkpoint's size."""
    return checkpoints.consistency_proof(db_session(), query["old"], query["new"])
