#!/usr/bin/env python3
"""Verify an EWS Cases auditor's bundle offline, without EWS Cases (README.md beside this file; the
algorithms are in EWS Cases' docs/audit.md §3, §8 and §9). Python 3.9 or later, standard library only.

    python3 verify_bundle.py [BUNDLE] [--checkpoint FILE]... [--key KEY]...

BUNDLE is the bundle's folder (default: the folder of this script) or the .zip file itself.
--checkpoint FILE  a checkpoint you kept (one or more signed notes): it must verify and match the log.
--key KEY          a verifier key you hold (<name>+<key ID>+<base64 key>), or a file with one per line; when
                   given, only these keys count, else those in the bundle's keys.json (and it says so).

Checks every hash chain of audit.jsonl; rebuilds the Merkle tree from leaves.csv and the events' content;
checks every checkpoint's signature and its root against the rebuilt tree (so all checkpoints are consistent
with each other: each is the root of a prefix of the same leaves) and that their sizes never shrink. Exits 0
when everything verifies, else 1, naming the first event that differs.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import re
import struct
import sys
import zipfile
from pathlib import Path
from typing import IO, Any

HASHED_FIELDS = ("chain", "position", "case_id", "cohort", "occurred_at", "actor", "actor_role", "action")
HASHED_FIELDS += ("from_state", "to_state", "data", "request_id")
GENESIS = "0" * 64
SIGNATURE_START = "\u2014 "  # EM DASH, space
ED25519, COSIGNATURE_V1 = 0x01, 0x04
SEQUENCE = re.compile(rb'"sequence":(\d+)')
UNKNOWN = b"\0" * 32  # the leaf of an event whose content is unknown: no root over it can match

Key = tuple[str, int, int, bytes]  # name, key ID, signature type, public key

# --- Ed25519 verification (RFC 8032 §5.1.7) in pure Python; `cryptography`, when installed, is faster --------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = tuple[int, int, int, int]  # extended coordinates (X, Y, Z, T)


def _recover_x(y: int, sign: int) -> int | None:
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P:
        return None
    return _P - x if (x & 1) != sign else x


def _decode_point(raw: bytes) -> Point | None:
    y = int.from_bytes(raw, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % _P)


def _add(p: Point, q: Point) -> Point:
    a = (p[1] - p[0]) * (q[1] - q[0]) % _P
    b = (p[1] + p[0]) * (q[1] + q[0]) % _P
    c = 2 * p[3] * q[3] * _D % _P
    d = 2 * p[2] * q[2] % _P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: Point) -> Point:
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


_GY = 4 * pow(5, _P - 2, _P) % _P
_GX = _recover_x(_GY, 0) or 0
_BASE = (_GX, _GY, 1, _GX * _GY % _P)


def ed25519_verify_pure(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """RFC 8032 §5.1.7: [S]B = R + [SHA-512(R ‖ A ‖ M) mod L]A, with S < L and both points valid."""
    if len(public_key) != 32 or len(signature) != 64:
        return False
    a, r = _decode_point(public_key), _decode_point(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    left, right = _multiply(s, _BASE), _add(r, _multiply(k, a))
    same_x = (left[0] * right[2] - right[0] * left[2]) % _P == 0
    return same_x and (left[1] * right[2] - right[1] * left[2]) % _P == 0


def _ed25519_verify_cryptography(public_key: bytes, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if len(public_key) != 32 or len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


try:
    import cryptography.hazmat.primitives.asymmetric.ed25519  # noqa: F401

    ed25519_verify, ED25519_IMPLEMENTATION = _ed25519_verify_cryptography, "the cryptography package"
except ImportError:
    ed25519_verify, ED25519_IMPLEMENTATION = ed25519_verify_pure, "pure Python (RFC 8032)"

# --- keys and signed notes (C2SP signed-note, tlog-checkpoint, tlog-cosignature) ----------------------------


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """SHA-256(name ‖ 0x0A ‖ type ‖ public key), its first 4 bytes as a big-endian number."""
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def parse_key(text: str) -> Key:
    """`<name>+<8 hex digits key ID>+<base64(type ‖ 32-byte public key)>`."""
    name, hex_id, encoded = text.strip().split("+", 2)
    raw = base64.b64decode(encoded, validate=True)
    if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1) or not name or " " in name:
        raise ValueError(f"not an Ed25519 verifier key: {text.strip()!r}")
    if not re.fullmatch(r"[0-9a-f]{8}", hex_id) or key_id(name, raw[0], raw[1:]) != int(hex_id, 16):
        raise ValueError(f"the key ID does not match the key: {text.strip()!r}")
    return (name, int(hex_id, 16), raw[0], raw[1:])


def split_notes(text: str) -> list[str]:
    """The signed notes in a text: body, an empty line, signature lines; blank lines may separate notes."""
    notes: list[str] = []
    current: list[str] = []
    in_signatures = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(SIGNATURE_START):
            current.append(line)
            in_signatures = True
        elif in_signatures:
            notes.append("\n".join(current) + "\n")
            current, in_signatures = ([line] if line.strip() else []), False
        elif line or current:
            current.append(line)
    if any(part.strip() for part in current):
        notes.append("\n".join(current).rstrip("\n") + "\n")
    return notes


def open_checkpoint(note: str, keys: list[Key]) -> tuple[str, int, bytes, list[str]]:
    """(origin, size, root, signers) of a checkpoint whose known keys' signatures all verify, or ValueError."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise ValueError("it holds a control character")
    split = note.rfind("\n\n")
    if split < 0:
        raise ValueError("no empty line before the signatures")
    body, block = note[: split + 1].encode("utf-8"), note[split + 2 :]
    signers = []
    for line in block.rstrip("\n").split("\n"):
        if not line.startswith(SIGNATURE_START):
            raise ValueError(f"not a signature line: {line[:40]!r}")
        name, _, encoded = line[len(SIGNATURE_START) :].partition(" ")
        raw = base64.b64decode(encoded, validate=True)
        for known_name, identifier, signature_type, public_key in keys:
            if (known_name, identifier) != (name, int.from_bytes(raw[:4], "big")):
                continue  # signatures by keys we do not know are ignored (C2SP signed-note)
            if signature_type == COSIGNATURE_V1:
                (moment,) = struct.unpack(">Q", raw[4:12]) if len(raw) == 76 else (-1,)
                message = f"cosignature/v1\ntime {moment}\n".encode() + body
                valid = moment >= 0 and ed25519_verify(public_key, message, raw[12:])
            else:
                valid = ed25519_verify(public_key, body, raw[4:])
            if not valid:
                raise ValueError(f"the signature of {name}+{identifier:08x} is invalid")
            signers.append(f"{name}+{identifier:08x}")
    if not signers:
        raise ValueError("no signature by a known key")
    lines = body.decode("utf-8")[:-1].split("\n")
    if len(lines) < 3 or not re.fullmatch(r"0|[1-9][0-9]*", lines[1]):
        raise ValueError("not a checkpoint (origin, tree size, root hash)")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise ValueError("the root hash does not have 32 bytes")
    return lines[0], int(lines[1]), root, signers


