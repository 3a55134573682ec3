"""Signed notes, checkpoints, keys: C2SP `signed-note`, `tlog-checkpoint`, `tlog-cosignature` (docs/audit.md §8).

The one implementation of these formats in EWS Cases; pure (no Flask, no SQL). Byte for byte as Go's
`golang.org/x/mod/sumdb/note` writes and reads them:

- A **signed note** is its text (ending in a newline), an empty line, and one line per signature,
  `— <key name> <base64(4-byte key ID ‖ signature)>` (U+2014 EM DASH, a space).
- A **key ID** is `SHA-256(key name ‖ 0x0A ‖ signature type ‖ 32-byte Ed25519 public key)[:4]`, big-endian;
  type 0x01 is an Ed25519 signature over the note text, type 0x04 a timestamped cosignature (below).
- A **verifier key** is written `<name>+<key ID, 8 hex digits>+<base64(type ‖ public key)>`, a signing key
  `PRIVATE+KEY+<name>+<key ID>+<base64(type ‖ 32-byte Ed25519 seed)>` (Go's `NewSigner` reads it).
- A **checkpoint** is a note whose text is `<origin>\\n<tree size>\\n<base64 root>\\n`.
- A **cosignature** (type 0x04) signs `cosignature/v1\\ntime <POSIX seconds>\\n` followed by the checkpoint's
  text; its signature bytes are the 8-byte big-endian timestamp followed by the Ed25519 signature.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

#: Signature type bytes (C2SP signed-note): an Ed25519 note signature and an Ed25519 cosignature/v1.
ED25519 = 0x01
COSIGNATURE_V1 = 0x04
SIGNATURE_TYPES = (ED25519, COSIGNATURE_V1)

EM_DASH = "\u2014"
SIGNATURE_PREFIX = EM_DASH + " "
PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
COSIGNATURE_HEADER = "cosignature/v1\n"
#: At most this many signature lines are read (Go's limit; C2SP asks for at least 16).
MAX_SIGNATURES = 100
ROOT_SIZE = 32

_HEX8 = re.compile(r"[0-9a-f]{8}")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")


class NoteError(ValueError):
    """A note, checkpoint or key that cannot be read or does not verify; the message says why."""


class MalformedNote(NoteError):
    def __init__(self, detail: str = "malformed note") -> None:
        super().__init__(detail)


class UnverifiedNote(NoteError):
    """No signature of a known key is on the note."""

    def __init__(self, note: Note) -> None:
        super().__init__("note has no verifiable signatures")
        self.note = note


class InvalidNoteSignature(NoteError):
    """A signature of a known key does not verify: the note is refused as a whole."""

    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"invalid signature for key {name}+{key_id:08x}")
        self.name = name
        self.key_id = key_id


class AmbiguousKey(NoteError):
    def __init__(self, name: str, key_id: int) -> None:
        super().__init__(f"ambiguous key {name}+{key_id:08x}")


def is_valid_key_name(name: str) -> bool:
    """Non-empty, no Unicode space, no `+` (C2SP signed-note)."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_id(name: str, public_key: bytes, signature_type: int = ED25519) -> int:
    """`SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]` as a big-endian number."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _b64decode(text: str) -> bytes:
    """Standard, padded base64 (RFC 4648 §4): no other characters, no missing padding."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedNote("invalid base64") from exc
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# --- keys ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VerifierKey:
    """A public key as verifiers hold it: name, type, 32-byte Ed25519 key; its ID follows from them."""

    name: str
    public_key: bytes
    signature_type: int = ED25519

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise NoteError(f"invalid key name {self.name!r}")
        if self.signature_type not in SIGNATURE_TYPES:
            raise NoteError(f"unknown signature type 0x{self.signature_type:02x}")
        if len(self.public_key) != 32:
            raise NoteError("an Ed25519 public key has 32 bytes")

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key, self.signature_type)

    @property
    def key_id_hex(self) -> str:
        return f"{self.key_id:08x}"

    @property
    def text(self) -> str:
        """`<name>+<key ID hex>+<base64(type ‖ public key)>`."""
        return f"{self.name}+{self.key_id_hex}+{_b64(bytes([self.signature_type]) + self.public_key)}"

    def verify(self, text: bytes, signature: bytes) -> bool:
        """Whether `signature` (without the key ID) is this key's over note text `text`."""
        if self.signature_type == COSIGNATURE_V1:
            return cosignature_timestamp(self, text, signature) is not None
        return _ed25519_verify(self.public_key, signature, text)


