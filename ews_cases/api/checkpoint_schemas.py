"""Schemas of the checkpoint, key and proof endpoints (docs/audit.md §8); hashes are standard base64."""

from __future__ import annotations

from apiflask import Schema
from apiflask.validators import Range

from ews_cases.api.attestation_schemas import CosignatureOut, TimestampOut
from ews_cases.api.fields import AwareDateTime, Integer, List, Nested, String
from ews_cases.api.pagination import PageQuery

#: Tree sizes and leaf indexes are 64-bit in the log; the API takes what a bigint column holds.
MAX_SIZE = 2**63 - 1


class SignatureOut(Schema):
    name = String(metadata={"description": "the key name of the signature line"})
    key_id = String(metadata={"description": "the key ID, 8 hex digits"})


class CheckpointOut(Schema):
    id = Integer()
    origin = String(metadata={"description": "the checkpoint's first line"})
    tree_size = Integer(metadata={"description": "the number of leaves (audit events) the checkpoint covers"})
    root = String(metadata={"description": "the Merkle root hash, base64 (the checkpoint's third line)"})
    created_at = AwareDateTime()
    note = String(
        metadata={
            "description": "the signed checkpoint exactly as signed (C2SP signed-note and tlog-checkpoint): "
            "keep this text, byte for byte, to verify the log against it later"
        }
    )
    signatures = List(Nested(SignatureOut))
    # Attestations by others (witness branch): auditors' cosignatures and the RFC 3161 timestamp.
    cosignatures = List(Nested(CosignatureOut))
    cosigned_note = String(
        metadata={"description": "the note followed by the cosignature lines (one C2SP signed note)"}
    )
    timestamp = Nested(TimestampOut, allow_none=True, metadata={"description": "null: not (yet) timestamped"})


class CheckpointPage(Schema):
    items = List(Nested(CheckpointOut))
    next_cursor = String(allow_none=True)


class CheckpointQuery(PageQuery):
    pass


class KeyOut(Schema):
    name = String()
    key_id = String(metadata={"description": "8 hex digits: SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key)[:4]"})
    algorithm = String(metadata={"description": "`ed25519`"})
    public_key = String(metadata={"description": "the 32-byte Ed25519 public key, base64"})
    verifier_key = String(
        metadata={"description": "`<name>+<key ID>+<base64(0x01 ‖ public key)>` (Go's note verifier key)"}
    )
    valid_from = AwareDateTime(metadata={"description": "when the key signed its first checkpoint"})
    valid_until = AwareDateTime(
        allow_none=True,
        metadata={"description": "when the key signed its last checkpoint; null: it signed the latest one"},
    )


class KeysOut(Schema):
    origin = String(metadata={"description": "the log's origin (the configured one)"})
    keys = List(Nested(KeyOut))


class InclusionQuery(Schema):
    event = Integer(
        required=True, validate=Range(1, MAX_SIZE), metadata={"description": "the event's `sequence`"}
    )
    size = Integer(
        load_default=None,
        validate=Range(1, MAX_SIZE),
        metadata={"description": "the tree size to prove against; default: the latest checkpoint's"},
    )


class InclusionOut(Schema):
    event = Integer()
    event_hash = String(metadata={"description": "the event's hash, 64 hex digits"})
    leaf_index = Integer(metadata={"description": "the event's place in the log, from 0"})
    tree_size = Integer()
    leaf_hash = String(metadata={"description": "SHA-256(0x00 ‖ 32 bytes of the event hash), base64"})
    root = String(metadata={"description": "the root of the tree of `tree_size` leaves, base64"})
    proof = List(String(), metadata={"description": "RFC 9162 §2.1.3 audit path, leaf upwards, base64"})
    checkpoint = String(
        allow_none=True, metadata={"description": "the signed checkpoint of that size, if any"}
    )


class ConsistencyQuery(Schema):
    old = Integer(
        data_key="from",
        required=True,
        validate=Range(0, MAX_SIZE),
        metadata={"description": "older tree size"},
    )
    new = Integer(
        data_key="to",
        load_default=None,
        validate=Range(0, MAX_SIZE),
        metadata={"description": "newer tree size; default: the latest checkpoint's"},
    )


class ConsistencyOut(Schema):
    old = Integer(data_key="from")
    new = Integer(data_key="to")
    old_root = String()
    new_root = String()
    proof = List(String(), metadata={"description": "RFC 9162 §2.1.4 consistency proof, base64"})
    old_checkpoint = String(allow_none=True)
    new_checkpoint = String(allow_none=True)