# --- the Merkle tree (RFC 9162 §2.1) ------------------------------------------------------------------------


def leaf_hash(event_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + event_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The tree's right edge: append leaves one by one, read the root of the leaves so far."""

    def __init__(self) -> None:
        self.size = 0
        self.edge: list[bytes] = []

    def append(self, leaf: bytes) -> None:
        position = self.size
        while position & 1:
            leaf = node_hash(self.edge.pop(), leaf)
            position >>= 1
        self.edge.append(leaf)
        self.size += 1

    def root(self) -> bytes:
        if not self.edge:
            return hashlib.sha256(b"").digest()
        current = self.edge[-1]
        for left in reversed(self.edge[:-1]):
            current = node_hash(left, current)
        return current


# --- the bundle ----------------------------------------------------------------------------------------------


class Bundle:
    """The bundle's files, from its folder or straight from the .zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.archive = zipfile.ZipFile(path) if path.is_file() else None
        self.prefix = ""
        if self.archive is not None:
            names = self.archive.namelist()
            tops = {name.split("/", 1)[0] for name in names}
            if len(tops) == 1 and all("/" in name for name in names):
                self.prefix = tops.pop() + "/"

    def open(self, name: str) -> IO[bytes]:
        if self.archive is not None:
            return self.archive.open(self.prefix + name)
        return open(self.path / name, "rb")  # the caller closes it


class Findings:
    def __init__(self) -> None:
        self.broken: list[str] = []  # what to print
        self.bad: set[int] = set()  # events known to differ

    def add(self, line: str, sequence: int | None = None) -> None:
        self.broken.append(line)
        if sequence is not None:
            self.bad.add(sequence)


def content_hash(prev_hash: str, event: dict[str, Any]) -> bytes:
    """SHA-256(prev_hash as 64 ASCII bytes ‖ canonical JSON of the 12 hashed fields) (docs/audit.md §3)."""
    hashed = {name: event[name] for name in HASHED_FIELDS}
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(prev_hash.encode("ascii") + text.encode("utf-8")).digest()


Content = dict[int, tuple[bytes, str, int]]  # sequence -> (content hash, chain, position)


def check_chains(bundle: Bundle, findings: Findings) -> tuple[Content, int]:
    """Every chain of audit.jsonl: positions 1, 2, 3 …, prev_hash links, hashes; each event's content hash."""
    content: Content = {}
    last: dict[
        str, tuple[int, str] | None
    ] = {}  # chain -> (position, hash) of its last good event, None: broken
    previous = None
    with bundle.open("audit.jsonl") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line.decode("utf-8"))
                chain, position, prev_hash = event["chain"], event["position"], event["prev_hash"]
                sequence = event["sequence"]
                if not (isinstance(chain, str) and isinstance(sequence, int) and isinstance(prev_hash, str)):
                    raise TypeError("not an audit event")
                digest = content_hash(prev_hash, event)
            except (ValueError, KeyError, TypeError, RecursionError):
                found = SEQUENCE.search(line)
                sequence = int(found.group(1)) if found else None
                which = f" (event {sequence})" if sequence is not None else ""
                findings.add(f"BROKEN audit.jsonl line {number}{which}: not an audit event", sequence)
                continue
            if sequence in content:
                findings.add(f"BROKEN audit.jsonl line {number}: event {sequence} appears twice", sequence)
                continue
            content[sequence] = (digest, chain, position)
            resumed = chain != previous and chain in last
            previous = chain
            if chain in last and last[chain] is None:
                continue  # the chain broke before: its later events are not judged
            at, expected = last.get(chain) or (0, GENESIS)
            problem = None
            if resumed:
                problem = "the chain's events are not consecutive in the file"
            elif position != at + 1:
                problem = f"position {position} where {at + 1} was expected (gap or reordering)"
            elif prev_hash != expected:
                problem = "prev_hash differs from the hash of the previous event"
            elif event.get("hash") != digest.hex():
                problem = "hash differs from the event's content"
            last[chain] = None if problem else (position, event["hash"])
            if problem:
                findings.add(
                    f"BROKEN chain {chain} at position {position} (event {sequence}): {problem}", sequence
                )
    return content, len(last)