def _ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (_CryptoInvalidSignature, ValueError):
        return False
    return True


def parse_verifier_key(text: str) -> VerifierKey:
    """Read `<name>+<hex key ID>+<base64(type ‖ key)>`; the key ID must match the key."""
    text = text.strip()
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"malformed verifier key {text!r}: expected <name>+<key ID>+<key>")
    name, hex_id, encoded = parts
    if not is_valid_key_name(name) or not _HEX8.fullmatch(hex_id):
        raise NoteError(f"malformed verifier key {text!r}")
    try:
        raw = _b64decode(encoded)
    except MalformedNote as exc:
        raise NoteError(f"malformed verifier key {text!r}: the key is not base64") from exc
    if len(raw) != 33 or raw[0] not in SIGNATURE_TYPES:
        raise NoteError(f"malformed verifier key {text!r}: not an Ed25519 key of a known type")
    key = VerifierKey(name, raw[1:], raw[0])
    if key.key_id_hex != hex_id:
        raise NoteError(f"malformed verifier key {text!r}: the key ID does not match the key")
    return key


@dataclass(frozen=True)
class Signer:
    """A private key with its name: signs note texts (type 0x01) or cosigns checkpoints (type 0x04)."""

    name: str
    private_key: Ed25519PrivateKey = field(repr=False)
    signature_type: int = ED25519

    @classmethod
    def generate(cls, name: str, signature_type: int = ED25519) -> Signer:
        return cls(name, Ed25519PrivateKey.generate(), signature_type)

    @property
    def verifier(self) -> VerifierKey:
        public = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return VerifierKey(self.name, public, self.signature_type)

    @property
    def key_id(self) -> int:
        return self.verifier.key_id

    @property
    def private_text(self) -> str:
        """`PRIVATE+KEY+<name>+<key ID>+<base64(type ‖ seed)>`: keep it secret."""
        seed = self.private_key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return (
            f"{PRIVATE_KEY_PREFIX}{self.name}+{self.verifier.key_id_hex}+"
            f"{_b64(bytes([self.signature_type]) + seed)}"
        )

    def sign(self, text: str | bytes) -> NoteSignature:
        """An Ed25519 signature line over the note text (type 0x01 keys)."""
        if self.signature_type != ED25519:
            raise NoteError("a cosigning key signs with cosign(), not sign()")
        message = text.encode() if isinstance(text, str) else text
        return NoteSignature(self.name, self.key_id, self.private_key.sign(message))


def parse_signer_key(text: str) -> Signer:
    """Read `PRIVATE+KEY+<name>+<hex key ID>+<base64(type ‖ seed)>`; the key ID must match the key."""
    text = text.strip()
    if not text.startswith(PRIVATE_KEY_PREFIX):
        raise NoteError("a signing key starts with PRIVATE+KEY+")
    parts = text[len(PRIVATE_KEY_PREFIX) :].split("+", 2)
    if len(parts) != 3:
        raise NoteError("malformed signing key: expected PRIVATE+KEY+<name>+<key ID>+<key>")
    name, hex_id, encoded = parts
    if not is_valid_key_name(name) or not _HEX8.fullmatch(hex_id):
        raise NoteError("malformed signing key: invalid name or key ID")
    try:
        raw = _b64decode(encoded)
    except MalformedNote as exc:
        raise NoteError("malformed signing key: the key is not base64") from exc
    if len(raw) != 33 or raw[0] not in SIGNATURE_TYPES:
        raise NoteError("malformed signing key: not an Ed25519 seed of a known type")
    signer = Signer(name, Ed25519PrivateKey.from_private_bytes(raw[1:]), raw[0])
    if signer.verifier.key_id_hex != hex_id:
        raise NoteError("malformed signing key: the key ID does not match the key")
    return signer


