"""Append to and verify the hash-chained audit trail (SPEC §6; the algorithm is in docs/audit.md).

`hash = SHA-256(prev_hash ‖ canonical JSON of the event)`, as lowercase hex. The canonical JSON holds the
fields in `HASHED_FIELDS`, keys sorted, no whitespace, UTF-8 without escaping. Services call `append`;
views and tasks never do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import Row, bindparam, insert, select, update
from sqlalchemy.orm import Session

from ews_cases.audit import personal
from ews_cases.context import current_request_id
from ews_cases.db.engine import TransactionNotes
from ews_cases.models import (
    GLOBAL_CHAIN,
    AuditChainHead,
    AuditEvent,
    Case,
    PersonalValue,
    TeamMember,
    case_chain,
    utcnow,
)
from workflows import Actor

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
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
)
#: Fields of an exported event, in export order: the global sequence, the hashed fields, the two hashes.
RECORD_FIELDS = ("sequence", *HASHED_FIELDS, "prev_hash", "hash")


def jsonable(value: Any) -> Any:
    """Turn a value into JSON made only of objects, arrays, strings, integers, booleans and null.

    Floats are written as strings so that every language serialises the event to the same bytes.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Enum):
        return jsonable(value.value)
    if isinstance(value, float | Decimal):
        return str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    raise TypeError(f"cannot record {type(value).__name__} in the audit trail")


def format_time(moment: datetime) -> str:
    """UTC with microseconds and a `Z`: `2026-11-21T08:04:00.123456Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: `json.dumps` with these arguments, built once: dumps would build the same encoder again for every event.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(event: Mapping[str, Any]) -> bytes:
    """The bytes that are hashed: only `HASHED_FIELDS`, sorted keys, compact separators, UTF-8."""
    return _CANONICAL.encode({name: event[name] for name in HASHED_FIELDS}).encode("utf-8")


def chain_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(event)).hexdigest()


def event_record(event: AuditEvent | Row[Any]) -> dict[str, Any]:
    """An event as exported (JSON Lines) and as hashed: the hashed fields plus id and the two hashes.

    Takes a model object or a row of `audit_events` (whose columns carry the same names)."""
    return {
        "sequence": event.id,
        "chain": event.chain,
        "position": event.position,
        "case_id": event.case_id,
        "cohort": event.cohort_number,
        "occurred_at": format_time(event.occurred_at),
        "actor": event.actor,
        "actor_role": event.actor_role,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "data": event.data,
        "request_id": event.request_id,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


_HEADS = AuditChainHead.__table__
_EVENTS = AuditEvent.__table__
#: Built once: the chain head's position and hash, locked until the transaction ends.
_LOCK_HEAD = (
    select(_HEADS.c.position, _HEADS.c.hash).where(_HEADS.c.chain == bindparam("chain")).with_for_update()
)
_MOVE_HEAD = update(_HEADS).where(_HEADS.c.chain == bindparam("head_chain"))
_INSERT_EVENT = insert(_EVENTS).returning(_EVENTS.c.id)
_VALUES = PersonalValue.__table__
_INSERT_VALUE = insert(_VALUES).returning(_VALUES.c.id)
_TEAM_IDS = (
    select(TeamMember.__table__.c.id)
    .where(TeamMember.__table__.c.case_id == bindparam("case_id"))
    .order_by(TeamMember.__table__.c.slot)
)
#: The actions appended in a session's open transaction (the metrics count the committed ones).
APPENDED = TransactionNotes("ews_audit_appended")


def append(
    session: Session,
    *,
    actor: Actor,
    action: str,
    case: Case | None = None,
    cohort_number: int | None = None,
    from_state: str | None = None,
    to_state: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Append one event to the case's chain (or the global chain) inside the caller's transaction.

    The chain head row is locked first, so concurrent appends to one chain queue up instead of forking.
    Written as plain rows (no ORM object to track and flush: this runs in every change of the system);
    returns the event as `event_record` gives it. Personal values in `data` (`audit.personal`) are stored
    in `personal_values` and the event holds commitments to them.
    """
    chain = case_chain(case.id) if case is not None else GLOBAL_CHAIN
    connection = session.connection()  # Core statements on the session's connection and transaction
    case_id = case.id if case is not None else None
    occurred_at = utcnow()
    payload = commit_personal(connection, action, jsonable(dict(data or {})), case_id, occurred_at)
    head = connection.execute(_LOCK_HEAD, {"chain": chain}).one_or_none()
    position, prev_hash = head if head is not None else (0, GENESIS_HASH)
    record = {
        "chain": chain,
        "position": position + 1,
        "case_id": case.id if case is not None else None,
        "cohort": case.cohort.number if case is not None else cohort_number,
        "occurred_at": format_time(occurred_at),
        "actor": actor.label,
        "actor_role": actor.role.value,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "data": payload,
        "request_id": current_request_id.get(),
    }
    digest = chain_hash(prev_hash, record)
    if head is None:
        connection.execute(insert(_HEADS), {"chain": chain, "position": record["position"], "hash": digest})
    else:
        connection.execute(_MOVE_HEAD, {"head_chain": chain, "position": record["position"], "hash": digest})
    columns = {name: value for name, value in record.items() if name != "cohort"}
    sequence = connection.execute(
        _INSERT_EVENT,
        {
            **columns,
            "cohort_number": record["cohort"],
            "occurred_at": occurred_at,
            "prev_hash": prev_hash,
            "hash": digest,
        },
    ).scalar_one()
    APPENDED.add(session, action)
    return {"sequence": sequence, **record, "prev_hash": prev_hash, "hash": digest}


