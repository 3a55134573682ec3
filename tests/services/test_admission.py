"""The admission ranking (services/admission.py): who is awaiting the decision, in which order, at which rank."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort, Review
from ews_cases.models.review import CRITERIA
from ews_cases.services import cohorts
from ews_cases.services.admission import (
    RankedCase,
    free_place,
    mean_score,
    next_on_waitlist,
    rank_of,
    ranking,
)
from ews_cases.services.reviews import record_review
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, OLPE_KREIS, SYSTEM, Factory
from workflows import State

ALL_FIVES = dict.fromkeys(CRITERIA, 5)
ALL_FOURS = dict.fromkeys(CRITERIA, 4)
ALL_THREES = dict.fromkeys(CRITERIA, 3)
TWENTY_UNEVENLY = {"need": 5, "strategy": 5, "leadership": 5, "capacity": 5, "network": 0}


def reviewed(factory: Factory, cohort: Cohort, ags: str, *reviews: dict[str, int]) -> Case:
    """A submitted case that becomes `reviewed` with these reviews (one reviewer each)."""
    case = factory.case(cohort, ags, state=State.SUBMITTED)
    for scores in reviews:
        record_review(factory.session, case, factory.user("reviewer"), scores=scores, recommendation="admit")
    assert case.state == State.REVIEWED
    return case


def order(entries: list[RankedCase]) -> list[tuple[str, float | None, int, int]]:
    return [
        (e.case.reference, None if e.score is None else float(e.score), e.reviews, e.rank) for e in entries
    ]


def test_ranking_by_mean_score_then_case_number_and_cases_without_reviews_last(
    session: Session, factory: Factory
) -> None:
    cohort = factory.cohort(capacity=5)
    three = reviewed(factory, cohort, FINNENTROP, ALL_THREES, ALL_THREES)
    best = reviewed(factory, cohort, ATTENDORN, ALL_FIVES, ALL_FOURS)
    tied_three = reviewed(factory, cohort, OLPE_KREIS, ALL_THREES, ALL_THREES)
    unreviewed = reviewed(factory, cohort, DUESSELDORF, ALL_FIVES, ALL_FIVES)
    session.execute(delete(Review).where(Review.case_id == unreviewed.id))  # e.g. reviews taken back
    tied_best = reviewed(factory, cohort, BONN, TWENTY_UNEVENLY, ALL_FIVES)  # 4.0 and 5.0: also 4.5
    factory.fire(tied_best, "waitlist")

    assert order(ranking(session, cohort)) == [
        (best.reference, 4.5, 2, 1),
        (tied_best.reference, 4.5, 2, 2),  # the tie goes to the lower case number
        (three.reference, 3.0, 2, 3),
        (tied_three.reference, 3.0, 2, 4),
        (unreviewed.reference, None, 0, 5),  # without reviews: last, however early its number
    ]


def test_only_reviewed_and_waitlisted_cases_of_the_cohort_are_ranked(
    session: Session, factory: Factory
) -> None:
    cohort = factory.cohort(capacity=5)
    admitted = reviewed(factory, cohort, FINNENTROP, ALL_FIVES, ALL_FIVES)
    factory.fire(admitted, "admit")
    rejected = reviewed(factory, cohort, ATTENDORN, ALL_FIVES, ALL_FIVES)
    factory.fire(rejected, "reject")
    half = factory.case(cohort, OLPE_KREIS, state=State.SUBMITTED)
    record_review(session, half, factory.user("reviewer"), scores=ALL_FIVES, recommendation="admit")
    factory.case(cohort, BONN)  # a draft
    waiting = reviewed(factory, cohort, DUESSELDORF, ALL_THREES, ALL_FOURS)
    other_cohort = factory.cohort()
    reviewed(factory, other_cohort, FINNENTROP, ALL_FIVES, ALL_FIVES)

    assert order(ranking(session, cohort)) == [(waiting.reference, 3.5, 2, 1)]
    assert ranking(session, factory.cohort()) == []


def test_rank_of_one_case_is_its_entry_in_the_cohort_ranking(session: Session, factory: Factory) -> None:
    cohort = factory.cohort(capacity=5)
    second = reviewed(factory, cohort, FINNENTROP, ALL_THREES, ALL_THREES)
    first = reviewed(factory, cohort, ATTENDORN, ALL_FOURS, ALL_FOURS)
    admitted = reviewed(factory, cohort, BONN, ALL_FIVES, ALL_FIVES)
    factory.fire(admitted, "admit")

    entries = {entry.case.id: entry for entry in ranking(session, cohort)}
    assert rank_of(session, first) == entries[first.id]
    assert (rank_of(session, first).rank, rank_of(session, second).rank) == (1, 2)
    assert rank_of(session, admitted) is None


def test_ties_go_to_the_earlier_submission_before_the_case_number(session: Session, factory: Factory) -> None:
    cohort = factory.cohort(capacity=5)
    first_started = factory.case(cohort, FINNENTROP)  # the lower case number …
    later_started = factory.case(cohort, ATTENDORN)
    start = factory.now
    factory.now = start - timedelta(hours=2)
    factory.fire(later_started, "submit")  # … but submitted later
    factory.now = start - timedelta(hours=1)
    factory.fire(first_started, "submit")
    factory.now = start
    for case in (first_started, later_started):
        for _ in range(2):
            record_review(session, case, factory.user("reviewer"), scores=ALL_FOURS, recommendation="admit")

    assert first_started.number < later_started.number
    assert [e.case.id for e in ranking(session, cohort)] == [later_started.id, first_started.id]


def test_the_next_on_the_waitlist_is_the_best_ranked_waitlisted_case(
    session: Session, factory: Factory
) -> None:
    cohort = factory.cohort(capacity=1)
    admitted = reviewed(factory, cohort, FINNENTROP, ALL_THREES, ALL_THREES)
    factory.fire(admitted, "admit")
    assert next_on_waitlist(session, cohort) is None
    undecided = reviewed(factory, cohort, ATTENDORN, ALL_FIVES, ALL_FIVES)  # ranks first, not waitlisted
    weaker = reviewed(factory, cohort, OLPE_KREIS, ALL_THREES, ALL_THREES)
    better = reviewed(factory, cohort, BONN, ALL_FOURS, ALL_FOURS)
    for case in (weaker, better):
        factory.fire(case, "waitlist")

    proposed = next_on_waitlist(session, cohort)
    assert (proposed.case.id, proposed.rank, float(proposed.score)) == (better.id, 2, 4.0)
    assert undecided.state == State.REVIEWED
    assert free_place(session, cohort) is None  # the one place is taken

    factory.fire(admitted, "withdraw")
    place = free_place(session, cohort)
    assert (place.places_left, place.proposed.case.id) == (1, better.id)

    factory.fire(better, "admit")
    assert free_place(session, cohort) is None
    cohorts.update_cohort(session, SYSTEM, cohort, {"capacity": 2})  # a raised capacity frees one again
    assert free_place(session, cohort).proposed.case.id == weaker.id


def test_mean_score_is_the_rankings_figure(session: Session, factory: Factory) -> None:
    cohort = factory.cohort()
    case = reviewed(factory, cohort, FINNENTROP, TWENTY_UNEVENLY, ALL_FIVES)
    assert float(mean_score(session, case)) == float(rank_of(session, case).score) == 4.5
    assert mean_score(session, factory.case(cohort, ATTENDORN)) is None
