"""The admission ranking of a cohort: the cases awaiting the decision, best reviewed first, and who is
proposed for a free place."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Subquery, func, select
from sqlalchemy.orm import Session

from ews_cases.i18n.translate import N_
from ews_cases.models import Case, Cohort, Review
from ews_cases.services.figures import CohortFigures, figures_of
from workflows import State

#: Cases waiting for the admission decision.
AWAITING_ADMISSION = (State.REVIEWED, State.WAITLISTED)
#: The admission rule in the words of the pages and letters (`ranking` applies it).
RANKING_RULE = N_("nach mittlerer Punktzahl, dann Eingangsreihenfolge")


@dataclass(frozen=True, slots=True)
class RankedCase:
    """A case awaiting admission, its mean review score (0–5, None without reviews) and its place (from 1)."""

    case: Case
    score: Decimal | float | None
    reviews: int
    rank: int


@dataclass(frozen=True, slots=True)
class FreePlace:
    """A cohort with places left and a waitlist: the case proposed for the next place."""

    places_left: int
    proposed: RankedCase


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
    """The cohort's reviewed and waitlisted cases in the order of the admission rule (`RANKING_RULE`).

    The rule: mean review score descending, cases without reviews last; ties in the order the applications
    were submitted (`submitted_at`), then by case number. Ranks are 1, 2, 3, … (no ties).
    """
    scores = review_scores()
    rows = session.execute(
        select(Case, scores.c.score, scores.c.reviews)
        .outerjoin(scores, scores.c.case_id == Case.id)
        .where(Case.cohort_id == cohort.id, Case.state.in_([s.value for s in AWAITING_ADMISSION]))
        .order_by(scores.c.score.desc().nulls_last(), Case.submitted_at.asc().nulls_last(), Case.number)
    )
    return [
        RankedCase(case, score, reviews or 0, rank)
        for rank, (case, score, reviews) in enumerate(rows, start=1)
    ]


def rank_of(session: Session, case: Case) -> RankedCase | None:
    """The case's place in its cohort's ranking, or None when it is not awaiting admission."""
    return next((entry for entry in ranking(session, case.cohort) if entry.case.id == case.id), None)


def mean_score(session: Session, case: Case) -> Decimal | float | None:
    """The case's mean review score as the ranking computes it (None without reviews)."""
    scores = review_scores()
    return session.scalar(select(scores.c.score).where(scores.c.case_id == case.id))


def next_on_waitlist(session: Session, cohort: Cohort) -> RankedCase | None:
    """The highest-ranked waitlisted case of the cohort: the one a free place goes to (None: empty list)."""
    return next((e for e in ranking(session, cohort) if e.case.state == State.WAITLISTED), None)


def free_place(session: Session, cohort: Cohort, figures: CohortFigures | None = None) -> FreePlace | None:
    """A free place and the waitlisted case proposed for it, while the cohort has both (after a withdrawal,
    a drop-out or a raised capacity alike: the figures say so, not the event)."""
    figures = figures or figures_of(session, cohort)
    if figures.places_left <= 0:
        return None
    proposed = next_on_waitlist(session, cohort)
    return FreePlace(figures.places_left, proposed) if proposed is not None else None