def rebuild_tree(
    bundle: Bundle, content: Content, sizes: set[int], findings: Findings
) -> tuple[dict[int, bytes], dict[int, int]]:
    """The tree over leaves.csv's events in leaf order: its root at each wanted size; sequence -> leaf."""
    roots: dict[int, bytes] = {}
    leaf_of: dict[int, int] = {}
    frontier = Frontier()
    if 0 in sizes:
        roots[0] = frontier.root()
    with bundle.open("leaves.csv") as raw:
        rows = csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))
        if next(rows, None) != ["leaf", "sequence"]:
            findings.add("BROKEN leaves.csv: the header is not leaf,sequence")
            return roots, leaf_of
        for row in rows:
            try:
                leaf, sequence = int(row[0]), int(row[1])
            except (ValueError, IndexError):
                findings.add(f"BROKEN leaves.csv after leaf {frontier.size - 1}: not a row leaf,sequence")
                break
            if leaf != frontier.size:
                findings.add(f"BROKEN leaves.csv: leaf {leaf} where {frontier.size} was expected")
                break
            if sequence in leaf_of or sequence not in content:
                why = "is in the log twice" if sequence in leaf_of else "is not in audit.jsonl"
                findings.add(f"BROKEN leaf {leaf}: event {sequence} {why}", sequence)
                frontier.append(UNKNOWN)
            else:
                frontier.append(leaf_hash(content[sequence][0]))
            leaf_of.setdefault(sequence, leaf)
            if frontier.size in sizes:
                roots[frontier.size] = frontier.root()
    return roots, leaf_of


