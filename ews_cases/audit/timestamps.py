"""RFC 3161 timestamps for checkpoints (docs/audit.md §8): request, check and read a time-stamping token.

What is timestamped is the **whole signed checkpoint note as the log issued it** — the checkpoint text, the
empty line and the log's signature lines, as UTF-8 bytes, exactly as stored and served (without cosignatures,
which may be added later). The message imprint is SHA-256 of those bytes. The token therefore shows that the
log's *signature* existed at the token's time, not only the tree head: a signing key that leaks later cannot
back-date a rewritten history past a timestamped checkpoint.

The token is stored as DER (a CMS `ContentInfo` with `SignedData`, RFC 3161 §2.4.2), what `openssl ts -verify
-token_in` reads. `rfc3161-client` (Trail of Bits) builds requests and checks replies: status granted, the
nonce, the imprint, the signature chaining to `EWS_TSA_CERTIFICATE` (a PEM file holding the TSA's certificate
and/or the CA certificates it chains to), and the TSA certificate's critical `timeStamping` key usage. Without
that file only the imprint and nonce are checked on receipt (production refuses that: settings).
"""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    TimeStampResponse,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
SHA256_OID = x509.ObjectIdentifier("2.16.840.1.101.3.4.2.1")
#: The DER of `PKIStatusInfo { status granted(0) }`: with a token it makes the `TimeStampResp` that
#: `rfc3161-client` reads (RFC 3161 §2.4.2), so a stored token can be checked again later.
_GRANTED = bytes.fromhex("3003020100")
MAX_REPLY_BYTES = 1024 * 1024


class TimestampError(Exception):
    """The TSA could not be reached, refused, or sent a reply that does not check out; the message says why."""


class TsaUnavailable(TimestampError):
    """No reply from the TSA (network, HTTP status): try again later."""


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A checked token and what it says."""

    token: bytes  # DER ContentInfo
    imprint: bytes  # SHA-256 of the timestamped bytes
    gen_time: datetime
    serial_number: int
    policy: str
    signature_checked: bool  # False: no EWS_TSA_CERTIFICATE, only imprint and nonce were checked


def imprint(message: bytes) -> bytes:
    return hashlib.sha256(message).digest()


def load_certificates(path: Path) -> list[x509.Certificate]:
    """Every certificate in a PEM file (the TSA's own and/or its CA chain)."""
    certificates = x509.load_pem_x509_certificates(path.read_bytes())
    if not certificates:
        raise TimestampError(f"{path} holds no PEM certificate")
    return certificates


def request_timestamp(
    url: str,
    message: bytes,
    *,
    certificates: list[x509.Certificate] | None,
    timeout: float = 10.0,
) -> Timestamp:
    """Ask the TSA at `url` for a token over SHA-256(`message`), check the reply, return the token."""
    if not url.startswith(("http://", "https://")):
        raise TimestampError(f"the TSA URL {url!r} is not http(s)")
    request = (
        TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256).nonce(nonce=True).build()
    )
    http = urllib.request.Request(
        url,
        data=request.as_bytes(),
        method="POST",
        headers={"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE},
    )
    try:
        with urllib.request.urlopen(http, timeout=timeout) as answer:
            body = answer.read(MAX_REPLY_BYTES + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TsaUnavailable(f"no reply from the TSA at {url}: {exc}") from exc
    if len(body) > MAX_REPLY_BYTES:
        raise TimestampError("the TSA's reply is larger than 1 MiB")
    try:
        response = decode_timestamp_response(body)
    except ValueError as exc:
        raise TimestampError(f"the TSA's reply is not a timestamp response: {exc}") from exc
    if response.status not in (0, 1):  # granted, granted with modifications
        raise TimestampError(f"the TSA refused: status {response.status} {response.status_string}")
    return _check(response, message, certificates, nonce=request.nonce)


def check_token(token: bytes, message: bytes, certificates: list[x509.Certificate] | None) -> Timestamp:
    """Check a stored token against the timestamped bytes (and the TSA's certificates, when given)."""
    try:
        response = decode_timestamp_response(_der_sequence(_GRANTED + token))
    except ValueError as exc:
        raise TimestampError(f"not a timestamp token: {exc}") from exc
    return _check(response, message, certificates, nonce=None)


def _check(
    response: TimeStampResponse,
    message: bytes,
    certificates: list[x509.Certificate] | None,
    *,
    nonce: int | None,
) -> Timestamp:
    info = response.tst_info
    digest = imprint(message)
    if info.message_imprint.hash_algorithm != SHA256_OID:
        raise TimestampError("the token's imprint is not SHA-256")
    if info.message_imprint.message != digest:
        raise TimestampError("the token's imprint is not the SHA-256 of the timestamped checkpoint")
    if nonce is not None and info.nonce != nonce:
        raise TimestampError("the TSA's reply carries another nonce than the request")
    if certificates:
        builder = VerifierBuilder()
        for certificate in certificates:
            builder = builder.add_root_certificate(certificate)
        try:
            builder.build().verify(response, digest)
        except VerificationError as exc:
            raise TimestampError(f"the token does not verify: {exc}") from exc
    gen_time = info.gen_time
    if gen_time.tzinfo is None:
        gen_time = gen_time.replace(tzinfo=UTC)
    return Timestamp(
        token=response.time_stamp_token(),
        imprint=digest,
        gen_time=gen_time,
        serial_number=info.serial_number,
        policy=info.policy.dotted_string,
        signature_checked=bool(certificates),
    )


def _der_sequence(content: bytes) -> bytes:
    """`SEQUENCE { content }` in DER (definite length)."""
    size = len(content)
    if size < 0x80:
        return b"\x30" + bytes([size]) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return b"\x30" + bytes([0x80 | len(length)]) + length + content
