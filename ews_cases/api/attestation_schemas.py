"""Schemas of timestamps, cosigners and cosignatures of checkpoints (docs/audit.md §8)."""

from __future__ import annotations

from apiflask import Schema
from apiflask.validators import Length

from ews_cases.api.fields import Boolean, Integer, List, Nested, String


class TimestampOut(Schema):
    tsa_url = String(metadata={"description": "the time-stamping authority asked (EWS_TSA_URL)"})
    gen_time = String(metadata={"description": "the token's genTime (UTC): when the TSA saw the checkpoint"})
    serial_number = String(metadata={"description": "the token's serial number (decimal)"})
    policy = String(metadata={"description": "the TSA policy OID of the token"})
    imprint_sha256 = String(
        metadata={
            "description": "the token's message imprint: SHA-256 of the checkpoint's `note` (UTF-8), hex"
        }
    )
    signature_checked = Boolean(
        metadata={"description": "whether the token was checked against EWS_TSA_CERTIFICATE when stored"}
    )
    token = String(
        metadata={"description": "the RFC 3161 TimeStampToken, DER, base64 (`openssl ts -verify -token_in`)"}
    )


class CosignatureOut(Schema):
    name = String(metadata={"description": "the cosigner's key name"})
    key_id = String(metadata={"description": "8 hex digits: SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4]"})
    verifier_key = String(metadata={"description": "`<name>+<key ID>+<base64(0x04 ‖ public key)>`"})
    timestamp = Integer(metadata={"description": "the cosignature's signed time, POSIX seconds"})
    cosigned_at = String(metadata={"description": "the same time, UTC", "format": "date-time"})
    line = String(metadata={"description": "the signature line, C2SP tlog-cosignature (cosignature/v1)"})


class CosignIn(Schema):
    cosignature = String(
        required=True,
        validate=Length(min=1, max=20_000),
        metadata={
            "description": "one or more cosignature lines `— <name> <base64>`, or the whole cosigned note "
            "(its text must be the checkpoint's); lines of unregistered keys are ignored"
        },
    )


class CosignerIn(Schema):
    verifier_key = String(
        required=True,
        validate=Length(min=1, max=400),
        metadata={
            "description": "`<name>+<key ID>+<base64(0x04 ‖ public key)>` (`ews audit cosign --generate-key`)"
        },
    )


class CosignerOut(Schema):
    id = Integer()
    name = String()
    key_id = String()
    verifier_key = String()
    registered_at = String(metadata={"format": "date-time"})


class CosignersOut(Schema):
    items = List(Nested(CosignerOut))
