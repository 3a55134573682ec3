"""The admission ranking of a cohort: the cases awaiting the decision, best reviewed first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort, Review
from workflows import State

#: Cases waiting for the admission decision.
AWAITING_ADMISSION = (State.REVIEWED, State.WAITLISTED)


def ranking(session: Session, cohort: Cohort) -> list[tuple[Case, Any, int]]:
    """Reviewed and waitlisted cases with their average review score (0–5) and number of reviews."""
    total = Review.need + Review.strategy + Review.leadership + Review.capacity + Review.network
    scores = (
        select(
            Review.case_id,
            func.avg(total / 5.0).label("score"),
            func.count(Review.id).label("reviews"),
        )
        .group_by(Review.case_id)
        .subquery()
    )
    rows = session.execute(
        select(Case, scores.c.score, scores.c.reviews)
        .outerjoin(scores, scores.c.case_id == Case.id)
        .where(Case.cohort_id == cohort.id, Case.state.in_([s.value for s in AWAITING_ADMISSION]))
        .order_by(scores.c.score.desc().nulls_last(), Case.number)
    )
    return [(case, score, reviews or 0) for case, score, reviews in rows]
