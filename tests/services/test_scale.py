"""10,000 cases share one machine; asking `may_<transition>` of all of them is cheap (figure printed)."""

from __future__ import annotations

import gc
import time

from sqlalchemy import insert, select
from sqlalchemy.orm import selectinload
from transitions import Machine

from ews_cases.models import Case, Municipality, TeamMember
from ews_cases.services.facts import CaseSubject
from workflows import WORKFLOW, Attempt

PER_COHORT = 400  # one case per municipality and cohort: 25 cohorts × 400 municipalities
N_CASES = 10_000


def _arrange_drafts(session, factory) -> None:
    """Complete drafts inserted in bulk: this measures the checks, not the writes (tested elsewhere)."""
    municipalities = session.scalars(select(Municipality.ags).order_by(Municipality.ags)).all()[:PER_COHORT]
    for _ in range(N_CASES // PER_COHORT):
        cohort = factory.cohort()
        session.execute(
            insert(Case),
            [
                {
                    "reference": f"EWS{cohort.number}-{n:04d}",
                    "cohort_id": cohort.id,
                    "number": n,
                    "municipality_ags": ags,
                    "state": "draft",
                    "version": 1,
                    "contact_name": "Erika Beispiel",
                    "contact_email": "kontakt@example.org",
                    "motivation": "m",
                    "starting_point": "s",
                    "goals": "g",
                    "leadership_support": "l",
                    "consent": True,
                }
                for n, ags in enumerate(municipalities, start=1)
            ],
        )
        ids = session.scalars(select(Case.id).where(Case.cohort_id == cohort.id)).all()
        session.execute(
            insert(TeamMember),
            [
                {
                    "case_id": case_id,
                    "slot": slot,
                    "name": f"Person {slot}",
                    "email": f"p{slot}@example.org",
                    "position": "Sachbearbeitung",
                }
                for case_id in ids
                for slot in (1, 2)
            ],
        )
    session.commit()


def test_ten_thousand_cases_one_machine_and_fast_may_checks(session, factory, capsys):
    coordinator = factory.coordinator()
    _arrange_drafts(session, factory)

    cases = session.scalars(select(Case).options(selectinload(Case.team))).unique().all()
    assert len(cases) == N_CASES
    subjects = [CaseSubject(session, case) for case in cases]
    attempt = Attempt(actor=coordinator, now=factory.now)

    started = time.perf_counter()
    allowed_submit = sum(1 for s in subjects if s.may_submit(attempt))
    allowed_admit = sum(1 for s in subjects if s.may_admit(attempt))
    allowed_withdraw = sum(1 for s in subjects if s.may_withdraw(attempt))
    elapsed = time.perf_counter() - started

    machines = sum(1 for o in gc.get_objects() if isinstance(o, Machine))
    with capsys.disabled():
        print(
            f"\n[scale] {N_CASES} cases × 3 may_<transition> checks: {elapsed * 1000:.0f} ms "
            f"({elapsed / (3 * N_CASES) * 1e6:.1f} µs per check); Machine instances: {machines}"
        )
    assert machines == 1
    assert WORKFLOW.machine.models == []
    assert allowed_submit == N_CASES  # complete drafts, before the deadline
    assert allowed_admit == 0  # a draft cannot be admitted
    assert allowed_withdraw == N_CASES
