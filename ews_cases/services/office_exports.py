"""What the programme office exports to spreadsheets: the case list and a cohort's attendance register.

The figures come from where they are defined (mean score and rank: `services.admission`; shares and who
reaches the minimum: `services.participation.attendance_register`); the pages turn them into CSV or XLSX.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort, CohortSession
from ews_cases.services.admission import ranking, review_scores
from ews_cases.services.case_search import CaseFilter, case_conditions
from ews_cases.services.participation import attendance_register
from workflows import State

#: Cases whose team takes part (or took part) in the sessions: they have an attendance register.
PARTICIPATING = (State.ATTENDING, State.PROJECT_DONE, State.CERTIFIED, State.DROPPED_OUT)


@dataclass(frozen=True, slots=True)
class CaseRow:
    case: Case
    mean_score: Decimal | float | None
    reviews: int
    rank: int | None  # place in the admission ranking while awaiting admission


def case_list(session: Session, filters: CaseFilter) -> list[CaseRow]:
    """Every case matching `filters` (cohort, state, text), newest cohort first, with score and rank."""
    scores = review_scores()
    rows = session.execute(
        select(Case, scores.c.score, scores.c.reviews)
        .join(Cohort, Cohort.id == Case.cohort_id)
        .outerjoin(scores, scores.c.case_id == Case.id)
        .where(*case_conditions(filters))
        .order_by(Cohort.number.desc(), Case.number)
    ).all()
    ranks: dict[int, int] = {}
    for cohort in {case.cohort for case, _score, _reviews in rows}:
        ranks.update({entry.case.id: entry.rank for entry in ranking(session, cohort)})
    return [CaseRow(case, score, reviews or 0, ranks.get(case.id)) for case, score, reviews in rows]


@dataclass(frozen=True, slots=True)
class AttendanceRow:
    case: Case
    member_name: str
    position: str | None
    statuses: list[str | None]  # per session of `AttendanceSheet.sessions`
    share: Decimal | float
    reaches_min_attendance: bool


@dataclass(frozen=True, slots=True)
class AttendanceSheet:
    cohort: Cohort
    sessions: list[CohortSession]
    rows: list[AttendanceRow]


def attendance_sheet(session: Session, cohort: Cohort) -> AttendanceSheet:
    """The cohort's attendance register: one row per team member of every participating case."""
    events = session.scalars(
        select(CohortSession)
        .where(CohortSession.cohort_id == cohort.id)
        .order_by(CohortSession.starts_at, CohortSession.id)
    ).all()
    cases = session.scalars(
        select(Case)
        .where(Case.cohort_id == cohort.id, Case.state.in_([s.value for s in PARTICIPATING]))
        .order_by(Case.number)
    ).all()
    rows = []
    for case in cases:
        register = attendance_register(session, case)
        for member in register["members"]:
            by_session = {a["session"]: a["status"] for a in member["attendance"]}
            rows.append(
                AttendanceRow(
                    case,
                    member["name"],
                    member["position"],
                    [by_session.get(e.id) for e in events],
                    member["share"],
                    member["reaches_min_attendance"],
                )
            )
    return AttendanceSheet(cohort, list(events), rows)
