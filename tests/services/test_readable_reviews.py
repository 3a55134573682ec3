"""Which reviews of a case a person may read: the one rule the review page and the API share."""

from __future__ import annotations

from ews_cases.services.reviews import readable_reviews, record_review
from testkit.factories import BONN, FINNENTROP
from workflows import State

SCORES = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}


def test_reviewers_read_only_their_own_the_office_and_auditors_all_others_none(session, factory):
    cohort = factory.cohort(required_reviews=3)
    case = factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    first, second, silent = (factory.user("reviewer") for _ in range(3))
    given = [
        record_review(session, case, reviewer, scores=SCORES, recommendation="admit")
        for reviewer in (first, second)
    ]
    session.commit()

    assert readable_reviews(session, case, first) == [given[0]]
    assert readable_reviews(session, case, second) == [given[1]]
    assert readable_reviews(session, case, silent) == []
    for role in ("coordinator", "auditor"):
        assert readable_reviews(session, case, factory.user(role)) == given
    for role, ags in (("applicant", FINNENTROP), ("applicant", BONN), ("admin", None)):
        assert readable_reviews(session, case, factory.user(role, ags)) == []


def test_reviews_of_a_case_returned_to_draft_stay_readable_for_the_office(session, factory):
    cohort = factory.cohort(required_reviews=2)
    case = factory.case(cohort, FINNENTROP, state=State.SUBMITTED)
    review = record_review(session, case, factory.user("reviewer"), scores=SCORES, recommendation="reject")
    factory.fire(case, "return_for_revision")
    session.commit()
    assert case.state == State.DRAFT
    assert readable_reviews(session, case, factory.user("coordinator")) == [review]
