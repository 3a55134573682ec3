"""Verify the Merkle log (docs/audit.md §9): the tree recomputed from the events' content, compared with the
stored leaves, the log's state and every signed checkpoint, and the first event that differs.

The per-case chains are verified by `chain.verify_database`, which recomputes every event's hash from its
content. This builds on its result instead of hashing every event a second time: where a chain verifies, each
stored hash *is* the hash of the event's content, so only the events of broken chains, from their first break
on, are hashed again here (`chain.chain_hash`). One pass over the leaves in order (`log.iter_leaves`) feeds a
`merkle.Frontier`, which gives the root at every size a checkpoint names, in O(log n) memory.

Naming the first difference: a leaf whose stored hash (`audit_log_nodes` level 0) differs from its event's
content names the event exactly. An insider who also rewrote the stored leaves and nodes consistently leaves
nothing in the database to compare with; then only signed roots bound it: the difference lies between the
largest checkpoint that still matches and the smallest one that does not (one event when they are one leaf
apart). Signed roots come from checkpoints the auditor holds (`--checkpoint`) and from those the database
stores (`audit_checkpoints`): an insider cannot change those without the signing key, only delete them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Row, exists, func, select
from sqlalchemy.orm import Session

from ews_cases.audit import log, merkle
from ews_cases.audit.anchors import Anchor
from ews_cases.audit.chain import Verification, chain_hash, event_record, verify_database
from ews_cases.models import AuditEvent, AuditLogLeaf, AuditLogState

#: An event not yet in the log is fine while it is newer than the log's last integration (it waits for the
#: next checkpoint); older than that by more than this, it was inserted behind the log's back, or its
#: transaction stayed open that long (then the next `integrate(…, full=True)` takes it in).
LATE_GRACE = timedelta(minutes=10)
#: How many problems of one kind are listed (the first is what matters; the rest are counted).
LISTED = 10
#: Anchor problems that mean the events differ from what was signed (not merely the stored nodes).
SIGNED_ROOT_FAILURES = frozenset({"beyond_log", "root_differs"})
#: The leaf hash used where an event's content is gone: no root containing it can match a signed one.
UNKNOWN_LEAF = bytes(merkle.HASH_SIZE)

_EVENTS = AuditEvent.__table__
_LEAVES = AuditLogLeaf.__table__
_STATE = AuditLogState.__table__


@dataclass(frozen=True, slots=True)
class LeafEvent:
    """A leaf of the log and the event it stands for (`sequence` None: no event there)."""

    leaf: int
    sequence: int | None = None
    chain: str | None = None
    position: int | None = None

    def describe(self, *, now: bool = False) -> str:
        """`leaf 8 (event 9, chain case:1, position 3)`; `now`: the event that is there now (`now event 9`)."""
        if self.sequence is None:
            return f"leaf {self.leaf}"
        where = f", chain {self.chain}, position {self.position}" if self.chain is not None else ""
        return f"leaf {self.leaf} ({'now ' if now else ''}event {self.sequence}{where})"


@dataclass(frozen=True, slots=True)
class LogProblem:
    """One finding; `code` is stable (the pages translate it), `detail` is the command line's English."""

    code: str
    detail: str
    leaf: LeafEvent | None = None
    anchor: Anchor | None = None

    @property
    def message(self) -> str:
        if self.anchor is not None:
            return f"{self.anchor.label}: {self.detail}"
        return f"{self.leaf.describe()}: {self.detail}" if self.leaf is not None else self.detail


@dataclass(frozen=True, slots=True)
class Difference:
    """Where the log first differs from what was signed.

    Known (`bounded` False): a leaf found wrong names its event, which was changed or removed. Bounded:
    nothing stored names one (the log's tables were rebuilt over the rewritten events), so the signed roots
    bound it: from the last checkpoint that matches to the first that does not (one leaf when they are one
    apart); the events named are those there *now*. `cut`: the log ends before a checkpoint's size."""

    first: LeafEvent
    last: LeafEvent
    bounded: bool = False
    cut: bool = False

    @property
    def exact(self) -> bool:
        return self.first.leaf == self.last.leaf

    def describe(self) -> str:
        if self.cut:
            return f"the log ends before leaf {self.first.leaf}; leaves up to {self.last.leaf} are missing"
        if not self.bounded:
            return self.first.describe()
        if self.exact:
            return f"{self.first.describe(now=True)}, not the event the checkpoints signed there"
        return f"between {self.first.describe(now=True)} and {self.last.describe(now=True)}"


