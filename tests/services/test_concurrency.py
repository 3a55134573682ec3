"""Two writers, one case, one expected version: exactly one wins, the chain neither forks nor gaps."""

from __future__ import annotations

import threading

from sqlalchemy import select

from ews_cases.audit import chain
from ews_cases.models import AuditEvent, Case
from workflows import RefusalKind, TransitionRefused

ROUNDS = 200


def _race(database, case_id: int, name: str, actor, version: int) -> list[str]:
    """Both threads fire `name` expecting `version` at the same moment; returns their outcomes."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt() -> None:
        from ews_cases.services.transitions import apply_transition

        if database.is_sqlite:
            # SQLite write transactions take the write lock at BEGIN (see ews_cases/db/engine.py), so a writer
            # waiting at the barrier would block the other thread: the race starts before the read there.
            barrier.wait()
        with database.session(write=True) as session:
            case = session.get(Case, case_id)
            if not database.is_sqlite:
                barrier.wait()  # both hold the same version in memory before either writes
            try:
                reason = "Bitte ergänzen" if name == "return_for_revision" else None
                apply_transition(session, case, name, actor, version, reason)
                session.commit()
                result = "won"
            except TransitionRefused as exc:
                session.rollback()
                result = exc.kind.value
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


def test_two_threads_same_version_200_times_one_wins_each_time(database, session, factory):
    case = factory.case()
    coordinator = factory.coordinator()
    session.commit()
    version = case.version
    for round_number in range(ROUNDS):
        name = "submit" if round_number % 2 == 0 else "return_for_revision"
        outcomes = _race(database, case.id, name, coordinator, version)
        assert outcomes == sorted(["won", RefusalKind.STALE_VERSION.value]), (round_number, outcomes)
        version += 1

    with database.sessionmaker() as check:
        events = check.scalars(
            select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.position)
        ).all()
        transitions = [e for e in events if e.action.startswith("transition.")]
        assert len(transitions) == ROUNDS
        assert [e.position for e in events] == list(range(1, len(events) + 1))  # no gap, no fork
        assert check.get(Case, case.id).version == 1 + ROUNDS
        assert chain.verify_database(check).ok
