"""Signed roots for verification (docs/audit.md §9): checkpoints an auditor holds, those the database stores,
and the keys that decide which of them count.

A checkpoint counts as an `Anchor` only when a signature by a known key verifies (C2SP signed-note: unknown
keys are ignored, a known key's bad signature refuses the note). Known keys are the auditor's own (`--key`:
verifier-key texts) when given, else the keys this installation publishes: those it is configured to sign
with (`EWS_AUDIT_SIGNING_KEY`, `EWS_AUDIT_PREVIOUS_SIGNING_KEYS`) and those `GET /api/v1/audit/keys` lists.
That list is in the database, which an insider can change; but a signed root can only make verification
fail, never pass, so a key added there hides nothing. An auditor who holds the key passes it: then a log
re-signed with another key fails at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import notes
from ews_cases.models import AuditCheckpoint, AuditCosignature
from ews_cases.settings import Settings

#: Where the keys came from (`KeyRing.source`).
GIVEN, PUBLISHED = "given", "published"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A signed claim that the log's first `size` leaves had the root `root` (a verified checkpoint)."""

    label: str  # where it comes from: the held file (and note number), or "checkpoint 17 in the database"
    size: int
    root: bytes
    held: bool = True  # held by the auditor, or stored in the database
    signers: tuple[str, ...] = ()  # the verifier keys (name+ID) whose signatures verified
    origin: str = ""


@dataclass(frozen=True, slots=True)
class KeyRing:
    keys: tuple[notes.VerifierKey, ...]
    source: str  # GIVEN or PUBLISHED
    problem: str | None = None  # why the configured signing key could not be read

    def describe(self) -> str:
        names = ", ".join(f"{key.name}+{key.key_id_hex}" for key in self.keys) or "none"
        where = "given with --key" if self.source == GIVEN else "published by this installation"
        return f"{names} ({where})"


@dataclass(frozen=True, slots=True)
class AnchorProblem:
    """A held checkpoint that cannot count as a signed root; `code` is stable (the pages translate it)."""

    code: str  # unreadable, unsigned, bad_signature, origin
    label: str
    detail: str
    value: str = ""  # the signers (unsigned), the key (bad_signature), the origin (origin)

    @property
    def message(self) -> str:
        return f"{self.label}: {self.detail}"


@dataclass(slots=True)
class HeldCheckpoints:
    anchors: list[Anchor] = field(default_factory=list)
    problems: list[AnchorProblem] = field(default_factory=list)


def read_keys(texts: Iterable[str]) -> list[notes.VerifierKey]:
    """Verifier keys from `--key` values: each a key text or the path of a file with one key per line."""
    keys: list[notes.VerifierKey] = []
    for value in texts:
        value = value.strip()
        path = Path(value)
        lines = (
            path.read_text(encoding="utf-8").splitlines() if "+" not in value and path.is_file() else [value]
        )
        keys.extend(notes.parse_verifier_key(line) for line in lines if line.strip())
    return keys


def published_keys(session: Session, settings: Settings) -> KeyRing:
    """The log keys this installation publishes: those it is configured to sign with (current and previous)
    and those `GET /api/v1/audit/keys` lists from earlier checkpoints (a retired key's old checkpoints)."""
    from ews_cases.audit.signing import SigningKeyError, log_signers
    from ews_cases.services.checkpoints import published_keys as listed

    problem = None
    try:
        keys = [signer.verifier for signer in log_signers(settings)]
    except SigningKeyError as exc:
        keys, problem = [], str(exc)
    for item in listed(session):
        key = notes.parse_verifier_key(item["verifier_key"])
        if key not in keys:
            keys.append(key)
    return KeyRing(tuple(keys), PUBLISHED, problem)


def key_ring(session: Session, settings: Settings, given: Sequence[notes.VerifierKey]) -> KeyRing:
    """The auditor's keys when given (they win), else the published ones."""
    return KeyRing(tuple(given), GIVEN) if given else published_keys(session, settings)


