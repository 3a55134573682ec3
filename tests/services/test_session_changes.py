"""A cancelled workshop no longer counts for the minimum attendance (nobody could attend it)."""

from __future__ import annotations

from decimal import Decimal

from ews_cases.services.eligibility import attendance_shares
from ews_cases.services.participation import record_attendance
from ews_cases.services.session_changes import cancel_session
from testkit.factories import FINNENTROP
from workflows import State


def test_a_cancelled_workshop_counts_for_nobody(session, factory):
    cohort = factory.cohort()
    held = factory.workshop(cohort)
    called_off = factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    first, second = case.team
    office = factory.coordinator()
    record_attendance(session, case, office, session_id=held.id, member_id=first.id, status="present")
    assert attendance_shares(session, case) == {first.id: Decimal("0.5"), second.id: Decimal(0)}
    cancel_session(session, office, called_off, reason="Die Referentin ist erkrankt.")
    assert attendance_shares(session, case) == {first.id: Decimal(1), second.id: Decimal(0)}
