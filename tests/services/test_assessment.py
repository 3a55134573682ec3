"""The reviews of a case as a whole (services/reviews.py): when reviewers disagree, and who reads the mean,
the disagreement and the rank beside the reviews."""

from __future__ import annotations

import pytest

from ews_cases.models import Review
from ews_cases.services.reviews import SCORE_SPREAD, assessment, disagreement, record_review
from testkit.factories import FINNENTROP
from workflows import State

BASE = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}


def review(recommendation: str = "admit", **scores: int) -> Review:
    return Review(recommendation=recommendation, **{**BASE, **scores})


def test_one_review_cannot_disagree():
    assert not disagreement([])
    assert not disagreement([review("reject", need=0)])


def test_different_recommendations_disagree_in_the_order_given():
    found = disagreement([review("admit"), review("reject"), review("admit"), review("waitlist")])
    assert found
    assert found.recommendations == ("admit", "reject", "waitlist")
    assert dict(found.spreads) == {}


@pytest.mark.parametrize(
    ("second", "spreads"),
    [
        ({"strategy": 3 + SCORE_SPREAD}, {"strategy": SCORE_SPREAD}),  # exactly the spread: disagree
        ({"strategy": 4, "need": 5}, {}),  # one point apart: agree
        ({"need": 0, "network": 5}, {"need": 4, "network": 2}),
    ],
)
def test_criteria_scored_two_or_more_points_apart_disagree(second, spreads):
    found = disagreement([review(), review(**second)])
    assert dict(found.spreads) == spreads
    assert found.recommendations == ()
    assert bool(found) is bool(spreads)


def test_the_whole_assessment_is_for_the_office_and_auditors_a_reviewer_reads_their_own(session, factory):
    cohort = factory.cohort()
    case = factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    first, second = factory.user("reviewer"), factory.user("reviewer")
    record_review(session, case, first, scores=BASE, recommendation="admit", comment="Gut.")
    record_review(session, case, second, scores={**BASE, "need": 1}, recommendation="reject")

    for role in ("coordinator", "auditor"):
        whole = assessment(session, case, factory.user(role))
        assert whole.whole
        assert [(r.reviewer, r.review.comment) for r in whole.reviews] == [
            (first.name, "Gut."),
            (second.name, ""),
        ]
        assert [round(r.mean, 2) for r in whole.reviews] == [3.8, 3.2]
        assert float(whole.mean) == pytest.approx(3.5)
        assert whole.criterion_means["need"] == 2.5
        assert whole.disagreement.recommendations == ("admit", "reject")
        assert dict(whole.disagreement.spreads) == {"need": 3}
        assert whole.rank is not None
        assert whole.rank.rank == 1

    own = assessment(session, case, first)
    assert [r.reviewer for r in own.reviews] == [first.name]
    assert not own.whole
    assert (own.mean, own.rank, bool(own.disagreement)) == (None, None, False)
    applicant = assessment(session, case, factory.user("applicant", FINNENTROP))
    assert (applicant.reviews, applicant.whole) == ([], False)
