"""Attendance register and practice project over HTTP: roles, visibility, validation, and the audit trail.

The test session is committed before every request: on SQLite an open transaction holds the write lock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.audit.queries import resolved_data
from ews_cases.models import AuditEvent, case_chain
from ews_cases.services.users import issue_token
from testkit.factories import ATTENDORN, FINNENTROP
from workflows import Actor, State

STATUSES = ("present", "excused", "absent")


# -- helpers (also used by the other API tests) -------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def token_for(session, factory, role: str, ags: str | None = None) -> str:
    """A new user of `role` (bound to `ags`) and an API token for them; committed."""
    user = factory.user(role, ags)
    token = issue_token(session, Actor.system("tests"), user)
    session.commit()
    return token


#: Who the API tests act as: an applicant of Finnentrop (the cases' municipality) and a "stranger", an
#: applicant of Attendorn.
TOKEN_ROLES = {
    "coordinator": ("coordinator", None),
    "auditor": ("auditor", None),
    "applicant": ("applicant", FINNENTROP),
    "stranger": ("applicant", ATTENDORN),
    "reviewer": ("reviewer", None),
    "admin": ("admin", None),
}


def role_tokens(session, factory) -> dict[str, str]:
    """A token for each key of TOKEN_ROLES."""
    return {key: token_for(session, factory, role, ags) for key, (role, ags) in TOKEN_ROLES.items()}


def assert_problem(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    for name in fields:
        assert name in body["errors"], body
    return body


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    return role_tokens(session, factory)


@pytest.fixture
def attending(session, factory):
    """An attending case of Finnentrop in a cohort with four workshops and a Fachtagung."""
    cohort = factory.cohort()
    factory.workshop(cohort, cohort.starts_on, kind="fachtagung")
    workshops = [factory.workshop(cohort, cohort.starts_on + timedelta(days=7 * i)) for i in range(1, 5)]
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    session.commit()
    case.workshops = workshops  # for the tests' convenience
    return case


def put_attendance(client, token: str, case, session_id: int, member_id: int, status: str):
    return client.put(
        f"/api/v1/cases/{case.id}/attendance",
        json={"session": session_id, "member": member_id, "status": status},
        headers=bearer(token),
    )


# -- attendance ----------------------------------------------------------------------------------------


def test_coordinator_records_attendance_and_the_register_shows_shares(client, tokens, attending):
    first, second = attending.team
    workshops = attending.workshops
    response = put_attendance(client, tokens["coordinator"], attending, workshops[0].id, first.id, "present")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("session", "member", "status")} == {
        "session": workshops[0].id,
        "member": first.id,
        "status": "present",
    }
    assert body["recorded_at"].endswith("+00:00")
    for workshop in workshops[1:3]:
        put_attendance(client, tokens["coordinator"], attending, workshop.id, first.id, "present")
    put_attendance(client, tokens["coordinator"], attending, workshops[0].id, second.id, "excused")

    register = client.get(f"/api/v1/cases/{attending.id}/attendance", headers=bearer(tokens["applicant"]))
    assert register.status_code == 200
    data = register.get_json()
    assert data["case"] == attending.id
    assert data["min_attendance"] == 0.75
    assert data["workshops"] == 4
    assert [s["kind"] for s in data["sessions"]] == ["fachtagung"] + ["workshop"] * 4
    assert [s["counts_for_attendance"] for s in data["sessions"]] == [False, True, True, True, True]
    members = {m["id"]: m for m in data["members"]}
    assert members[first.id]["share"] == 0.75
    assert members[first.id]["reaches_min_attendance"] is True
    assert members[second.id]["share"] == 0
    assert members[second.id]["reaches_min_attendance"] is False
    statuses = {e["session"]: e["status"] for e in members[second.id]["attendance"]}
    assert statuses == {s["id"]: None for s in data["sessions"]} | {workshops[0].id: "excused"}
    assert [e["session"] for e in members[first.id]["attendance"]] == [s["id"] for s in data["sessions"]]


def test_changing_attendance_is_audited_once_per_change(client, session, tokens, attending):
    member, workshop = attending.team[0], attending.workshops[0]
    for status in ("absent", "absent", "present"):
        response = put_attendance(client, tokens["coordinator"], attending, workshop.id, member.id, status)
        assert response.status_code == 200
    events = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.chain == case_chain(attending.id), AuditEvent.action == "attendance.recorded")
        .order_by(AuditEvent.position)
    ).all()
    session.commit()
    assert [(e.data["old"], e.data["new"]) for e in events] == [(None, "absent"), ("absent", "present")]


@pytest.mark.parametrize("who", ["auditor", "applicant", "reviewer", "admin"])
def test_only_coordinators_record_attendance(client, tokens, attending, who):
    member, workshop = attending.team[0], attending.workshops[0]
    response = put_attendance(client, tokens[who], attending, workshop.id, member.id, "present")
    assert_problem(response, 403)


def test_attendance_needs_a_token(client, attending):
    response = client.get(f"/api/v1/cases/{attending.id}/attendance")
    assert_problem(response, 401)


@pytest.mark.parametrize(("who", "status"), [("reviewer", 403), ("admin", 403), ("stranger", 404)])
def test_register_is_hidden_from_reviewers_and_other_municipalities(client, tokens, attending, who, status):
    response = client.get(f"/api/v1/cases/{attending.id}/attendance", headers=bearer(tokens[who]))
    assert_problem(response, status)


def test_auditor_reads_the_register(client, tokens, attending):
    response = client.get(f"/api/v1/cases/{attending.id}/attendance", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"session": 1, "member": 1, "status": "late"}, ("status",)),
        ({"member": 1, "status": "present"}, ("session",)),
        ({"session": "eins", "member": 1, "status": "present"}, ("session",)),
        ({}, ("session", "member", "status")),
    ],
)
def test_invalid_attendance_bodies_are_422_with_errors(client, tokens, attending, body, fields):
    response = client.put(
        f"/api/v1/cases/{attending.id}/attendance", json=body, headers=bearer(tokens["coordinator"])
    )
    assert_problem(response, 422, *fields)


def test_members_and_sessions_must_belong_to_the_case(client, session, factory, tokens, attending):
    other_cohort = factory.cohort()
    foreign_session = factory.workshop(other_cohort)
    other_case = factory.case(attending.cohort, ATTENDORN, state=State.ATTENDING)
    session.commit()
    response = put_attendance(
        client,
        tokens["coordinator"],
        attending,
        foreign_session.id,
        other_case.team[0].id,
        "present",
    )
    assert_problem(response, 422, "session", "member")


def test_attendance_outside_attending_is_a_conflict(client, session, factory, tokens, attending):
    draft = factory.case(attending.cohort, ATTENDORN)
    session.commit()
    response = put_attendance(
        client, tokens["coordinator"], draft, attending.workshops[0].id, draft.team[0].id, "present"
    )
    assert_problem(response, 409)


def test_unknown_case_is_404(client, tokens):
    assert_problem(client.get("/api/v1/cases/999999/attendance", headers=bearer(tokens["coordinator"])), 404)


# -- practice project ----------------------------------------------------------------------------------


def project_url(case) -> str:
    return f"/api/v1/cases/{case.id}/project"


def test_project_lifecycle_submitted_by_the_team_and_approved_by_the_coordinator(client, tokens, attending):
    empty = client.get(project_url(attending), headers=bearer(tokens["applicant"]))
    assert empty.status_code == 200
    assert empty.get_json() == {
        "case": attending.id,
        "title": "",
        "summary": "",
        "report": "",
        "status": "planned",
        "return_reason": None,
        "updated_at": None,
    }

    submitted = client.put(
        project_url(attending),
        json={"title": " Engagementlotsen ", "summary": "Lotsen für Vereine.", "status": "submitted"},
        headers=bearer(tokens["applicant"]),
    )
    assert submitted.status_code == 200, submitted.get_json()
    assert submitted.get_json()["title"] == "Engagementlotsen"
    assert submitted.get_json()["status"] == "submitted"

    returned = client.put(
        project_url(attending),
        json={"status": "planned", "reason": "Bitte den Bericht ergänzen."},
        headers=bearer(tokens["coordinator"]),
    )
    assert returned.status_code == 200
    assert returned.get_json()["return_reason"] == "Bitte den Bericht ergänzen."

    client.put(
        project_url(attending),
        json={"report": "Bericht", "status": "submitted"},
        headers=bearer(tokens["applicant"]),
    )
    approved = client.put(
        project_url(attending), json={"status": "approved"}, headers=bearer(tokens["coordinator"])
    )
    assert approved.status_code == 200
    assert approved.get_json()["status"] == "approved"

    late_edit = client.put(project_url(attending), json={"title": "Neu"}, headers=bearer(tokens["applicant"]))
    assert_problem(late_edit, 409)
    seen_by_auditor = client.get(project_url(attending), headers=bearer(tokens["auditor"]))
    assert seen_by_auditor.get_json()["status"] == "approved"
    assert seen_by_auditor.get_json()["report"] == "Bericht"


def test_applicants_cannot_approve_their_own_project(client, tokens, attending):
    client.put(
        project_url(attending),
        json={"title": "T", "summary": "S", "status": "submitted"},
        headers=bearer(tokens["applicant"]),
    )
    response = client.put(
        project_url(attending), json={"status": "approved"}, headers=bearer(tokens["applicant"])
    )
    assert_problem(response, 409)


def test_returning_a_project_needs_a_reason(client, tokens, attending):
    client.put(
        project_url(attending),
        json={"title": "T", "summary": "S", "status": "submitted"},
        headers=bearer(tokens["applicant"]),
    )
    response = client.put(
        project_url(attending), json={"status": "planned"}, headers=bearer(tokens["coordinator"])
    )
    assert_problem(response, 422, "reason")


def test_submitting_needs_title_and_summary(client, tokens, attending):
    response = client.put(
        project_url(attending), json={"status": "submitted"}, headers=bearer(tokens["applicant"])
    )
    assert_problem(response, 422, "title")


@pytest.mark.parametrize(
    ("body", "fields"),
    [({"status": "done"}, ("status",)), ({"title": "x" * 301}, ("title",)), ({"summary": 5}, ("summary",))],
)
def test_invalid_project_bodies_are_422_with_errors(client, tokens, attending, body, fields):
    response = client.put(project_url(attending), json=body, headers=bearer(tokens["coordinator"]))
    assert_problem(response, 422, *fields)


@pytest.mark.parametrize(
    ("who", "method", "status"),
    [
        ("reviewer", "get", 403),
        ("reviewer", "put", 403),
        ("auditor", "put", 403),
        ("admin", "get", 403),
        ("stranger", "get", 404),
        ("stranger", "put", 404),
    ],
)
def test_project_access(client, tokens, attending, who, method, status):
    kwargs = {"json": {"title": "Fremd"}} if method == "put" else {}
    response = getattr(client, method)(project_url(attending), headers=bearer(tokens[who]), **kwargs)
    assert_problem(response, status)


def test_project_changes_are_in_the_case_history(client, session, tokens, attending):
    client.put(project_url(attending), json={"title": "Lotsen"}, headers=bearer(tokens["applicant"]))
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == attending.id, AuditEvent.action == "project.updated")
    ).one()
    session.commit()
    assert resolved_data(session, event.data)["changes"]["title"] == {"old": "", "new": "Lotsen"}
    assert event.actor.startswith("user:")