def commit_personal(
    connection: Any, action: str, data: dict[str, Any], case_id: int | None, now: datetime
) -> dict[str, Any]:
    """`data` with its personal values (`audit.personal`) stored in `personal_values` and replaced by
    commitments, on the appending session's connection (Core rows, as the event itself)."""
    team: list[int] | None = None

    def team_ids() -> list[int]:
        nonlocal team
        if team is None:
            team = list(connection.execute(_TEAM_IDS, {"case_id": case_id}).scalars())
        return team

    def store(new: personal.NewValue) -> int:
        row = {
            "subject_kind": new.subject.kind,
            "subject_id": new.subject.id,
            "case_id": case_id,
            "field": ".".join(new.path)[:200],
            "value": new.value_json,
            "salt": new.salt,
            "created_at": now,
        }
        return int(connection.execute(_INSERT_VALUE, row).scalar_one())

    return personal.commit(action, data, case_id=case_id, team_ids=team_ids, store=store)


# -- verification ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Break:
    """The first event of a chain that does not verify."""

    chain: str
    position: int
    sequence: int | None
    problem: str


@dataclass(slots=True)
class Verification:
    events: int = 0
    chains: int = 0
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "chains": self.chains,
            "first_break": _break_dict(self.breaks[0]) if self.breaks else None,
            "breaks": [_break_dict(b) for b in self.breaks],
        }


def _break_dict(b: Break) -> dict[str, Any]:
    return {"chain": b.chain, "position": b.position, "sequence": b.sequence, "problem": b.problem}


def verify_records(
    records: Iterable[Mapping[str, Any]], heads: Mapping[str, str] | None = None
) -> Verification:
    """Verify exported event records given in chain order (chain, then position); stream-friendly.

    `heads` (chain → last hash), when given, also detects events missing at the end of a chain.
    """
    result = Verification()
    chain: str | None = None
    prev_hash, expected_position, broken = GENESIS_HASH, 1, False
    seen: set[str] = set()

    def close(current: str | None) -> None:
        if current is not None and heads is not None and not broken and heads.get(current) != prev_hash:
            result.breaks.append(
                Break(current, expected_position, None, "events missing at the end of the chain")
            )

    for record in records:
        if record["chain"] != chain:
            close(chain)
            chain = record["chain"]
            if chain in seen:
                result.breaks.append(
                    Break(
                        chain,
                        record["position"],
                        record.get("sequence"),
                        "chain is not contiguous in the input",
                    )
                )
            seen.add(chain)
            result.chains += 1
            prev_hash, expected_position, broken = GENESIS_HASH, 1, False
        result.events += 1
        if broken:
            continue
        problem = _check(record, prev_hash, expected_position)
        if problem:
            result.breaks.append(Break(chain, record["position"], record.get("sequence"), problem))
            broken = True
            continue
        prev_hash, expected_position = record["hash"], expected_position + 1
    close(chain)
    # A head still at the genesis hash (the migration's empty `global` chain) has no events to miss.
    for missing in sorted(c for c in set(heads or ()) - seen if heads[c] != GENESIS_HASH):
        result.breaks.append(Break(missing, 1, None, "chain has a head but no events"))
    return result


