"""Audit exports as JSON Lines and CSV, produced as a stream of byte chunks (memory stays flat)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from ews_cases.audit.chain import RECORD_FIELDS, iter_db_records
from ews_cases.i18n.spreadsheets import FOR_TOOLS, iter_csv_rows

CSV_COLUMNS = RECORD_FIELDS
Records = Iterable[dict[str, Any]]


def iter_jsonl(records: Records) -> Iterator[bytes]:
    for record in records:
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def iter_csv(records: Records, dialect: str = FOR_TOOLS) -> Iterator[bytes]:
    """CSV with `data` as canonical JSON text, so each row can be re-hashed from the file alone; `dialect`
    `rfc4180` (commas, for tools) or `excel-de` (BOM and semicolons, for Excel in a German locale)."""

    def rows() -> Iterator[list[Any]]:
        yield list(CSV_COLUMNS)
        for record in records:
            row = dict(
                record,
                data=json.dumps(record["data"], sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            )
            yield ["" if row[c] is None else row[c] for c in CSV_COLUMNS]

    return iter_csv_rows(rows(), dialect)


CHUNK_BYTES = 64 * 1024


def iter_export(
    session: Session, fmt: str, records: Records | None = None, *, dialect: str = FOR_TOOLS
) -> Iterator[bytes]:
    """The export as ~64 KB byte chunks; all events in chain order unless `records` (e.g. filtered) are given.
    `dialect` applies to CSV (`ews_cases.i18n.spreadsheets.CSV_DIALECTS`)."""
    source = records if records is not None else iter_db_records(session)
    if fmt == "jsonl":
        return _joined(iter_jsonl(source))
    if fmt == "csv":
        return _joined(iter_csv(source, dialect))
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


def write_export(session: Session, fmt: str, handle: BinaryIO, *, dialect: str = FOR_TOOLS) -> None:
    for chunk in iter_export(session, fmt, dialect=dialect):
        handle.write(chunk)