def read_keys(bundle: Bundle, given: list[str]) -> tuple[list[Key], str]:
    if given:
        keys = []
        for value in given:
            path = Path(value)
            texts = (
                path.read_text(encoding="utf-8").splitlines()
                if "+" not in value and path.is_file()
                else [value]
            )
            keys.extend(parse_key(text) for text in texts if text.strip())
        return keys, "given with --key"
    with bundle.open("keys.json") as raw:
        published = json.load(raw)
    keys = [parse_key(item["verifier_key"]) for item in published["keys"]]
    return keys, "from keys.json in the bundle: compare their IDs with keys you hold, or pass --key"


def read_checkpoints(bundle: Bundle, held_files: list[str]) -> list[tuple[str, str, bool]]:
    """(label, note, held) of each checkpoint of checkpoints.jsonl (in the order signed), then the held ones."""
    found = []
    with bundle.open("checkpoints.jsonl") as raw:
        for line in raw:
            if line.strip():
                item = json.loads(line.decode("utf-8"))
                cosignatures = "".join(c["line"] + "\n" for c in item.get("cosignatures") or [])
                found.append((f"checkpoint {item['id']}", item["note"] + cosignatures, False))
    for name in held_files:
        notes = split_notes(Path(name).read_text(encoding="utf-8"))
        found.extend(
            (name if len(notes) == 1 else f"{name} #{n}", note, True) for n, note in enumerate(notes, 1)
        )
    return found


def first_difference(
    results: list[tuple[int, bool]], leaves: int, leaf_of: dict[int, int], bad: set[int]
) -> tuple[int, int, bool] | None:
    """Where the first difference lies: (first leaf, last leaf, bounded). A leaf whose event is known to be
    broken names it (not bounded); else the checkpoints bound it, from the last that matches to the first
    that does not, and the events named are those there now (bounded)."""
    bad_leaves = sorted(leaf_of[s] for s in bad if s in leaf_of)
    failing = [size for size, ok in results if not ok]
    if not failing:
        return (bad_leaves[0], bad_leaves[0], False) if bad_leaves else None
    end = min(failing)
    start = max((size for size, ok in results if ok and size < end), default=0)
    inside = [leaf for leaf in bad_leaves if start <= leaf < end]
    if inside:
        return inside[0], inside[0], False
    return start, max(start, min(end, leaves) - 1), True