def _check(record: Mapping[str, Any], prev_hash: str, expected_position: int) -> str | None:
    if record["position"] != expected_position:
        return f"position {record['position']} where {expected_position} was expected (gap or fork)"
    if record["prev_hash"] != prev_hash:
        return "prev_hash does not match the hash of the previous event"
    try:
        recomputed = chain_hash(prev_hash, record)
    except (TypeError, ValueError, KeyError) as exc:
        return f"event cannot be serialised: {exc}"
    if recomputed != record["hash"]:
        return "hash does not match the event's content"
    return None


def iter_db_records(session: Session, *, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """All events in chain order, streamed in batches (memory does not grow with the table).

    Rows, not model objects: building an `AuditEvent` for each row took a third of the time of a
    verification or an export (bench/audit_scale.py), and a row is always what the database holds (no
    identity map that could hand back an object loaded before the rows were changed).
    """
    stmt = select(AuditEvent.__table__).order_by(AuditEvent.chain, AuditEvent.position)
    for row in session.execute(stmt.execution_options(yield_per=batch)):
        yield event_record(row)


def verify_database(session: Session) -> Verification:
    """Verify every chain in the database, including that no chain lost events at its end, and that every
    personal value still held matches the commitment its event holds (erased ones have nothing to check)."""
    heads = dict(session.execute(select(AuditChainHead.chain, AuditChainHead.hash)).all())
    committed: dict[int, tuple[str, str, int, int | None]] = {}

    def records() -> Iterator[dict[str, Any]]:
        for record in iter_db_records(session):
            for commitment in personal.commitments(record["data"]):
                where = (record["chain"], record["position"], record.get("sequence"))
                committed[commitment[personal.PD_KEY]] = (commitment["sha256"], *where)
            yield record

    result = verify_records(records(), heads)
    _check_commitments(session, committed, result)
    return result


def _check_commitments(
    session: Session, committed: Mapping[int, tuple[str, str, int, int | None]], result: Verification
) -> None:
    """Add a break for the first event of each chain whose personal value changed or vanished."""
    problems: dict[str, Break] = {}
    found: set[int] = set()
    stmt = select(_VALUES.c.id, _VALUES.c.value, _VALUES.c.salt).execution_options(yield_per=5000)
    for value_id, value, salt in session.execute(stmt):
        if value_id not in committed:
            continue
        found.add(value_id)
        sha256, chain, position, sequence = committed[value_id]
        if value is None and salt is None:
            continue  # erased: the commitment stays, there is nothing left to compare
        if value is None or salt is None or personal.commitment_hash(salt, value) != sha256:
            problem = f"personal value {value_id} does not match its commitment"
            _keep_first(problems, Break(chain, position, sequence, problem))
    for value_id in committed.keys() - found:
        sha256, chain, position, sequence = committed[value_id]
        _keep_first(problems, Break(chain, position, sequence, f"personal value {value_id} is missing"))
    broken = {b.chain for b in result.breaks}
    result.breaks.extend(b for chain, b in sorted(problems.items()) if chain not in broken)


def _keep_first(problems: dict[str, Break], found: Break) -> None:
    known = problems.get(found.chain)
    if known is None or found.position < known.position:
        problems[found.chain] = found


def verify_jsonl(lines: Iterable[str | bytes]) -> Verification:
    """Verify a JSON Lines export as written by the export (ordered by chain, then position); streamed."""

    def records() -> Iterator[dict[str, Any]]:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:  # strict UTF-8 (json.loads would let encoded surrogates through), and no nesting beyond parsing
                record = json.loads(line.decode("utf-8") if isinstance(line, bytes) else line)
            except (ValueError, RecursionError) as exc:
                raise MalformedExport(f"line {number} is not JSON: {exc}") from exc
            if (
                not isinstance(record, dict)
                or not {"chain", "position", "hash", "prev_hash"} <= record.keys()
                or not isinstance(record["chain"], str)
            ):
                raise MalformedExport(f"line {number} is not an audit event")
            yield record

    try:
        return verify_records(records())
    except MalformedExport as exc:
        return Verification(breaks=[Break("?", 0, None, str(exc))])


class MalformedExport(ValueError):
    """An export file that is not JSON Lines of audit events."""
