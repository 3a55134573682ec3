"""The bundle's standalone verifier (ews_cases/audit/offline/verify_bundle.py) on its own: its pure-Python
Ed25519 against RFC 8032's test vectors and the `cryptography` package, its Merkle tree against the app's,
and the worked examples of docs/audit.md §8, which an outside reader checks an implementation with."""

from __future__ import annotations

import importlib.util
import os
import random
from pathlib import Path
from types import ModuleType

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ews_cases.audit import merkle, notes

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "ews_cases" / "audit" / "offline" / "verify_bundle.py"
DOCS = (REPO / "docs" / "audit.md").read_text(encoding="utf-8")

# RFC 8032 §7.1, tests 1, 2 and 3: (public key, message, signature).
RFC8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
    (
        "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
        "af82",
        "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
    ),
]


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_bundle", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("public", "message", "signature"), RFC8032)
def test_pure_ed25519_verifies_rfc8032_vectors(script, public, message, signature):
    key, text, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert script.ed25519_verify_pure(key, text, sig)
    assert not script.ed25519_verify_pure(key, text + b"x", sig)
    for at in (0, 31, 32, 63):
        broken = bytearray(sig)
        broken[at] ^= 0x01
        assert not script.ed25519_verify_pure(key, text, bytes(broken))


def test_pure_ed25519_agrees_with_the_cryptography_package(script):
    chosen = random.Random(8032)
    for size in range(0, 40, 3):
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = os.urandom(size)
        signature = private.sign(message)
        assert script.ed25519_verify_pure(public, message, signature)
        assert script._ed25519_verify_cryptography(public, message, signature)
        broken = bytearray(signature)
        broken[chosen.randrange(64)] ^= 1 << chosen.randrange(8)
        assert not script.ed25519_verify_pure(public, message, bytes(broken))
        assert not script._ed25519_verify_cryptography(public, message, bytes(broken))
    # S ≥ L is refused (RFC 8032 §5.1.7 step 1), as a non-canonical signature would otherwise verify.
    high_s = signature[:32] + (int.from_bytes(signature[32:], "little") + script._L).to_bytes(32, "little")
    assert not script.ed25519_verify_pure(public, message, high_s)


def test_the_tree_agrees_with_the_app(script):
    leaves = [merkle.leaf_hash(os.urandom(32)) for _ in range(37)]
    frontier = script.Frontier()
    for size, leaf in enumerate(leaves, start=1):
        frontier.append(leaf)
        expected = merkle.Frontier()
        for earlier in leaves[:size]:
            expected.append(earlier)
        assert frontier.root() == expected.root()
    assert script.Frontier().root() == merkle.EMPTY_ROOT


def test_the_worked_examples_of_the_documentation(script):
    """docs/audit.md §8: the leaves and root of §3's two events, the checkpoint signed with the test seed,
    its verifier key, and the cosignature: recomputed by the app and checked by the standalone script."""
    first = "af3459a1020ea8f501c7bdffca22361775a20b9db165e5e05bebf6d07c1afcc9"
    second = "ace33562ff901f59e463efcee7d0efb5be9be890d85e8f31df1fa93b8e2ebbfe"
    leaf0, leaf1 = merkle.leaf_hash(first), merkle.leaf_hash(second)
    root = merkle.node_hash(leaf0, leaf1)
    for value in (leaf0.hex(), leaf1.hex(), root.hex(), merkle.EMPTY_ROOT.hex()):
        assert value in DOCS
    assert script.leaf_hash(bytes.fromhex(first)) == leaf0

    origin = "ews.example.org/audit-log"
    signer = notes.Signer(origin, Ed25519PrivateKey.from_private_bytes(bytes(range(32))))
    note = notes.sign_checkpoint(origin, 2, root, [signer])
    assert note.split("\n\n")[0] + "\n" in DOCS.replace("```\n", "")
    assert note.rsplit("\n", 2)[-2] in DOCS  # the signature line, byte for byte
    assert signer.verifier.text in DOCS
    assert f"`{signer.verifier.key_id_hex}`" in DOCS
    key = script.parse_key(signer.verifier.text)
    assert script.open_checkpoint(note, [key]) == (
        origin,
        2,
        root,
        [f"{origin}+{signer.verifier.key_id_hex}"],
    )

    cosigner = notes.Signer(
        "lrh.example/auditor",
        Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64))),
        notes.COSIGNATURE_V1,
    )
    line = notes.cosign(cosigner, notes.checkpoint_body(origin, 2, root), 1796000000)
    assert line.line.rstrip("\n") in DOCS
    assert cosigner.verifier.text in DOCS
    cosigned = script.open_checkpoint(note + line.line, [script.parse_key(cosigner.verifier.text)])
    assert cosigned[3] == [f"lrh.example/auditor+{cosigner.verifier.key_id_hex}"]
    tampered = note.replace("\n2\n", "\n3\n") + line.line
    with pytest.raises(ValueError, match="is invalid"):
        script.open_checkpoint(tampered, [script.parse_key(cosigner.verifier.text)])


def test_notes_split_like_the_app(script):
    from ews_cases.audit.anchors import split_notes

    text = "a\n1\nAA==\n\n— a x\n— b y\n\n\nb\n2\nBB==\n\n— a z\n"
    assert (
        script.split_notes(text)
        == split_notes(text)
        == ["a\n1\nAA==\n\n— a x\n— b y\n", "b\n2\nBB==\n\n— a z\n"]
    )
    assert script.split_notes(text.replace("\n", "\r\n")) == split_notes(text)
