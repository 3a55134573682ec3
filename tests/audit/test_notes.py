"""Known-answer tests of signed notes, checkpoints and keys (issue 18, must-hold 1).

The vectors are those of Go's reference implementation (`golang.org/x/mod/sumdb/note`, note_test.go) and
of the C2SP specifications; signatures are also checked with an independent Ed25519 implementation
(libsodium through PyNaCl), and key IDs with SHA-256 written out here.
"""

from __future__ import annotations

import base64
import hashlib
import struct

import nacl.exceptions
import nacl.signing
import pytest

from ews_cases.audit import notes

# golang.org/x/mod/sumdb/note, note_test.go
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = (
    "— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
# c2sp.org/tlog-checkpoint's example
C2SP_CHECKPOINT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"


def test_signing_reproduces_go_signed_note_byte_for_byte():
    signer = notes.parse_signer_key(PETER_SKEY)
    assert signer.name == "PeterNeumann"
    assert signer.verifier.text == PETER_VKEY
    assert signer.private_text == PETER_SKEY
    assert notes.sign_note(TEXT, [signer]) == TEXT + "\n" + PETER_SIG


def test_key_ids_follow_the_c2sp_formula():
    for vkey, expected in ((PETER_VKEY, 0xC74F20A3), (ENOCH_VKEY, 0xAF0CFE78)):
        name, _, encoded = vkey.split("+", 2)
        raw = base64.b64decode(encoded)
        # SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)[:4], big-endian, written out independently
        independent = int.from_bytes(hashlib.sha256(name.encode() + b"\x0a" + raw).digest()[:4], "big")
        assert independent == expected
        key = notes.parse_verifier_key(vkey)
        assert (key.key_id, key.name, key.public_key, key.text) == (expected, name, raw[1:], vkey)


def test_mangled_verifier_keys_are_refused():
    notes.parse_verifier_key(PETER_VKEY)
    raw = PETER_VKEY.encode()
    for i in range(len(raw)):  # every proper substring, as Go's TestNewVerifier
        for j in range(i + 1, len(raw) + 1):
            if (i, j) != (0, len(raw)):
                with pytest.raises(notes.NoteError):
                    notes.parse_verifier_key(raw[i:j].decode())
    for i in range(len(raw)):  # every single changed byte
        changed = raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]
        with pytest.raises((notes.NoteError, UnicodeDecodeError)):
            notes.parse_verifier_key(changed.decode())
    for bad in (  # Go's: wrong key length, unknown algorithm (each with a matching key ID)
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(notes.NoteError):
            notes.parse_verifier_key(bad)


def test_mangled_signing_keys_are_refused():
    for cut in (PETER_SKEY[:-1], PETER_SKEY[1:], PETER_SKEY.replace("c74f20a3", "c74f20a4")):
        with pytest.raises(notes.NoteError):
            notes.parse_signer_key(cut)


def test_open_verifies_known_and_keeps_unknown_signatures_as_go_does():
    peter = notes.parse_verifier_key(PETER_VKEY)
    enoch = notes.parse_verifier_key(ENOCH_VKEY)
    message = TEXT + "\n" + PETER_SIG + ENOCH_SIG

    opened = notes.open_note(message, [peter])
    assert opened.text == TEXT
    assert [s.line for s, _ in opened.verified] == [PETER_SIG]
    assert [s.line for s in opened.unverified] == [ENOCH_SIG]

    both = notes.open_note(message, [peter, enoch])
    assert [s.line for s, _ in both.verified] == [PETER_SIG, ENOCH_SIG]
    assert both.unverified == ()
    assert both.verified_keys == (peter, enoch)

    with pytest.raises(notes.UnverifiedNote) as refused:
        notes.open_note(message, [])
    assert str(refused.value) == "note has no verifiable signatures"
    assert len(refused.value.note.signatures) == 2

    # the same verifier given twice is one key
    assert len(notes.open_note(message, [enoch, peter, notes.parse_verifier_key(ENOCH_VKEY)]).verified) == 2


def test_open_refuses_a_bad_signature_of_a_known_key():
    peter = notes.parse_verifier_key(PETER_VKEY)
    broken = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(notes.InvalidNoteSignature, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        notes.open_note(TEXT + "\n" + broken, [peter])
    # the same signature under another text
    with pytest.raises(notes.InvalidNoteSignature):
        notes.open_note(TEXT.replace("problem", "Problem", 1) + "\n" + PETER_SIG, [peter])


def test_repeated_signatures_count_once():
    peter = notes.parse_verifier_key(PETER_VKEY)
    message = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG
    opened = notes.open_note(message, [peter])
    assert len(opened.verified) == 1
    assert len(opened.unverified) == 1


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(message):
    with pytest.raises(notes.MalformedNote):
        notes.open_note(message, [notes.parse_verifier_key(PETER_VKEY)])


def test_invalid_utf8_is_malformed():
    with pytest.raises(notes.MalformedNote):
        notes.parse_note(b"\xff" + (TEXT + "\n" + PETER_SIG).encode())


def test_checkpoint_body_matches_c2sp():
    checkpoint = notes.parse_checkpoint(C2SP_CHECKPOINT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert notes.checkpoint_body(checkpoint.origin, checkpoint.size, checkpoint.root) == C2SP_CHECKPOINT
    empty = notes.checkpoint_body("ews.test/audit-log", 0, hashlib.sha256(b"").digest())
    assert empty == "ews.test/audit-log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"


@pytest.mark.parametrize(
    "text",
    [
        "origin\n12\n",
        "origin\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jx\n",
        "\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
    ],
)
def test_malformed_checkpoints_are_refused(text):
    with pytest.raises(notes.NoteError):
        notes.parse_checkpoint(text)


def test_checkpoint_signature_verifies_with_libsodium():
    """Our signed checkpoint, checked by an independent Ed25519 (libsodium), byte by byte."""
    seed = bytes(range(32))
    signer = notes.Signer(
        "ews.test/audit-log", notes.parse_signer_key(_private_text("ews.test/audit-log", seed)).private_key
    )
    root = hashlib.sha256(b"root").digest()
    signed = notes.sign_checkpoint("ews.test/audit-log", 5, root, [signer])
    body = f"ews.test/audit-log\n5\n{base64.b64encode(root).decode()}\n"
    assert signed.startswith(body + "\n— ews.test/audit-log ")
    assert signed.endswith("\n")
    assert signed.count("\n") == 5

    raw = base64.b64decode(signed.splitlines()[-1].split(" ")[2])
    sodium_key = nacl.signing.SigningKey(seed)
    public = bytes(sodium_key.verify_key)
    assert raw[:4] == hashlib.sha256(b"ews.test/audit-log\n\x01" + public).digest()[:4]
    nacl.signing.VerifyKey(public).verify(body.encode(), raw[4:])  # raises when it does not verify
    assert raw[4:] == sodium_key.sign(body.encode()).signature  # Ed25519 is deterministic
    with pytest.raises(nacl.exceptions.BadSignatureError):
        nacl.signing.VerifyKey(public).verify(body.replace("\n5\n", "\n6\n").encode(), raw[4:])

    # and a note signed by libsodium opens with our verifier
    line = (
        "— ews.test/audit-log "
        + base64.b64encode(raw[:4] + sodium_key.sign(body.encode()).signature).decode()
    )
    opened = notes.open_note(body + "\n" + line + "\n", [signer.verifier])
    assert opened.text == body


def test_two_signatures_for_key_rotation():
    old, new = notes.Signer.generate("ews.test/audit-log"), notes.Signer.generate("ews.test/audit-log")
    signed = notes.sign_checkpoint("ews.test/audit-log", 3, bytes(32), [new, old])
    assert signed.count("\n— ews.test/audit-log ") == 2
    assert notes.open_note(signed, [old.verifier]).verified_keys == (old.verifier,)
    assert notes.open_note(signed, [new.verifier]).verified_keys == (new.verifier,)
    assert notes.parse_note(signed).signed_text == signed


def test_cosignature_v1_matches_the_c2sp_message_and_libsodium():
    seed = bytes(range(100, 132))
    witness = notes.parse_signer_key(_private_text("witness.example/w1", seed, notes.COSIGNATURE_V1))
    assert witness.verifier.key_id == int.from_bytes(
        hashlib.sha256(
            b"witness.example/w1\n\x04" + bytes(nacl.signing.SigningKey(seed).verify_key)
        ).digest()[:4],
        "big",
    )
    line = notes.cosign(witness, C2SP_CHECKPOINT, 1679315147)
    timestamp, signature = struct.unpack(">Q", line.signature[:8])[0], line.signature[8:]
    assert timestamp == 1679315147
    message = b"cosignature/v1\ntime 1679315147\n" + C2SP_CHECKPOINT.encode()
    nacl.signing.VerifyKey(bytes(nacl.signing.SigningKey(seed).verify_key)).verify(message, signature)
    assert (
        notes.cosignature_timestamp(witness.verifier, C2SP_CHECKPOINT.encode(), line.signature) == 1679315147
    )
    assert (
        notes.cosignature_timestamp(
            witness.verifier, b"other\n1\n" + C2SP_CHECKPOINT.encode()[-45:], line.signature
        )
        is None
    )

    # a checkpoint with the log's signature and the cosignature opens with either key
    log = notes.Signer.generate("example.com/behind-the-sofa")
    note = notes.format_note(C2SP_CHECKPOINT, [log.sign(C2SP_CHECKPOINT), line])
    opened = notes.open_note(note, [log.verifier, witness.verifier])
    assert opened.verified_keys == (log.verifier, witness.verifier)
    vkey = witness.verifier.text
    assert notes.parse_verifier_key(vkey) == witness.verifier
    assert base64.b64decode(vkey.split("+", 2)[2])[0] == 0x04


def _private_text(name: str, seed: bytes, signature_type: int = notes.ED25519) -> str:
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    key_id = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public).digest()[:4].hex()
    return f"PRIVATE+KEY+{name}+{key_id}+{base64.b64encode(bytes([signature_type]) + seed).decode()}"
