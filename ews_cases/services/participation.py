"""Attendance per session and member, and the practice project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import (
    ATTENDANCE_STATUSES,
    PROJECT_STATUSES,
    Attendance,
    Case,
    CohortSession,
    PracticeProject,
)
from ews_cases.services.eligibility import attendance_shares, eligible_members
from ews_cases.services.locking import lock_case
from workflows import Actor, Permission, Role, permits


def _require_coordinator(actor: Actor) -> None:
    if actor.role is not Role.COORDINATOR:
        raise Forbidden(N_("Nur die Programmleitung darf das ändern."))


def record_attendance(
    session: Session, case: Case, actor: Actor, *, session_id: int, member_id: int, status: str
) -> Attendance:
    """Set one member's attendance at one session (coordinators, while the case is attending)."""
    _require_coordinator(actor)
    case = lock_case(session, case.id)
    if not permits(case.state, Permission.RECORD_ATTENDANCE, actor.role):
        raise Conflict(N_("Anwesenheit wird nur während der Teilnahme erfasst."))
    errors: dict[str, list[str]] = {}
    if status not in ATTENDANCE_STATUSES:
        errors["status"] = [_("Erlaubt sind present, excused und absent.")]
    event = session.get(CohortSession, session_id)
    if event is None or event.cohort_id != case.cohort_id:
        errors["session"] = [_("Diese Veranstaltung gehört nicht zum Durchgang der Bewerbung.")]
    if member_id not in {m.id for m in case.team}:
        errors["member"] = [_("Diese Person gehört nicht zum Entwicklungsteam der Bewerbung.")]
    if errors:
        raise ValidationFailed(errors)
    record = session.scalar(
        select(Attendance).where(Attendance.session_id == session_id, Attendance.member_id == member_id)
    )
    old = record.status if record else None
    if record is None:
        record = Attendance(session_id=session_id, member_id=member_id, status=status)
        session.add(record)
    record.status, record.recorded_by_id = status, actor.user_id
    session.flush()
    if old != status:
        chain.append(
            session,
            actor=actor,
            action="attendance.recorded",
            case=case,
            data={"session": session_id, "member": member_id, "old": old, "new": status},
        )
    return record


def update_project(
    session: Session,
    case: Case,
    actor: Actor,
    *,
    title: str | None = None,
    summary: str | None = None,
    report: str | None = None,
    status: str | None = None,
    reason: str | None = None,
) -> PracticeProject:
    """Edit the practice project (applicants: until approved) and move its status.

    Applicants move planned → submitted; coordinators approve (submitted → approved) or send it back to
    planned with a reason.
    """
    if actor.role not in (Role.APPLICANT, Role.COORDINATOR) or (
        actor.role is Role.APPLICANT and actor.municipality_ags != case.municipality_ags
    ):
        raise Forbidden(N_("Sie dürfen das Praxisprojekt dieser Bewerbung nicht ändern."))
    case = lock_case(session, case.id)
    if not permits(case.state, Permission.EDIT_PROJECT, actor.role):
        raise Conflict(N_("Das Praxisprojekt kann nur während der Teilnahme bearbeitet werden."))
    project = session.scalar(select(PracticeProject).where(PracticeProject.case_id == case.id))
    if project is None:  # added only once something changes, so a refusal leaves no row behind
        project = PracticeProject(case_id=case.id, status="planned", title="", summary="", report="")
    before = {
        "title": project.title,
        "summary": project.summary,
        "report": project.report,
        "status": project.status,
    }
    texts = {"title": title, "summary": summary, "report": report}
    if any(v is not None for v in texts.values()):
        if project.status == "approved":
            raise Conflict(N_("Ein freigegebenes Praxisprojekt kann nicht mehr geändert werden."))
        for key, value in texts.items():
            if value is not None:
                setattr(project, key, value.strip())
    if status is not None and status != project.status:
        _move_project(project, actor, status, reason)
    after = {
        "title": project.title,
        "summary": project.summary,
        "report": project.report,
        "status": project.status,
    }
    changes = {k: {"old": before[k], "new": after[k]} for k in after if before[k] != after[k]}
    if changes:
        if project not in session:
            session.add(project)
        session.flush()
        chain.append(
            session,
            actor=actor,
            action="project.updated",
            case=case,
            data={"changes": changes, "reason": reason.strip() if reason else None},
        )
    return project


_PROJECT_MOVES = {
    ("planned", "submitted"): Role.APPLICANT,
    ("submitted", "approved"): Role.COORDINATOR,
    ("submitted", "planned"): Role.COORDINATOR,
}


def _move_project(project: PracticeProject, actor: Actor, status: str, reason: str | None) -> None:
    if status not in PROJECT_STATUSES:
        raise ValidationFailed({"status": [_("Erlaubt sind planned, submitted und approved.")]})
    allowed_role = _PROJECT_MOVES.get((project.status, status))
    if allowed_role is None or (actor.role is not allowed_role and actor.role is not Role.COORDINATOR):
        raise Conflict(
            N_("Der Status des Praxisprojekts kann nicht von {old} auf {new} wechseln."),
            old=project.status,
            new=status,
        )
    if status == "submitted" and not (project.title.strip() and project.summary.strip()):
        raise ValidationFailed({"title": [_("Titel und Zusammenfassung sind vor dem Einreichen nötig.")]})
    if (project.status, status) == ("submitted", "planned"):
        if not (reason and reason.strip()):
            raise ValidationFailed({"reason": [_("Bitte begründen Sie die Rückgabe.")]})
        project.return_reason = reason.strip()
    project.status = status


def attendance_register(session: Session, case: Case) -> dict[str, Any]:
    """The register of a case: sessions × team members, each member's share of workshops and eligibility."""
    events = session.scalars(
        select(CohortSession)
        .where(CohortSession.cohort_id == case.cohort_id)
        .order_by(CohortSession.starts_at, CohortSession.id)
    ).all()
    member_ids = [m.id for m in case.team]
    recorded = {
        (a.member_id, a.session_id): a.status
        for a in session.scalars(select(Attendance).where(Attendance.member_id.in_(member_ids)))
    }
    shares = attendance_shares(session, case)
    eligible = {m.id for m in eligible_members(session, case)}
    return {
        "case": case.id,
        "min_attendance": case.cohort.min_attendance,
        "workshops": sum(1 for e in events if e.kind == "workshop"),
        "sessions": [
            {
                "id": e.id,
                "kind": e.kind,
                "title": e.title,
                "starts_at": e.starts_at,
                "ends_at": e.ends_at,
                "location": e.location,
                "counts_for_attendance": e.kind == "workshop",
            }
            for e in events
        ],
        "members": [
            {
                "id": m.id,
                "name": m.name,
                "position": m.position,
                "attendance": [{"session": e.id, "status": recorded.get((m.id, e.id))} for e in events],
                "share": shares.get(m.id, 0),
                "reaches_min_attendance": m.id in eligible,
            }
            for m in case.team
        ],
    }