@dataclass(slots=True)
class AnchorCheck:
    anchor: Anchor
    problem: LogProblem | None = None

    @property
    def consistent(self) -> bool:
        return self.problem is None


@dataclass(slots=True)
class LogVerification:
    size: int = 0  # leaves, as the log's state says
    root: bytes = merkle.EMPTY_ROOT  # the state's root
    leaves: int = 0  # leaves read from audit_log_leaves
    pending: int = 0  # events not in the log yet, newer than its last integration
    problems: list[LogProblem] = field(default_factory=list)
    anchors: list[AnchorCheck] = field(default_factory=list)
    difference: Difference | None = None

    @property
    def ok(self) -> bool:
        return not self.problems and all(check.consistent for check in self.anchors)


class _Findings:
    """Problems per code: the first `LISTED` kept, all counted; and every leaf found wrong (8 bytes each)."""

    def __init__(self) -> None:
        self.problems: list[LogProblem] = []
        self.counts: dict[str, int] = {}
        self.bad_leaves = array("q")

    def add(self, problem: LogProblem) -> None:
        count = self.counts.get(problem.code, 0) + 1
        self.counts[problem.code] = count
        if count <= LISTED:
            self.problems.append(problem)
        if problem.leaf is not None:
            self.bad_leaves.append(problem.leaf.leaf)

    def earliest_in(self, start: int, end: int) -> int | None:
        return min((leaf for leaf in self.bad_leaves if start <= leaf < end), default=None)

    def summary(self) -> list[LogProblem]:
        more = [
            LogProblem("more", f"{count - LISTED} more of the kind {code!r} not listed")
            for code, count in self.counts.items()
            if count > LISTED
        ]
        return self.problems + more


def verify_log(session: Session, anchors: Sequence[Anchor] = ()) -> tuple[Verification, LogVerification]:
    """Verify every chain (`chain.verify_database`), recompute the log from the events and compare it with
    what is stored and with every signed root in `anchors` (read them first: `anchors.stored_anchors`).

    Reads in this order, so that under READ COMMITTED a later statement only ever sees more of the
    append-only tables: the anchors (by the caller), the log's state, the chains, the leaves up to the
    state's size (leaves integrated meanwhile are left for the next verification)."""
    result = LogVerification()
    state = session.execute(
        select(_STATE.c.size, _STATE.c.root, _STATE.c.max_event_id, _STATE.c.updated_at).where(
            _STATE.c.id == log.STATE_ID
        )
    ).one_or_none()
    chains = verify_database(session)
    findings = _Findings()
    if state is None:
        findings.add(LogProblem("no_state", "the log's state row (audit_log_state) is missing"))
    else:
        result.size, result.root = int(state.size), bytes.fromhex(state.root)
    wanted = {a.size for a in anchors} | {result.size}
    content = _content_hashes(session, chains)
    roots, result.leaves = _recompute(session, content, wanted, result.size, findings)
    for b in chains.breaks:  # an event whose stored hash is not its content's is a leaf known to be wrong
        if b.sequence is not None and not b.problem.startswith("personal value"):
            index = log.leaf_of_event(session, b.sequence)
            if index is not None and index < result.size:
                findings.bad_leaves.append(index)
    if state is not None:
        _check_state(result, roots, findings)
        result.pending = _check_unlogged(session, state, findings)
    # The stored nodes' consistency proof (what the API serves) is checked from each held checkpoint and the
    # newest stored one: one proof per stored checkpoint would cost queries without telling more.
    newest = max((a.size for a in anchors if not a.held), default=None)
    result.anchors = [
        _check_anchor(session, result, anchor, roots, prove=anchor.held or anchor.size == newest)
        for anchor in anchors
    ]
    result.problems = findings.summary()
    result.difference = _difference(result, findings)
    _name_events(session, result)
    return chains, result