def describe(leaf: int, leaf_of: dict[int, int], content: Content, now: bool = False) -> str:
    """`leaf 8 (event 9, chain case:1, position 3)`; `now`: the event that is there now."""
    sequence = next((s for s, at in leaf_of.items() if at == leaf), None)
    if sequence is None:
        return f"leaf {leaf}"
    event = f"{'now ' if now else ''}event {sequence}"
    if sequence not in content:
        return f"leaf {leaf} ({event})"
    _, chain, position = content[sequence]
    return f"leaf {leaf} ({event}, chain {chain}, position {position})"


def verify(bundle: Bundle, held: list[str], given: list[str]) -> int:
    findings = Findings()
    content, chains = check_chains(bundle, findings)
    print(f"chains: {len(content)} events in {chains} chains")
    keys, source = read_keys(bundle, given)
    print(f"keys ({source}): " + (", ".join(f"{k[0]}+{k[1]:08x}" for k in keys) or "none"))
    print(f"Ed25519 by {ED25519_IMPLEMENTATION}")
    with bundle.open("manifest.json") as raw:
        manifest = json.load(raw)
    origin, head_size = manifest["origin"], manifest["log"]["size"]
    opened = []
    for label, note, is_held in read_checkpoints(bundle, held):
        try:
            opened.append((label, *open_checkpoint(note, keys), is_held))
        except (ValueError, UnicodeError) as exc:
            findings.add(f"BROKEN {label}: {exc}")
    roots, leaf_of = rebuild_tree(bundle, content, {item[2] for item in opened} | {head_size}, findings)
    leaves = max(leaf_of.values(), default=-1) + 1
    if roots.get(head_size) != base64.b64decode(manifest["log"]["root"]):  # unsigned: a consistency check
        findings.add(f"BROKEN manifest.json: the log's root at {head_size} leaves is not the rebuilt tree's")
    print(f"log: {leaves} leaves rebuilt; {len(content.keys() - leaf_of.keys())} events not yet in the log")
    results, largest = [], 0
    for label, checkpoint_origin, size, root, signers, is_held in opened:
        matches = size <= leaves and roots.get(size) == root
        if checkpoint_origin != origin:
            findings.add(f"BROKEN {label}: its origin {checkpoint_origin!r} is not the log's ({origin!r})")
        elif size > leaves:
            findings.add(
                f"BROKEN {label}: it signs {size} leaves, the log has {leaves}: cut short or replaced"
            )
        elif not matches:
            findings.add(f"BROKEN {label}: the log's first {size} leaves no longer have the root it signs")
        else:
            print(f"{label}: {size} leaves, signed by {', '.join(signers)}: matches the log")
        if not is_held and size < largest:
            findings.add(f"BROKEN {label}: {size} leaves after a checkpoint of {largest}: the log shrank")
        largest = largest if is_held else max(largest, size)
        results.append((size, matches))
    for line in findings.broken:
        print(line)
    where = first_difference(results, leaves, leaf_of, findings.bad)
    if where is not None:
        first, last, bounded = where
        text = describe(first, leaf_of, content, bounded)
        if last != first:
            text = f"between {text} and {describe(last, leaf_of, content, bounded)}"
        elif bounded:
            text += ", not the event the checkpoints signed there"
        print(f"FIRST DIFFERENCE: {text}")
    elif findings.bad:
        print(f"FIRST DIFFERENCE: event {min(findings.bad)} (not in the log yet)")
    if findings.broken:
        return 1
    print(
        f"OK: {len(content)} events in {chains} chains, {leaves} leaves and {len(opened)} checkpoints verify"
    )
    return 0


def main(argv: list[str]) -> int:
    paths: list[str] = []
    held: list[str] = []
    given: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument in ("--checkpoint", "--key"):
            (held if argument == "--checkpoint" else given).append(next(arguments, ""))
        elif argument in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            paths.append(argument)
    bundle = Bundle(Path(paths[0]) if paths else Path(__file__).resolve().parent)
    try:
        return verify(bundle, held, given)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        print(f"BROKEN: the bundle cannot be read: {exc!r}")
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
