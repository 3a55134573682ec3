"""Attendance register and practice project of a case."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ews_cases.api.auth import allow, current_actor
from ews_cases.api.blueprint import api
from ews_cases.api.cases import load_case
from ews_cases.api.participation_schemas import (
    AttendanceIn,
    AttendanceOut,
    AttendanceRegister,
    ProjectIn,
    ProjectOut,
)
from ews_cases.db.request_session import db_session
from ews_cases.models import Attendance, Case, PracticeProject
from ews_cases.services.participation import attendance_register, record_attendance, update_project


def _attendance_data(record: Attendance) -> dict[str, Any]:
    return {
        "session": record.session_id,
        "member": record.member_id,
        "status": record.status,
        "recorded_at": record.recorded_at,
        "recorded_by": record.recorded_by_id,
    }


@api.get("/cases/<int:case_id>/attendance")
@allow("applicant", "coordinator", "auditor")
@api.output(AttendanceRegister)
@api.doc(responses=[404])
def get_attendance(case_id: int) -> dict[str, Any]:
    """The attendance register: sessions × team members, each member's share of workshops and whether it
    reaches the cohort's `min_attendance`."""
    return attendance_register(db_session(), load_case(case_id))


@api.put("/cases/<int:case_id>/attendance")
@allow("coordinator")
@api.input(AttendanceIn, arg_name="data")
@api.output(AttendanceOut)
@api.doc(responses=[403, 404, 409, 422])
def put_attendance(case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Record one team member's attendance at one session (while the case is attending)."""
    session = db_session()
    case = load_case(case_id)
    record = record_attendance(
        session,
        case,
        current_actor(),
        session_id=data["session"],
        member_id=data["member"],
        status=data["status"],
    )
    session.commit()
    return _attendance_data(record)


def _project_data(case: Case, project: PracticeProject | None) -> dict[str, Any]:
    if project is None:  # nothing saved yet: the project every case starts with
        return {
            "case": case.id,
            "title": "",
            "summary": "",
            "report": "",
            "status": "planned",
            "return_reason": None,
            "updated_at": None,
        }
    return {
        "case": case.id,
        "title": project.title,
        "summary": project.summary,
        "report": project.report,
        "status": project.status,
        "return_reason": project.return_reason,
        "updated_at": project.updated_at,
    }


@api.get("/cases/<int:case_id>/project")
@allow("applicant", "coordinator", "auditor")
@api.output(ProjectOut)
@api.doc(responses=[404])
def get_project(case_id: int) -> dict[str, Any]:
    """The case's practice project (`planned` and empty until somebody saves it)."""
    case = load_case(case_id)
    project = db_session().scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))
    return _project_data(case, project)


@api.put("/cases/<int:case_id>/project")
@allow("applicant", "coordinator")
@api.input(ProjectIn, arg_name="data")
@api.output(ProjectOut)
@api.doc(responses=[403, 404, 409, 422])
def put_project(case_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Edit the practice project and move its status: the team submits, a coordinator approves or returns
    it to `planned` with a `reason`. Fields left out stay as they are."""
    session = db_session()
    case = load_case(case_id)
    project = update_project(
        session,
        case,
        current_actor(),
        title=data["title"],
        summary=data["summary"],
        report=data["report"],
        status=data["status"],
        reason=data["reason"],
    )
    session.commit()
    return _project_data(case, project)
