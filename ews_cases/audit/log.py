"""The Merkle log over all audit events, stored incrementally (docs/audit.md §8; the tree is `audit.merkle`).

Events join the log in the order `integrate` takes them in: by id among those committed and not yet taken,
so a transaction that commits after a later id was taken becomes a later leaf (its place in the log is fixed
once taken; checkpoints sign the order). `audit_log_leaves` maps leaf to event; `audit_log_nodes` holds the
perfect subtrees (level 0: the leaf hashes); `audit_log_state` the size, root and last event, and its row
lock serialises integration. Appending costs the leaf plus the perfect nodes it completes (one on average);
a root or proof reads O(log² n) nodes by primary key, never the table.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, exists, insert, select, tuple_, update
from sqlalchemy.orm import Session

from ews_cases.audit import merkle
from ews_cases.models import AuditEvent, AuditLogLeaf, AuditLogNode, AuditLogState, utcnow

STATE_ID = 1
#: Events committed late (their transaction took an id, then committed after later ids were taken) are
#: found among the last `LATE_WINDOW` ids; a transaction that stays open while that many events are
#: appended and taken in by others is found by `integrate(…, full=True)`, which verification runs.
LATE_WINDOW = 100_000
BATCH = 20_000

_EVENTS = AuditEvent.__table__
_LEAVES = AuditLogLeaf.__table__
_NODES = AuditLogNode.__table__
_STATE = AuditLogState.__table__


@dataclass(frozen=True, slots=True)
class TreeHead:
    size: int
    root: bytes

    @property
    def root_hex(self) -> str:
        return self.root.hex()


class StoredNodes:
    """`merkle.NodeSource` over `audit_log_nodes`, with the nodes of a batch and a cache in front."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._known: dict[tuple[int, int], bytes] = {}

    def add(self, level: int, index: int, digest: bytes) -> None:
        self._known[(level, index)] = digest

    def load(self, keys: Iterable[tuple[int, int]]) -> None:
        """Fetch many nodes in one query (those not known yet)."""
        wanted = [key for key in keys if key not in self._known]
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows = self._session.execute(
                select(_NODES.c.level, _NODES.c.index, _NODES.c.hash).where(
                    tuple_(_NODES.c.level, _NODES.c.index).in_(chunk)
                )
            )
            for level, index, digest in rows:
                self._known[(level, index)] = bytes(digest)

    def __call__(self, level: int, index: int) -> bytes:
        key = (level, index)
        if key not in self._known:
            self.load([key])
            if key not in self._known:
                raise LookupError(f"Merkle node {key} is missing from audit_log_nodes")
        return self._known[key]


def head(session: Session) -> TreeHead:
    """The log's size and root as last integrated."""
    row = session.execute(select(_STATE.c.size, _STATE.c.root).where(_STATE.c.id == STATE_ID)).one_or_none()
    if row is None:
        return TreeHead(0, merkle.EMPTY_ROOT)
    return TreeHead(int(row.size), bytes.fromhex(row.root))


def integrate(session: Session, *, limit: int = BATCH, full: bool = False) -> TreeHead:
    """Take up to `limit` committed events not yet in the log into it, in id order; in the caller's transaction.

    `full` also looks for events older than `LATE_WINDOW` ids (a scan of the whole table)."""
    state = session.execute(
        select(_STATE.c.size, _STATE.c.max_event_id).where(_STATE.c.id == STATE_ID).with_for_update()
    ).one()
    size, max_event_id = int(state.size), int(state.max_event_id)
    pending = (
        select(_EVENTS.c.id, _EVENTS.c.hash)
        .where(~exists().where(_LEAVES.c.event_id == _EVENTS.c.id))
        .order_by(_EVENTS.c.id)
        .limit(limit)
    )
    if not full:
        pending = pending.where(_EVENTS.c.id > max_event_id - LATE_WINDOW)
    events = session.execute(pending).all()
    if not events:
        return head(session)
    nodes = StoredNodes(session)
    nodes.load(merkle.frontier(size))
    now = utcnow()
    leaves: list[dict[str, Any]] = []
    added: list[dict[str, Any]] = []
    for event_id, event_hash in events:
        for level, index, digest in merkle.nodes_completed_by(size, merkle.leaf_hash(event_hash), nodes):
            nodes.add(level, index, digest)
            added.append({"level": level, "index": index, "hash": digest})
        leaves.append({"leaf_index": size, "event_id": event_id, "integrated_at": now})
        size += 1
        max_event_id = max(max_event_id, event_id)
    session.execute(insert(_LEAVES), leaves)
    session.execute(insert(_NODES), added)
    new_root = merkle.root(nodes, size)
    session.execute(
        update(_STATE)
        .where(_STATE.c.id == STATE_ID)
        .values(size=size, root=new_root.hex(), max_event_id=max_event_id, updated_at=now)
    )
    return TreeHead(size, new_root)


def integrate_pending(session: Session, *, full: bool = False) -> TreeHead:
    """Integrate in batches until nothing is pending (the caller commits; fine for a CLI or a beat run)."""
    while True:
        before = head(session).size
        after = integrate(session, full=full)
        if after.size - before < BATCH:
            return after


def root_at(session: Session, size: int) -> bytes:
    """The root of the log's first `size` leaves (any size up to the current one)."""
    _check_size(session, size)
    return merkle.root(StoredNodes(session), size)


def inclusion_proof(session: Session, leaf_index: int, size: int) -> list[bytes]:
    _check_size(session, size)
    return merkle.inclusion_proof(StoredNodes(session), leaf_index, size)


def consistency_proof(session: Session, old_size: int, new_size: int) -> list[bytes]:
    _check_size(session, new_size)
    return merkle.consistency_proof(StoredNodes(session), old_size, new_size)


def leaf_of_event(session: Session, event_id: int) -> int | None:
    """The leaf index of an event, or None while it is not yet in the log."""
    return session.execute(
        select(_LEAVES.c.leaf_index).where(_LEAVES.c.event_id == bindparam("event_id")),
        {"event_id": event_id},
    ).scalar_one_or_none()


def event_of_leaf(session: Session, leaf_index: int) -> int | None:
    return session.execute(
        select(_LEAVES.c.event_id).where(_LEAVES.c.leaf_index == leaf_index)
    ).scalar_one_or_none()


def iter_leaves(session: Session, *, batch: int = 5000) -> Iterator[tuple[int, int, str, bytes | None]]:
    """Every leaf in order: (leaf index, event id, the event's stored hash, the stored leaf hash)."""
    stmt = (
        select(_LEAVES.c.leaf_index, _LEAVES.c.event_id, _EVENTS.c.hash, _NODES.c.hash)
        .join(_EVENTS, _EVENTS.c.id == _LEAVES.c.event_id)
        .outerjoin(_NODES, (_NODES.c.level == 0) & (_NODES.c.index == _LEAVES.c.leaf_index))
        .order_by(_LEAVES.c.leaf_index)
    )
    for leaf_index, event_id, event_hash, stored in session.execute(stmt.execution_options(yield_per=batch)):
        yield int(leaf_index), int(event_id), event_hash, bytes(stored) if stored is not None else None


class SizeOutOfRange(ValueError):
    """A tree size beyond the log's current size."""


def _check_size(session: Session, size: int) -> None:
    current = head(session).size
    if not 0 <= size <= current:
        raise SizeOutOfRange(f"the log has {current} leaves; size {size} is out of range")
