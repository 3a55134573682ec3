"""Audit exports as JSON Lines and CSV, produced as a stream of byte chunks (memory stays flat)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy.orm import Session

from ews_cases.audit import iter_db_records

CSV_COLUMNS = (
    "sequence",
    "chain",
    "position",
    "case_id",
    "cohort",
    "occurred_at",
    "actor",
    "actor_role",
    "action",
    "from_state",
    "to_state",
    "data",
    "request_id",
    "prev_hash",
    "hash",
)


def iter_jsonl(session: Session) -> Iterator[bytes]:
    for record in iter_db_records(session):
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def iter_csv(session: Session) -> Iterator[bytes]:
    """CSV with `data` as canonical JSON text, so each row can be re-hashed from the file alone."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in iter_db_records(session):
        row = dict(
            record, data=json.dumps(record["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        )
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def iter_export(session: Session, fmt: str) -> Iterator[bytes]:
    if fmt == "jsonl":
        return iter_jsonl(session)
    if fmt == "csv":
        return iter_csv(session)
    raise ValueError(f"unknown export format {fmt!r}")


def write_export(session: Session, fmt: str, handle: BinaryIO) -> None:
    for chunk in iter_export(session, fmt):
        handle.write(chunk)