def split_notes(text: str) -> list[str]:
    """The signed notes in a text: each ends with its signature lines; blank lines may separate them."""
    found: list[str] = []
    current: list[str] = []
    signatures = False
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(notes.SIGNATURE_PREFIX):
            current.append(line)
            signatures = True
        elif signatures:
            found.append("\n".join(current) + "\n")
            current, signatures = ([line] if line.strip() else []), False
        elif line or current:
            current.append(line)
    if current and any(part.strip() for part in current):
        found.append("\n".join(current).rstrip("\n") + "\n")
    return found


def read_held(text: str, label: str, ring: KeyRing, origin: str) -> HeldCheckpoints:
    """The checkpoints in a held text (one or more notes) that verify, and why the others do not."""
    held = HeldCheckpoints()
    found = split_notes(text)
    if not found:
        held.problems.append(AnchorProblem("unreadable", label, "no checkpoint in it"))
    for number, note in enumerate(found, start=1):
        name = label if len(found) == 1 else f"{label} #{number}"
        checked = open_checkpoint(note, name, ring, origin, held=True)
        if isinstance(checked, Anchor):
            held.anchors.append(checked)
        else:
            held.problems.append(checked)
    return held


def open_checkpoint(
    note: str, label: str, ring: KeyRing, origin: str, *, held: bool
) -> Anchor | AnchorProblem:
    """Verify one signed checkpoint note with the ring's keys; its anchor, or the reason it is none."""
    try:
        opened = notes.open_note(note, ring.keys)
        checkpoint = notes.parse_checkpoint(opened.text)
    except notes.UnverifiedNote as exc:
        lines = ", ".join(f"{s.name}+{s.key_id_hex}" for s in exc.note.signatures)
        detail = f"no signature by a known key verifies (signed by {lines})"
        return AnchorProblem("unsigned", label, detail, lines)
    except notes.InvalidNoteSignature as exc:
        key = f"{exc.name}+{exc.key_id:08x}"
        return AnchorProblem("bad_signature", label, f"the signature of {key} is invalid", key)
    except notes.NoteError as exc:
        return AnchorProblem("unreadable", label, f"not a signed checkpoint: {exc}")
    if checkpoint.origin != origin:
        detail = f"its origin {checkpoint.origin!r} is not this log's ({origin!r})"
        return AnchorProblem("origin", label, detail, checkpoint.origin)
    signers = tuple(f"{key.name}+{key.key_id_hex}" for key in opened.verified_keys)
    return Anchor(label, checkpoint.size, checkpoint.root, held, signers, checkpoint.origin)


@dataclass(slots=True)
class StoredCheckpoints:
    anchors: list[Anchor] = field(default_factory=list)
    unchecked: int = 0  # signed by no known key (e.g. a key retired from the configuration): not used
    problems: list[AnchorProblem] = field(default_factory=list)


def stored_anchors(session: Session, ring: KeyRing, origin: str) -> StoredCheckpoints:
    """The checkpoints in `audit_checkpoints` as anchors: an insider can delete them, not forge them."""
    stored = StoredCheckpoints()
    cosigned: dict[int, list[str]] = {}  # the cosignature lines, appended to their note (C2SP: one note)
    lines = select(AuditCosignature.checkpoint_id, AuditCosignature.line).order_by(AuditCosignature.id)
    for checkpoint_id, line in session.execute(lines):
        cosigned.setdefault(checkpoint_id, []).append(f"{line}\n")
    rows = session.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.note)
        .order_by(AuditCheckpoint.id)
        .execution_options(yield_per=1000)
    )
    for checkpoint_id, note in rows:
        note += "".join(cosigned.get(checkpoint_id, ()))
        checked = open_checkpoint(
            note, f"checkpoint {checkpoint_id} in the database", ring, origin, held=False
        )
        if isinstance(checked, Anchor):
            stored.anchors.append(checked)
        elif checked.code == "unsigned":
            stored.unchecked += 1
        else:
            stored.problems.append(checked)
    return stored
