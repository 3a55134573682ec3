"""The admission ranking of a cohort: the cases awaiting the decision, best reviewed first."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort, Review
from workflows import State

#: Cases waiting for the admission decision.
AWAITING_ADMISSION = (State.REVIEWED, State.WAITLISTED)


@dataclass(frozen=True, slots=True)
class RankedCase:
    """A case awaiting admission, its mean review score (0–5, None without reviews) and its place (from 1)."""

    case: Case
    score: Decimal | float | None
    reviews: int
    rank: int


def review_scores() -> Subquery:
    """Per case: `score`, the mean over its reviews of the mean of the five criteria, and `reviews`."""
    total = Review.need + Review.strategy + Review.leadership + Review.capacity + Review.network
    return (
        select(
            Review.case_id,
            func.avg(total / 5.0).label("score"),
            func.count(Review.id).label("reviews"),
        )
        .group_by(Review.case_id)
        .subquery()
    )


def ranking(session: Session, cohort: Cohort) -> list[RankedCase]:
    """The cohort's reviewed and waitlisted cases in the order of the admission rule.

    The rule: mean review score descending, cases without reviews last, ties in order of the case number
    (the `nnnn` of the reference, given when the application was started). Ranks are 1, 2, 3, … (no ties).
    """
    scores = review_scores()
    rows = session.execute(
        select(Case, scores.c.score, scores.c.reviews)
        .outerjoin(scores, scores.c.case_id == Case.id)
        .where(Case.cohort_id == cohort.id, Case.state.in_([s.value for s in AWAITING_ADMISSION]))
        .order_by(scores.c.score.desc().nulls_last(), Case.number)
    )
    return [
        RankedCase(case, score, reviews or 0, rank)
        for rank, (case, score, reviews) in enumerate(rows, start=1)
    ]


def rank_of(session: Session, case: Case) -> RankedCase | None:
    """The case's place in its cohort's ranking, or None when it is not awaiting admission."""
    return next((entry for entry in ranking(session, case.cohort) if entry.case.id == case.id), None)