def _content_hashes(session: Session, chains: Verification) -> dict[int, bytes | None]:
    """The hash of each event's content, for the events of broken chains from their first break on (None:
    it cannot be serialised); every other event's stored hash is its content's (the chains verified)."""
    hashes: dict[int, bytes | None] = {}
    for b in chains.breaks:
        if b.sequence is None or b.problem.startswith("personal value"):
            continue
        rows = session.execute(
            select(_EVENTS).where(_EVENTS.c.chain == b.chain, _EVENTS.c.position >= b.position)
        )
        for row in rows:
            record = event_record(row)
            try:
                hashes[row.id] = bytes.fromhex(chain_hash(record["prev_hash"], record))
            except (TypeError, ValueError):
                hashes[row.id] = None
    return hashes


def _recompute(
    session: Session, content: dict[int, bytes | None], wanted: Iterable[int], size: int, findings: _Findings
) -> tuple[dict[int, bytes], int]:
    """One pass over the first `size` leaves: the recomputed root at each wanted size the log reaches, and
    the number of leaves read; stored leaves, events and leaf rows that are missing or differ go to
    `findings`."""
    sizes = set(wanted)
    roots = {0: merkle.EMPTY_ROOT} if 0 in sizes else {}
    frontier = merkle.Frontier()
    expected = 0
    for index, event_id, event_hash, stored in log.iter_leaves(session):
        if index >= size:
            break  # taken in after the state was read
        if index != expected:
            findings.add(
                LogProblem(
                    "leaf_gap",
                    f"leaves up to {index - 1} are missing from audit_log_leaves",
                    LeafEvent(expected),
                )
            )
            while frontier.size < index:
                frontier.append(UNKNOWN_LEAF)
                if frontier.size in sizes:
                    roots[frontier.size] = frontier.root()
        leaf = _leaf(index, event_id, event_hash, stored, content, findings)
        frontier.append(leaf)
        expected = index + 1
        if frontier.size in sizes:
            roots[frontier.size] = frontier.root()
    return roots, frontier.size


def _leaf(
    index: int,
    event_id: int,
    event_hash: str | None,
    stored: bytes | None,
    content: dict[int, bytes | None],
    findings: _Findings,
) -> bytes:
    where = LeafEvent(index, event_id)
    if event_hash is None:
        findings.add(LogProblem("event_missing", "the event is missing from audit_events", where))
        return UNKNOWN_LEAF
    digest = content.get(event_id, bytes.fromhex(event_hash))
    if digest is None:
        findings.add(LogProblem("event_unreadable", "the event cannot be serialised", where))
        return UNKNOWN_LEAF
    leaf = merkle.leaf_hash(digest)
    if stored is None:
        findings.add(LogProblem("leaf_missing", "its stored leaf hash is missing", where))
    elif stored != leaf:
        findings.add(
            LogProblem("leaf_differs", "the stored leaf hash differs from the event's content", where)
        )
    return leaf


def _check_state(result: LogVerification, roots: dict[int, bytes], findings: _Findings) -> None:
    if result.leaves != result.size:
        message = f"the log's state counts {result.size} leaves, audit_log_leaves holds {result.leaves}"
        findings.add(LogProblem("size_mismatch", message))
    recomputed = roots.get(result.size)
    if recomputed is not None and recomputed != result.root:
        message = f"the log's stored root at {result.size} leaves differs from the root of the events"
        findings.add(LogProblem("root_mismatch", message))


def _check_unlogged(session: Session, state: Row[Any], findings: _Findings) -> int:
    """Count the events not in the log yet; report those older than its last integration (`LATE_GRACE`)."""
    unlogged = ~exists().where(_LEAVES.c.event_id == _EVENTS.c.id)
    pending = session.scalar(select(func.count()).select_from(_EVENTS).where(unlogged)) or 0
    late = select(_EVENTS.c.id).where(
        unlogged,
        _EVENTS.c.id <= state.max_event_id,
        _EVENTS.c.occurred_at < state.updated_at - LATE_GRACE,
    )
    late_ids = list(session.scalars(late.order_by(_EVENTS.c.id).limit(LISTED)))
    for event_id in late_ids:
        detail = "not in the log, although the log took in later events after it"
        findings.add(LogProblem("not_in_log", f"event {event_id}: {detail}"))
    return pending - len(late_ids)