# --- notes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteSignature:
    """One signature line: key name, key ID, and the signature bytes that follow the key ID."""

    name: str
    key_id: int
    signature: bytes

    @property
    def key_id_hex(self) -> str:
        return f"{self.key_id:08x}"

    @property
    def encoded(self) -> str:
        return _b64(struct.pack(">I", self.key_id) + self.signature)

    @property
    def line(self) -> str:
        """`— <name> <base64(key ID ‖ signature)>\\n`."""
        return f"{SIGNATURE_PREFIX}{self.name} {self.encoded}\n"


@dataclass(frozen=True, slots=True)
class Note:
    """A note as read: its text (with the final newline) and its signature lines, in order."""

    text: str
    signatures: tuple[NoteSignature, ...]

    @property
    def signed_text(self) -> str:
        return format_note(self.text, self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise MalformedNote("the note text must end with a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise MalformedNote("the note text holds a control character")


def format_note(text: str, signatures: Iterable[NoteSignature]) -> str:
    """The signed note: text, an empty line, the signature lines."""
    _check_text(text)
    lines = "".join(signature.line for signature in signatures)
    if not lines:
        raise MalformedNote("a signed note has at least one signature")
    return f"{text}\n{lines}"


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign `text` with every signer (in order; one line each) and return the signed note."""
    _check_text(text)
    if not signers:
        raise NoteError("no signing key")
    return format_note(text, [signer.sign(text) for signer in signers])


def parse_note(message: str | bytes) -> Note:
    """Split a signed note into text and signature lines, checking only its syntax (as Go's `Open` does)."""
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedNote("the note is not UTF-8") from exc
    if any(ord(c) < 0x20 and c != "\n" for c in message):
        raise MalformedNote("the note holds a control character")
    split = message.rfind("\n\n")
    if split < 0:
        raise MalformedNote("no empty line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise MalformedNote("the signature lines must end with a newline")
    signatures: list[NoteSignature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise MalformedNote(f"not a signature line: {line[:40]!r}")
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not is_valid_key_name(name) or not encoded:
            raise MalformedNote(f"not a signature line: {line[:40]!r}")
        raw = _b64decode(encoded)
        if len(raw) < 5:
            raise MalformedNote("a signature is too short")
        if len(signatures) == MAX_SIGNATURES:
            raise MalformedNote(f"more than {MAX_SIGNATURES} signatures")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text, tuple(signatures))


@dataclass(frozen=True, slots=True)
class OpenedNote:
    """A note whose known signatures all verified: those (`verified`) and the others (`unverified`)."""

    text: str
    verified: tuple[tuple[NoteSignature, VerifierKey], ...]
    unverified: tuple[NoteSignature, ...]

    @property
    def verified_keys(self) -> tuple[VerifierKey, ...]:
        return tuple(key for _, key in self.verified)


def open_note(message: str | bytes, verifiers: Iterable[VerifierKey]) -> OpenedNote:
    """Parse a signed note and verify it against `verifiers` (C2SP signed-note, as Go's `note.Open`).

    A signature whose name and key ID match a known key must verify, else `InvalidNoteSignature`; other
    signatures are kept as unverified; with no verified signature, `UnverifiedNote`. Repeated lines count once."""
    note = parse_note(message)
    known: dict[tuple[str, int], list[VerifierKey]] = {}
    for key in verifiers:
        known.setdefault((key.name, key.key_id), []).append(key)
    text = note.text.encode()
    verified: list[tuple[NoteSignature, VerifierKey]] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for signature in note.signatures:
        ident = (signature.name, signature.key_id)
        candidates = known.get(ident)
        if not candidates:
            if signature not in unverified:
                unverified.append(signature)
            continue
        if len({key.text for key in candidates}) > 1:
            raise AmbiguousKey(*ident)
        if ident in seen:
            continue
        seen.add(ident)
        if not candidates[0].verify(text, signature.signature):
            raise InvalidNoteSignature(*ident)
        verified.append((signature, candidates[0]))
    if not verified:
        raise UnverifiedNote(note)
    return OpenedNote(note.text, tuple(verified), tuple(unverified))


# --- checkpoints --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The three lines of a checkpoint's text (C2SP tlog-checkpoint); extension lines are kept, not written."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    @property
    def body(self) -> str:
        return checkpoint_body(self.origin, self.size, self.root) + "".join(f"{e}\n" for e in self.extensions)


def checkpoint_body(origin: str, size: int, root: bytes) -> str:
    """`<origin>\\n<size>\\n<base64 root>\\n`."""
    if not origin or "\n" in origin or any(ord(c) < 0x20 for c in origin):
        raise NoteError("the origin is one non-empty line")
    if size < 0:
        raise NoteError("the tree size is not negative")
    if len(root) != ROOT_SIZE:
        raise NoteError("the root hash has 32 bytes")
    return f"{origin}\n{size}\n{_b64(root)}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a checkpoint's text (the note text, not the signed note)."""
    _check_text(text)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash")
    origin, size, root_text, *extensions = lines
    if not origin:
        raise NoteError("the checkpoint's origin is empty")
    if not _DECIMAL.fullmatch(size):
        raise NoteError(f"the checkpoint's tree size {size!r} is not a decimal number")
    try:
        root = _b64decode(root_text)
    except MalformedNote as exc:
        raise NoteError("the checkpoint's root hash is not base64") from exc
    if len(root) != ROOT_SIZE:
        raise NoteError("the checkpoint's root hash does not have 32 bytes")
    if any(not line for line in extensions):
        raise NoteError("a checkpoint's extension line is empty")
    return Checkpoint(origin, int(size), root, tuple(extensions))


def sign_checkpoint(origin: str, size: int, root: bytes, signers: Sequence[Signer]) -> str:
    """The signed checkpoint note of a tree head."""
    return sign_note(checkpoint_body(origin, size, root), signers)


# --- cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1) ---------------------------------------------


def cosignature_message(body: str | bytes, timestamp: int) -> bytes:
    """`cosignature/v1\\ntime <timestamp>\\n` followed by the checkpoint's text."""
    if not 0 <= timestamp < 2**63:
        raise NoteError("a cosignature's timestamp is between 0 and 2^63 - 1")
    text = body.encode() if isinstance(body, str) else body
    return f"{COSIGNATURE_HEADER}time {timestamp}\n".encode() + text


def cosign(signer: Signer, body: str, timestamp: int) -> NoteSignature:
    """A cosignature line by a type-0x04 key over a checkpoint's text at `timestamp` (POSIX seconds)."""
    if signer.signature_type != COSIGNATURE_V1:
        raise NoteError("a cosignature needs a cosigning key (type 0x04)")
    parse_checkpoint(body)
    signature = signer.private_key.sign(cosignature_message(body, timestamp))
    return NoteSignature(signer.name, signer.key_id, struct.pack(">Q", timestamp) + signature)


def cosignature_timestamp(key: VerifierKey, body: bytes, signature: bytes) -> int | None:
    """The timestamp of a valid cosignature by `key` over `body` (signature bytes without the key ID), or None."""
    if key.signature_type != COSIGNATURE_V1 or len(signature) != 8 + 64:
        return None
    (timestamp,) = struct.unpack(">Q", signature[:8])
    if timestamp >= 2**63:
        return None
    if not _ed25519_verify(key.public_key, signature[8:], cosignature_message(body, timestamp)):
        return None
    return int(timestamp)
