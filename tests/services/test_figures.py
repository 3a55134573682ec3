"""The derived figures of a cohort, each defined once: days until the deadline, places left, cases per state."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from ews_cases.models import Cohort

SUMMER, WINTER = date(2027, 6, 30), date(2027, 1, 15)


@pytest.mark.parametrize(
    ("deadline", "moment", "days"),
    [
        (SUMMER, datetime(2027, 6, 1, 7, 0, tzinfo=UTC), 29),
        (SUMMER, datetime(2027, 6, 29, 21, 59, tzinfo=UTC), 1),  # 23:59 in Berlin (CEST)
        (SUMMER, datetime(2027, 6, 29, 22, 0, tzinfo=UTC), 0),  # midnight in Berlin: the last day
        (SUMMER, datetime(2027, 6, 30, 21, 59, 59, 999_999, tzinfo=UTC), 0),  # the deadline itself
        (SUMMER, datetime(2027, 6, 30, 22, 0, tzinfo=UTC), -1),
        (WINTER, datetime(2027, 1, 15, 22, 59, tzinfo=UTC), 0),  # 23:59 in Berlin (CET)
        (WINTER, datetime(2027, 1, 15, 23, 0, tzinfo=UTC), -1),
        (WINTER, datetime(2027, 2, 1, 12, 0, tzinfo=UTC), -17),
    ],
)
def test_days_until_deadline_counts_berlin_days_and_turns_negative_exactly_after_the_deadline(
    deadline: date, moment: datetime, days: int
) -> None:
    cohort = Cohort(application_deadline=deadline)
    assert cohort.days_until_deadline(moment) == days
    assert (days < 0) is (moment > cohort.deadline_at)