def _check_anchor(
    session: Session, result: LogVerification, anchor: Anchor, roots: dict[int, bytes], *, prove: bool
) -> AnchorCheck:
    """Whether the log recomputed from the events extends the signed root; and the stored nodes prove it."""
    if anchor.size > result.leaves:
        detail = (
            f"it signs {anchor.size} leaves, the log has {result.leaves}: the log was cut short or replaced"
        )
        return AnchorCheck(anchor, LogProblem("beyond_log", detail, anchor=anchor))
    if roots.get(anchor.size) != anchor.root:
        detail = f"the log's first {anchor.size} leaves no longer have the root it signs"
        return AnchorCheck(anchor, LogProblem("root_differs", detail, anchor=anchor))
    if prove and anchor.size <= result.size <= result.leaves:
        try:
            proof = log.consistency_proof(session, anchor.size, result.size)
            proven = merkle.verify_consistency(anchor.size, result.size, anchor.root, result.root, proof)
        except LookupError:
            proven = False
        if not proven:
            detail = "the stored nodes do not prove the current log consistent with it"
            return AnchorCheck(anchor, LogProblem("unproven", detail, anchor=anchor))
    return AnchorCheck(anchor)


def _difference(result: LogVerification, findings: _Findings) -> Difference | None:
    """The first difference: bounded by the signed roots that match and fail, named by a leaf found wrong."""
    failing = [c.anchor.size for c in result.anchors if c.problem and c.problem.code in SIGNED_ROOT_FAILURES]
    if not failing:
        first = findings.earliest_in(0, max(result.leaves, result.size) + 1)
        return Difference(LeafEvent(first), LeafEvent(first)) if first is not None else None
    end = min(failing)
    start = max((c.anchor.size for c in result.anchors if c.consistent and c.anchor.size < end), default=0)
    known = findings.earliest_in(start, min(end, result.leaves))
    if known is not None:
        return Difference(LeafEvent(known), LeafEvent(known))
    if start >= result.leaves:
        return Difference(LeafEvent(result.leaves), LeafEvent(end - 1), bounded=True, cut=True)
    return Difference(LeafEvent(start), LeafEvent(min(end, result.leaves) - 1), bounded=True)


def _name_events(session: Session, result: LogVerification) -> None:
    """Fill in the event (id, chain, position) of every leaf named in the result."""
    named: set[int] = set()
    for problem in result.problems:
        if problem.leaf is not None:
            named.add(problem.leaf.leaf)
    if result.difference is not None and not result.difference.cut:
        named |= {result.difference.first.leaf, result.difference.last.leaf}
    if not named:
        return
    rows = session.execute(
        select(_LEAVES.c.leaf_index, _LEAVES.c.event_id, _EVENTS.c.chain, _EVENTS.c.position)
        .select_from(_LEAVES.outerjoin(_EVENTS, _EVENTS.c.id == _LEAVES.c.event_id))
        .where(_LEAVES.c.leaf_index.in_(sorted(named)))
    ).all()
    events = {int(r.leaf_index): r for r in rows}

    def named_leaf(leaf: LeafEvent) -> LeafEvent:
        row = events.get(leaf.leaf)
        if row is None:
            return leaf
        if row.chain is None:  # the event is gone; the leaf still names it
            return LeafEvent(leaf.leaf, int(row.event_id))
        return LeafEvent(leaf.leaf, int(row.event_id), row.chain, int(row.position))

    result.problems = [
        replace(p, leaf=named_leaf(p.leaf)) if p.leaf is not None else p for p in result.problems
    ]
    if result.difference is not None and not result.difference.cut:
        d = result.difference
        result.difference = replace(d, first=named_leaf(d.first), last=named_leaf(d.last))
