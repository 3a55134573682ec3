"""Who is eligible for a certificate: attendance shares of the cohort's workshops."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.models import Attendance, Case, CohortSession, TeamMember


def attendance_shares(session: Session, case: Case) -> dict[int, Decimal]:
    """Share of the cohort's workshops each team member attended (present), by member id; a cancelled
    workshop counts for nobody."""
    workshops = (
        session.scalar(
            select(func.count())
            .select_from(CohortSession)
            .where(
                CohortSession.cohort_id == case.cohort_id,
                CohortSession.kind == "workshop",
                CohortSession.cancelled_at.is_(None),
            )
        )
        or 0
    )
    member_ids = [m.id for m in case.team]
    if workshops == 0:
        return dict.fromkeys(member_ids, Decimal(1))
    present = dict(
        session.execute(
            select(Attendance.member_id, func.count())
            .join(CohortSession, CohortSession.id == Attendance.session_id)
            .where(
                Attendance.member_id.in_(member_ids),
                Attendance.status == "present",
                CohortSession.kind == "workshop",
                CohortSession.cancelled_at.is_(None),
            )
            .group_by(Attendance.member_id)
        ).all()
    )
    return {mid: Decimal(present.get(mid, 0)) / Decimal(workshops) for mid in member_ids}


def eligible_members(session: Session, case: Case) -> list[TeamMember]:
    """Team members who reached the cohort's `min_attendance` and so receive a certificate."""
    shares = attendance_shares(session, case)
    minimum = Decimal(case.cohort.min_attendance)
    return [m for m in case.team if shares.get(m.id, Decimal(0)) >= minimum]
