"""Filtered reads of the audit trail (SPEC §6): the global log by cohort, case, actor, action and time.

The API and the auditor pages build their queries here; `ews_cases.audit.chain` appends and verifies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, select
from sqlalchemy.orm import Session

from ews_cases.audit import personal
from ews_cases.audit.chain import event_record, format_time
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import AuditEvent, PersonalValue

WILDCARD = "*"
_LIKE_ESCAPE = "\\"


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to keep; `None` keeps everything. `since` is inclusive, `until` exclusive (both aware).

    `action` is an exact action (`transition.admit`) or a prefix ending in `*` (`transition.*`).
    """

    cohort: int | None = None
    case_id: int | None = None
    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        errors: dict[str, list[str]] = {}
        for name, moment in (("from", self.since), ("to", self.until)):
            if moment is not None and moment.tzinfo is None:
                errors[name] = [_("Bitte geben Sie die Zeit mit Zeitzone an (ISO 8601).")]
        if not errors and self.since is not None and self.until is not None and self.since > self.until:
            errors["to"] = [_("„bis“ muss nach „von“ liegen.")]
        if self.action is not None and WILDCARD in self.action.removesuffix(WILDCARD):
            errors["action"] = [_("Ein * ist nur am Ende erlaubt (z. B. transition.*).")]
        if errors:
            raise ValidationFailed(errors)


def _escape_like(text: str) -> str:
    return text.replace(_LIKE_ESCAPE, _LIKE_ESCAPE * 2).replace("%", "\\%").replace("_", "\\_")


def action_condition(action: str) -> ColumnElement[bool]:
    """Exact match, or a prefix match for `prefix*` (LIKE wildcards in the prefix are taken literally)."""
    if action.endswith(WILDCARD):
        return AuditEvent.action.like(_escape_like(action[:-1]) + "%", escape=_LIKE_ESCAPE)
    return AuditEvent.action == action


def conditions(filters: AuditFilter) -> list[ColumnElement[bool]]:
    """The filter as SQL conditions on `AuditEvent`."""
    where: list[ColumnElement[bool]] = []
    if filters.cohort is not None:
        where.append(AuditEvent.cohort_number == filters.cohort)
    if filters.case_id is not None:
        where.append(AuditEvent.case_id == filters.case_id)
    if filters.actor is not None:
        where.append(AuditEvent.actor == filters.actor)
    if filters.action is not None and filters.action != WILDCARD:
        where.append(action_condition(filters.action))
    if filters.since is not None:
        where.append(AuditEvent.occurred_at >= filters.since)
    if filters.until is not None:
        where.append(AuditEvent.occurred_at < filters.until)
    return where


def select_events(filters: AuditFilter) -> Select[tuple[AuditEvent]]:
    """Events matching `filters`, unordered: callers order by id (pages) or by chain and position (exports)."""
    return select(AuditEvent).where(*conditions(filters))


def iter_records(session: Session, filters: AuditFilter, *, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Matching events as export records in chain order (chain, then position), streamed in batches.

    A filter that keeps whole chains (e.g. one case) gives records `audit.verify_records` can check.
    Rows rather than model objects, as in `audit.iter_db_records`: faster, memory stays flat, and what is
    checked is what the database holds, never an object the session loaded earlier.
    """
    stmt = (
        select(AuditEvent.__table__)
        .where(*conditions(filters))
        .order_by(AuditEvent.chain, AuditEvent.position)
        .execution_options(yield_per=batch)
    )
    for row in session.execute(stmt):
        yield event_record(row)


_EVENTS = AuditEvent.__table__
#: Built once: one case's events in chain order, read along the (case_id, position) index.
_CASE_HISTORY = select(_EVENTS).where(_EVENTS.c.case_id == bindparam("case_id")).order_by(_EVENTS.c.position)


def case_history(session: Session, case_id: int) -> list[dict[str, Any]]:
    """One case's events as export records, oldest first (a whole chain: `audit.verify_records` checks it).

    One plain query on the session's connection: a case has tens of events, and the API answers with all.
    """
    rows = session.connection().execute(_CASE_HISTORY, {"case_id": case_id})
    return [event_record(row) for row in rows]


# -- personal values ---------------------------------------------------------------------------------------

_VALUES = PersonalValue.__table__


def held_values(session: Session, datas: Iterable[Any]) -> dict[int, personal.Held]:
    """What `personal_values` holds for every commitment inside the given event `data`s, in one query per
    thousand ids."""
    ids = sorted({c[personal.PD_KEY] for data in datas for c in personal.commitments(data)})
    held: dict[int, personal.Held] = {}
    for start in range(0, len(ids), 1000):
        stmt = select(
            _VALUES.c.id,
            _VALUES.c.value,
            _VALUES.c.salt,
            _VALUES.c.erased_at,
            _VALUES.c.erasure_category,
            _VALUES.c.erasure_reason,
        ).where(_VALUES.c.id.in_(ids[start : start + 1000]))
        for row in session.connection().execute(stmt):
            held[row.id] = personal.Held(*row)
    return held


def personal_record(entry: personal.Held | None) -> dict[str, Any]:
    """One commitment as the API shows it beside the event: value and salt (check: SHA-256 of the salt's
    bytes ‖ canonical JSON of the value equals the commitment's `sha256`), or when and why it was erased."""
    if entry is None:
        return {"erased": True, "erased_at": None, "category": None, "reason": None}
    if entry.erased:
        return {
            "erased": True,
            "erased_at": format_time(entry.erased_at) if entry.erased_at else None,
            "category": entry.erasure_category,
            "reason": entry.erasure_reason,
        }
    return {"erased": False, "value": json.loads(entry.value or "null"), "salt": entry.salt}


def with_personal(session: Session, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each record with `personal`: its commitments' ids → `personal_record` (for readers who may see them);
    `data` stays as hashed, so the records still verify."""
    held = held_values(session, (r["data"] for r in records))
    for record in records:
        record["personal"] = {
            str(c[personal.PD_KEY]): personal_record(held.get(c[personal.PD_KEY]))
            for c in personal.commitments(record["data"])
        }
    return records


def resolved_data(session: Session, data: Any) -> Any:
    """An event's `data` as readers see it: each commitment replaced by its value (None once erased)."""
    return personal.resolve(data, held_values(session, [data]), lambda _entry: None)
