"""Audit exports as JSON Lines and CSV, produced as a stream of byte chunks (memory stays flat)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from ews_cases.audit.chain import RECORD_FIELDS, iter_db_records

CSV_COLUMNS = RECORD_FIELDS
Records = Iterable[dict[str, Any]]


def iter_jsonl(records: Records) -> Iterator[bytes]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def iter_csv(records: Records) -> Iterator[bytes]:
    """CSV with `data` as canonical JSON text, so each row can be re-hashed from the file alone."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = dict(
            record, data=json.dumps(record["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        )
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


CHUNK_BYTES = 64 * 1024


def iter_export(session: Session, fmt: str, records: Records | None = None) -> Iterator[bytes]:
    """The export as ~64 KB byte chunks; all events in chain order unless `records` (e.g. filtered) are given."""
    source = records if records is not None else iter_db_records(session)
    if fmt == "jsonl":
        return _joined(iter_jsonl(source))
    if fmt == "csv":
        return _joined(iter_csv(source))
    raise ValueError(f"unknown export format {fmt!r}")


def _joined(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Join small pieces (one line each) so a server or file writes about `CHUNK_BYTES` at a time."""
    pending = bytearray()
    for chunk in chunks:
        pending += chunk
        if len(pending) >= CHUNK_BYTES:
            yield bytes(pending)
            pending.clear()
    if pending:
        yield bytes(pending)


def write_export(session: Session, fmt: str, handle: BinaryIO) -> None:
    for chunk in iter_export(session, fmt):
        handle.write(chunk)
