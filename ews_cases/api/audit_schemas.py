"""Request and response schemas of the auditor endpoints (they also make the OpenAPI document)."""

from __future__ import annotations

from apiflask import Schema
from apiflask.validators import Length, OneOf, Range, Regexp

from ews_cases.api.case_schemas import AuditEventOut
from ews_cases.api.fields import AwareDateTime, Boolean, Integer, List, Nested, String
from ews_cases.api.pagination import MAX_ID, PageQuery
from ews_cases.i18n.spreadsheets import CSV_DIALECTS, FOR_TOOLS

EXPORT_FORMATS = ("jsonl", "csv")


class AuditQuery(PageQuery):
    cohort = Integer(load_default=None, validate=Range(1, 10_000), metadata={"description": "cohort number"})
    case = Integer(load_default=None, validate=Range(1, MAX_ID), metadata={"description": "case id"})
    actor = String(
        load_default=None,
        validate=[
            Length(max=80),
            Regexp(r"^(user|system):\S+$", error="Erwartet wird z. B. user:3 oder system:record_review."),
        ],
        metadata={"description": "`user:<id>` or `system:<task>`"},
    )
    action = String(
        load_default=None,
        validate=[
            Length(1, 61),
            Regexp(r"^[A-Za-z0-9_.:-]*\*?$", error="Erwartet wird z. B. transition.admit oder transition.*."),
        ],
        metadata={"description": "exact action, or a prefix ending in `*` (`transition.*`)"},
    )
    since = AwareDateTime(
        data_key="from", load_default=None, metadata={"description": "ISO 8601 with offset, inclusive"}
    )
    until = AwareDateTime(
        data_key="to", load_default=None, metadata={"description": "ISO 8601 with offset, exclusive"}
    )


class AuditPage(Schema):
    items = List(Nested(AuditEventOut))
    next_cursor = String(allow_none=True)


class ExportQuery(Schema):
    format = String(load_default="jsonl", validate=OneOf(EXPORT_FORMATS))
    dialect = String(
        load_default=FOR_TOOLS,
        validate=OneOf(tuple(CSV_DIALECTS)),
        metadata={
            "description": "CSV only. `rfc4180` (default here, for tools): comma-separated UTF-8 without BOM. "
            "`excel-de`: UTF-8 with BOM, `;` separators and CRLF line ends, which Excel in a German locale "
            "opens as it is (the default of the auditors' web pages)."
        },
    )


class BreakOut(Schema):
    chain = String()
    position = Integer()
    sequence = Integer(allow_none=True)
    problem = String()


class LogVerificationOut(Schema):
    ok = Boolean(
        metadata={
            "description": "the Merkle log matches the events and every stored checkpoint (docs/audit.md §9)"
        }
    )
    size = Integer(metadata={"description": "leaves in the log"})
    root = String(metadata={"description": "the log's root, hex"})
    pending = Integer(metadata={"description": "newer events waiting for the next integration"})
    checkpoints = Integer(metadata={"description": "stored checkpoints signed by a known key, checked"})
    checkpoints_consistent = Integer()
    problems = List(String(), metadata={"description": "one line per problem, as `ews audit verify` prints"})
    first_difference = String(
        allow_none=True, metadata={"description": "the first leaf (event) that differs, when one does"}
    )


class VerificationOut(Schema):
    ok = Boolean()
    events = Integer()
    chains = Integer()
    first_break = Nested(BreakOut, allow_none=True)
    breaks = List(Nested(BreakOut))
    storage_ok = Boolean(
        metadata={
            "description": "false when an append-only trigger is missing or disabled (docs/audit.md §6)"
        }
    )
    storage = List(
        String(),
        metadata={
            "description": "Problems with the audit tables' protection: missing or disabled triggers, and "
            "what the application's database role could do to them (superuser, owner, UPDATE/DELETE/TRUNCATE)."
        },
    )
    log = Nested(
        LogVerificationOut,
        metadata={
            "description": "The Merkle log against the events and the stored checkpoints (held ones: CLI)"
        },
    )
