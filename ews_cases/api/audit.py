"""Auditor endpoints: the global log with filters, streamed exports and chain verification (SPEC §6)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context

from ews_cases.api.audit_schemas import AuditPage, AuditQuery, ExportQuery, VerificationOut
from ews_cases.api.auth import allow
from ews_cases.api.blueprint import api
from ews_cases.api.downloads import binary_response, media_type
from ews_cases.api.pagination import paginate
from ews_cases.audit import log_report
from ews_cases.audit.chain import event_record
from ews_cases.audit.export import iter_export
from ews_cases.audit.integrity import check_storage
from ews_cases.audit.queries import AuditFilter, select_events, with_personal
from ews_cases.db.request_session import db_session
from ews_cases.models import AuditEvent, utcnow
from ews_cases.settings import current_settings

AUDIT_READERS = ("auditor", "coordinator")
EXPORT_MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv"}


def _filters(query: dict[str, Any]) -> AuditFilter:
    return AuditFilter(
        cohort=query["cohort"],
        case_id=query["case"],
        actor=query["actor"],
        action=query["action"],
        since=query["since"],
        until=query["until"],
    )


@api.get("/audit")
@allow(*AUDIT_READERS)
@api.input(AuditQuery, location="query", arg_name="query")
@api.output(AuditPage)
@api.doc(responses=[403, 422])
def list_audit_events(query: dict[str, Any]) -> dict[str, Any]:
    """The global audit log in sequence order, filtered by cohort, case, actor, action and time
    (`from` inclusive, `to` exclusive)."""
    session = db_session()
    page = paginate(session, select_events(_filters(query)), AuditEvent.id, query, event_record)
    page["items"] = with_personal(session, page["items"])
    return page


def _export_chunks(fmt: str, dialect: str) -> Iterator[bytes]:
    """The export, run while the response streams. Flask tears the request's context down when the view
    returns and sets it up again around the stream, so the DB session must be opened here, inside the
    stream: then the second teardown closes it (ending the read transaction) when the stream ends or the
    client goes away."""
    yield from iter_export(db_session(), fmt, dialect=dialect)


@api.get("/audit/export")
@allow(*AUDIT_READERS)
@api.input(ExportQuery, location="query", arg_name="query")
@api.doc(
    responses={
        200: binary_response(
            "Every audit event ordered by chain and position, streamed; verifiable with `ews audit verify FILE` "
            "or the algorithm in docs/audit.md",
            *EXPORT_MEDIA_TYPES.values(),
        ),
        403: "Forbidden",
        422: "Unknown format",
    }
)
def export_audit(query: dict[str, Any]) -> Response:
    """The full audit trail as JSON Lines or CSV, streamed (memory stays flat for any size).

    CSV comes in two dialects (`dialect`): `rfc4180`, the default for tools (commas, UTF-8 without BOM), and
    `excel-de` for Excel in a German locale (UTF-8 with BOM, semicolons, CRLF).
    """
    fmt = query["format"]
    response = Response(
        stream_with_context(_export_chunks(fmt, query["dialect"])),
        mimetype=media_type(EXPORT_MEDIA_TYPES[fmt]),
    )
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f"attachment; filename=ews-audit-{stamp}.{fmt}"
    return response


@api.get("/audit/verify")
@allow(*AUDIT_READERS)
@api.output(VerificationOut)
@api.doc(responses=[403])
def verify_audit() -> dict[str, Any]:
    """Recompute every hash chain; `ok` is false and `first_break` names the event when one is broken.
    `storage` lists problems with the audit tables' append-only protection; `storage_ok` is false when a
    trigger is missing or disabled."""
    session = db_session()
    storage = check_storage(session)
    report = log_report.verify(session, current_settings())
    return {
        **report.chains.as_dict(),
        "storage_ok": not storage.triggers,
        "storage": storage.problems,
        "log": log_report.summary(report),
    }
