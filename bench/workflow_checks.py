"""How long do `may_<transition>` checks take for many cases, and how many machines exist?

    .venv/bin/python bench/workflow_checks.py [N]

Builds N in-memory fact objects (no database: this measures the workflow, not the queries), asks
`may_submit`, `may_admit` and `may_withdraw` of each, and prints the figures.
"""

from __future__ import annotations

import gc
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from transitions import Machine

from workflows import WORKFLOW, Actor, Attempt, Role, WorkflowSubject

NOW = datetime(2027, 6, 1, 12, tzinfo=UTC)


@dataclass
class Facts(WorkflowSubject):
    state: str = "draft"
    municipality_ags: str = "05966012"
    deadline_at: datetime = NOW + timedelta(days=29)
    missing_answers: list[str] = field(default_factory=list)
    team_problems: list[str] = field(default_factory=list)
    consent: bool = True
    cohort_region: str | None = None
    municipality_region: str = "Arnsberg"
    review_count: int = 0
    required_reviews: int = 2
    occupied_places: int = 3
    capacity: int = 10
    starts_on: date | None = date(2027, 9, 1)
    project_status: str | None = None
    min_attendance: float = 0.75
    members_meeting_attendance: int = 0
    certificates_missing: int = 0


def main(n: int) -> None:
    states = ["draft", "submitted", "reviewed", "admitted", "attending"]
    subjects = [Facts(state=states[i % len(states)]) for i in range(n)]
    attempt = Attempt(actor=Actor(role=Role.COORDINATOR, user_id=1), now=NOW)
    started = time.perf_counter()
    allowed = sum(s.may_submit(attempt) + s.may_admit(attempt) + s.may_withdraw(attempt) for s in subjects)
    elapsed = time.perf_counter() - started
    machines = sum(1 for o in gc.get_objects() if isinstance(o, Machine))
    print(f"cases: {n}")
    print(
        f"checks: {3 * n} (allowed {allowed}) in {elapsed * 1000:.0f} ms = {elapsed / (3 * n) * 1e6:.1f} µs/check"
    )
    print(f"Machine instances: {machines}; models registered on it: {len(WORKFLOW.machine.models)}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
