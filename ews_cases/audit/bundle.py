"""The auditor's bundle (docs/audit.md §10): one .zip to check the whole trail offline, without EWS Cases.

A folder `ews-audit-bundle-<UTC time>/` holding:

- `README.md` and `verify_bundle.py`: the standalone verifier (standard library only) and how to run it;
- `audit.jsonl`: the JSON Lines export (§4), every event in chain order;
- `leaves.csv`: the Merkle log's leaves in order, `leaf,sequence` (leaf index from 0 → the event's sequence);
- `checkpoints.jsonl`: every stored checkpoint, in the order signed: `id`, `created_at`, `tree_size`, `root`
  (base64), `note` (the signed note as the log issued it), `cosignatures` (each with its signature `line`)
  and `timestamp` (the RFC 3161 token, base64, or null);
- `checkpoints/<id>.txt` and `checkpoints/<id>.tsr`: each time-stamped checkpoint's note and its token (DER),
  for `openssl ts -verify`;
- `keys.json`: the log's public keys, as `GET /api/v1/audit/keys` answers;
- `manifest.json`: the origin, when the bundle was made, and the log's size and root then.

Streamed: the zip is written as it is read (`zipfile` on a write-only stream), so memory stays flat and the
web download starts at once. The tables are read in the order checkpoints, keys, log state, leaves, events:
each later read sees at least what the earlier ones did (the tables only grow), so every checkpoint is within
the leaves and every leaf's event is in the export.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from importlib.resources import files
from typing import Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import log
from ews_cases.audit.chain import format_time
from ews_cases.audit.export import iter_export
from ews_cases.models import AuditCheckpoint, AuditTimestamp, utcnow
from ews_cases.settings import Settings

#: The standalone verifier and its README, copied into every bundle as they are.
OFFLINE_FILES = ("README.md", "verify_bundle.py")
CHUNK_BYTES = 256 * 1024
FORMAT = "ews-audit-bundle/1"
BATCH = 500
#: A checkpoint's members in checkpoints.jsonl.
CHECKPOINT_FIELDS = ("id", "created_at", "tree_size", "root", "note", "cosignatures", "timestamp")


class _Stream:
    """A write-only file for `zipfile` (no seek, no tell: it then writes data descriptors); bytes are
    collected until the bundle's generator hands them out."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def write(self, data: bytes) -> int:
        self.pending += data
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = bytes(self.pending)
        self.pending.clear()
        return data


def bundle_name(moment: datetime) -> str:
    return f"ews-audit-bundle-{moment.strftime('%Y%m%dT%H%M%SZ')}"


def iter_bundle(session: Session, settings: Settings, *, now: datetime | None = None) -> Iterator[bytes]:
    """The bundle as a .zip, in chunks of about `CHUNK_BYTES`."""
    from ews_cases.services.checkpoints import published_keys

    now = now or utcnow()
    folder = bundle_name(now)
    stream = _Stream()
    with zipfile.ZipFile(stream, "w", compression=zipfile.ZIP_DEFLATED) as archive:

        def entry(name: str, chunks: Iterable[bytes], *, executable: bool = False) -> Iterator[bytes]:
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=now.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o755 if executable else 0o644) << 16
            with archive.open(info, "w", force_zip64=True) as handle:
                for chunk in chunks:
                    handle.write(chunk)
                    if len(stream.pending) >= CHUNK_BYTES:
                        yield stream.take()

        for name in OFFLINE_FILES:
            content = files("ews_cases.audit").joinpath("offline", name).read_bytes()
            yield from entry(name, [content], executable=name.endswith(".py"))
        yield from entry("checkpoints.jsonl", _checkpoint_lines(session))
        for name, content in _timestamp_files(session):
            yield from entry(name, [content])
        keys = {"origin": settings.log_origin, "keys": published_keys(session)}
        yield from entry("keys.json", [_json(keys, indent=2)])
        head = log.head(session)
        yield from entry("leaves.csv", _leaf_rows(session, head.size))
        yield from entry("audit.jsonl", iter_export(session, "jsonl"))
        manifest = {
            "format": FORMAT,
            "origin": settings.log_origin,
            "created_at": format_time(now),
            "log": {"size": head.size, "root": base64.b64encode(head.root).decode("ascii")},
        }
        yield from entry("manifest.json", [_json(manifest, indent=2)])
    yield stream.take()


def write_bundle(session: Session, settings: Settings, handle: BinaryIO) -> None:
    for chunk in iter_bundle(session, settings):
        handle.write(chunk)


def _json(value: Any, *, indent: int | None = None) -> bytes:
    text = json.dumps(
        value, ensure_ascii=False, indent=indent, separators=None if indent else (",", ":"), default=_time
    )
    return text.encode("utf-8") + b"\n"


def _time(value: Any) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def _checkpoint_lines(session: Session) -> Iterator[bytes]:
    """Every stored checkpoint, in the order signed: its note as the log issued it, its cosignatures (each
    with its `line`) and its RFC 3161 time stamp (the token base64) as the checkpoint API shows them."""
    from ews_cases.services.checkpoints import checkpoint_record
    from ews_cases.services.cosignatures import with_attestations

    stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.id).execution_options(yield_per=BATCH)
    for batch in session.scalars(stmt).partitions():
        for record in with_attestations(session, [checkpoint_record(c) for c in batch]):
            yield _json({name: record[name] for name in CHECKPOINT_FIELDS})


def _timestamp_files(session: Session) -> Iterator[tuple[str, bytes]]:
    """`checkpoints/<id>.txt` (the note, the bytes the token's imprint covers) and `<id>.tsr` (the token)."""
    rows = session.execute(
        select(AuditCheckpoint.id, AuditCheckpoint.note, AuditTimestamp.token)
        .join(AuditTimestamp, AuditTimestamp.checkpoint_id == AuditCheckpoint.id)
        .order_by(AuditCheckpoint.id)
        .execution_options(yield_per=BATCH)
    )
    for checkpoint_id, note, token in rows:
        yield f"checkpoints/{checkpoint_id}.txt", note.encode("utf-8")
        yield f"checkpoints/{checkpoint_id}.tsr", bytes(token)


def _leaf_rows(session: Session, size: int) -> Iterator[bytes]:
    """`leaf,sequence` and one row per leaf of the log's first `size` leaves."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("leaf", "sequence"))
    for index, event_id, _event_hash, _leaf_hash in log.iter_leaves(session):
        if index >= size:
            break
        writer.writerow((index, event_id))
        if buffer.tell() >= CHUNK_BYTES:
            yield buffer.getvalue().encode("ascii")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("ascii")
