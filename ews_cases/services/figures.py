"""A cohort's cases per state and places left, defined once for the dashboard, the API and the admit guard.

One query shape serves one cohort and a page of cohorts: cases grouped by cohort and state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort
from workflows import OCCUPYING_STATES, State


@dataclass(frozen=True, slots=True)
class CohortFigures:
    """The cases of one cohort per state (every state, zero when empty) against its capacity."""

    capacity: int
    case_counts: Mapping[str, int]

    @property
    def occupied(self) -> int:
        """Cases holding a place: those in `workflows.OCCUPYING_STATES` (admitted or attending)."""
        return sum(self.case_counts[state.value] for state in OCCUPYING_STATES)

    @property
    def places_left(self) -> int:
        """Capacity minus the occupied places, never below zero; `admit` is allowed while it is above zero."""
        return max(self.capacity - self.occupied, 0)


def cohort_figures(session: Session, cohorts: Sequence[Cohort]) -> list[CohortFigures]:
    """The figures of each cohort, in the order given, from one query."""
    counts = {cohort.id: dict.fromkeys((state.value for state in State), 0) for cohort in cohorts}
    if counts:
        rows = session.execute(
            select(Case.cohort_id, Case.state, func.count(Case.id))
            .where(Case.cohort_id.in_(counts))
            .group_by(Case.cohort_id, Case.state)
        )
        for cohort_id, state, count in rows:
            counts[cohort_id][state] = count
    return [CohortFigures(cohort.capacity, counts[cohort.id]) for cohort in cohorts]


def figures_of(session: Session, cohort: Cohort) -> CohortFigures:
    """The figures of one cohort."""
    return cohort_figures(session, [cohort])[0]
