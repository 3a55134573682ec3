"""The whole life of a case, over real HTTP only: from the cohort to the certificates and the history.

Only the first admin is arranged in the database; everybody else gets their account and token from the
admin through the API. The certificates come from a worker, whose service function the test runs directly.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta

import pytest

from ews_cases.api.case_schemas import AuditEventOut, HistoryOut
from ews_cases.models import Case
from ews_cases.services.certificates import issue_missing_certificates
from testkit.factories import FINNENTROP
from tests.api.live_server import ApiClient, expect, expect_problem, live_server
from tests.api.test_participation_api import token_for
from workflows import BERLIN, Actor

GENESIS = "0" * 64
#: The hashed fields of an event, as docs/audit.md §1 lists them (deliberately not imported from the code).
HASHED_FIELDS = (
    "chain",
    "position",
    "case_id",
    "cohort",
    "occurred_at",
    "actor",
    "actor_role",
    "action",
    "from_state",
    "to_state",
    "data",
    "request_id",
)
SCORES = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}


def event_hash(prev_hash: str, record: dict) -> str:
    """docs/audit.md §3: SHA-256 over the previous hash and the canonical JSON of the hashed fields."""
    canonical = json.dumps(
        {name: record[name] for name in HASHED_FIELDS},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(prev_hash.encode("ascii") + canonical.encode("utf-8")).hexdigest()


def berlin(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour), BERLIN).isoformat()


@pytest.fixture
def server(app, db):
    with live_server(app) as url:
        yield url


@pytest.fixture
def admin(session, factory, server):
    client = ApiClient(server, token_for(session, factory, "admin"))
    yield client
    client.close()


def new_person(
    admin: ApiClient, server: str, role: str, name: str, ags: str | None = None
) -> tuple[ApiClient, int]:
    """An account created by the admin over the API; a client acting with its first token, and its id."""
    email = f"{name.lower().replace(' ', '.')}@example.org"
    body = expect(
        admin.post("/users", json={"email": email, "name": name, "role": role, "municipality": ags}), 201
    )
    assert (body["role"], bool(body["token"])) == (role, True)
    return ApiClient(server, body["token"]), body["id"]


def fire(client: ApiClient, case: dict, name: str) -> dict:
    """Fire a transition with the version just read; the answer is the case afterwards."""
    current = expect(client.get(f"/cases/{case['id']}"), 200)
    body = expect(
        client.post(
            f"/cases/{case['id']}/transitions",
            json={"name": name, "version": current["version"]},
        ),
        200,
    )
    assert body["version"] == current["version"] + 1
    return body


def test_a_case_lives_from_application_to_certificate_over_http(app, db, server, admin):
    started_at = datetime.now(UTC)
    today = started_at.astimezone(BERLIN).date()
    coordinator, coordinator_id = new_person(admin, server, "coordinator", "Carla Koordination")
    applicant, applicant_id = new_person(admin, server, "applicant", "Anna Antrag", FINNENTROP)
    first_reviewer, first_reviewer_id = new_person(admin, server, "reviewer", "Rita Review")
    second_reviewer, second_reviewer_id = new_person(admin, server, "reviewer", "Rolf Review")
    auditor, _ = new_person(admin, server, "auditor", "Aldo Audit")

    # -- the programme office opens cohort 7: the call runs until a month from now -------------------
    cohort = expect(
        coordinator.post(
            "/cohorts",
            json={
                "number": 7,
                "title": "7. Entwicklungswerkstatt",
                "region": None,
                "applications_open_at": (started_at - timedelta(days=14)).isoformat(),
                "application_deadline": (today + timedelta(days=30)).isoformat(),
                "capacity": 10,
                "team_size": 2,
                "starts_on": (today + timedelta(days=60)).isoformat(),
                "ends_on": (today + timedelta(days=500)).isoformat(),
                "reminder_days": [14, 7, 3, 1],
                "min_attendance": 0.75,
                "required_reviews": 2,
                "ceremony_on": (today + timedelta(days=480)).isoformat(),
                "ceremony_place": "Düsseldorf",
                "signatory_name": "Dr. Sabine Beispiel",
                "signatory_title": "Referatsleiterin",
            },
        ),
        201,
    )
    assert (cohort["number"], cohort["open"]) == (7, True)
    first_day = today + timedelta(days=60)
    schedule = [("fachtagung", "Fachtagung", first_day)] + [
        ("workshop", f"Workshop {n}", first_day + timedelta(days=14 * n)) for n in range(1, 5)
    ]
    for kind, title, day in schedule:
        expect(
            coordinator.post(
                "/cohorts/7/sessions",
                json={
                    "kind": kind,
                    "title": title,
                    "starts_at": berlin(day, 10),
                    "ends_at": berlin(day, 16),
                    "location": "Köln",
                },
            ),
            201,
        )
    sessions = expect(applicant.get("/cohorts/7/sessions"), 200)["items"]
    assert [s["title"] for s in sessions] == [title for _, title, _ in schedule]
    workshops = [s["id"] for s in sessions if s["kind"] == "workshop"]

    # -- Finnentrop applies ------------------------------------------------------------------------------
    case = expect(
        applicant.post(
            "/cases",
            json={
                "cohort": 7,
                "municipality": FINNENTROP,
                "contact": {
                    "name": "Erika Beispiel",
                    "email": "erika@finnentrop.example",
                    "phone": "02721 5120",
                },
                "team": [
                    {"name": "Tom Team", "email": "tom@finnentrop.example", "position": "Ehrenamtsbüro"},
                    {"name": "Tina Team", "email": "tina@finnentrop.example", "position": "Sozialamt"},
                ],
                "answers": {
                    "motivation": "Wir wollen das Engagement in allen Ortsteilen stärken.",
                    "starting_point": "Viele Vereine, wenig Vernetzung.",
                    "goals": "Eine Engagementstrategie bis 2028.",
                    "leadership_support": "Bürgermeister Muster, Verwaltungsleitung",
                },
                "consent": True,
            },
        ),
        201,
    )
    assert case["reference"] == "EWS7-0001"
    assert (case["state"], case["version"]) == ("draft", 1)
    options = expect(applicant.get(f"/cases/{case['id']}/transitions"), 200)
    assert "submit" in [o["name"] for o in options["allowed"]]
    case = fire(applicant, case, "submit")
    assert case["state"] == "submitted"
    assert case["submitted_at"] is not None

    # -- two reviewers; the second review moves the case on by itself -----------------------------------
    review = {"scores": SCORES, "recommendation": "admit", "comment": "Überzeugend."}
    expect(first_reviewer.post(f"/cases/{case['id']}/reviews", json=review), 201)
    assert expect(coordinator.get(f"/cases/{case['id']}"), 200)["state"] == "submitted"
    expect(second_reviewer.post(f"/cases/{case['id']}/reviews", json=review), 201)
    assert expect(coordinator.get(f"/cases/{case['id']}"), 200)["state"] == "reviewed"
    reviews = expect(coordinator.get(f"/cases/{case['id']}/reviews"), 200)
    assert {r["reviewer"] for r in reviews["items"]} == {first_reviewer_id, second_reviewer_id}

    # -- admission; the start waits for the cohort's first day -------------------------------------------
    case = fire(coordinator, case, "admit")
    assert case["state"] == "admitted"
    refused = coordinator.post(
        f"/cases/{case['id']}/transitions", json={"name": "start", "version": case["version"]}
    )
    expect_problem(refused, 422)
    assert expect(coordinator.get(f"/cases/{case['id']}"), 200)["version"] == case["version"]
    expect(
        coordinator.patch(
            "/cohorts/7", json={"application_deadline": today.isoformat(), "starts_on": today.isoformat()}
        ),
        200,
    )
    case = fire(coordinator, case, "start")
    assert case["state"] == "attending"

    # -- attendance and the practice project -------------------------------------------------------------
    members = [m["id"] for m in case["team"]]
    for session_id in workshops:
        for member in members:
            body = expect(
                coordinator.put(
                    f"/cases/{case['id']}/attendance",
                    json={"session": session_id, "member": member, "status": "present"},
                ),
                200,
            )
            assert body["status"] == "present"
    register = expect(applicant.get(f"/cases/{case['id']}/attendance"), 200)
    assert all(m["reaches_min_attendance"] for m in register["members"])
    project = expect(
        applicant.put(
            f"/cases/{case['id']}/project",
            json={
                "title": "Engagementlotsen Finnentrop",
                "summary": "Lotsinnen und Lotsen für neue Ehrenamtliche.",
                "report": "Zwölf Lotsen ausgebildet, drei Vereine beraten.",
                "status": "submitted",
            },
        ),
        200,
    )
    assert project["status"] == "submitted"
    project = expect(coordinator.put(f"/cases/{case['id']}/project", json={"status": "approved"}), 200)
    assert project["status"] == "approved"
    case = fire(coordinator, case, "complete_project")
    assert case["state"] == "project_done"

    # -- the certificate worker (its service function, in one transaction), on the ceremony day ---------
    with app.app_context(), db.transaction() as worker_session:
        stored = worker_session.get(Case, case["id"])
        ceremony = datetime.combine(stored.cohort.ceremony_on, time(10), tzinfo=BERLIN)
        issued = issue_missing_certificates(
            worker_session, stored, Actor.system("issue_certificates"), ceremony
        )
        assert len(issued) == 2
    case = expect(applicant.get(f"/cases/{case['id']}"), 200)
    assert case["state"] == "certified"
    certificates = expect(applicant.get(f"/cases/{case['id']}/certificates"), 200)["items"]
    assert sorted(c["holder_name"] for c in certificates) == ["Tina Team", "Tom Team"]
    for certificate in certificates:
        assert certificate["serial"].startswith(f"EWS7-{ceremony.year}-")  # issued on the ceremony day
        pdf = applicant.get(certificate["pdf_url"])
        assert pdf.status_code == 200
        assert pdf.headers["Content-Type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert hashlib.sha256(pdf.content).hexdigest() == certificate["sha256"]

    # -- the history: every step, who, when, from where to where, and a chain that verifies ------------
    history = expect(auditor.get(f"/cases/{case['id']}/history"), 200)
    assert history["chain_ok"] is True
    # Exactly what the documented schema describes (the view writes the JSON itself, not through the schema).
    assert HistoryOut().dump(history) == history
    assert set(history) == {"items", "chain_ok"}
    assert all(set(e) == set(AuditEventOut().fields) for e in history["items"])
    events = history["items"]
    user = {
        coordinator_id: "coordinator",
        applicant_id: "applicant",
        first_reviewer_id: "reviewer",
        second_reviewer_id: "reviewer",
    }
    steps = [
        (e["action"], e["actor"], e["from_state"], e["to_state"])
        for e in events
        if e["action"].startswith(("case.", "transition.", "review.", "certificate."))
    ]
    assert steps == [
        ("case.created", f"user:{applicant_id}", None, "draft"),
        ("transition.submit", f"user:{applicant_id}", "draft", "submitted"),
        ("review.recorded", f"user:{first_reviewer_id}", None, None),
        ("review.recorded", f"user:{second_reviewer_id}", None, None),
        ("transition.review", "system:record_review", "submitted", "reviewed"),
        ("transition.admit", f"user:{coordinator_id}", "reviewed", "admitted"),
        ("transition.start", f"user:{coordinator_id}", "admitted", "attending"),
        ("transition.complete_project", f"user:{coordinator_id}", "attending", "project_done"),
        ("certificate.issued", "system:issue_certificates", None, None),
        ("certificate.issued", "system:issue_certificates", None, None),
        ("transition.certify", "system:issue_certificates", "project_done", "certified"),
    ]
    actions = [e["action"] for e in events]
    assert actions.count("attendance.recorded") == len(workshops) * len(members)
    assert actions.count("project.updated") == 2
    assert actions.index("transition.start") < actions.index("attendance.recorded")
    assert actions.index("project.updated") < actions.index("transition.complete_project")

    finished_at = datetime.now(UTC)
    prev_hash, previous_time = GENESIS, started_at
    for position, event in enumerate(events, start=1):
        assert (event["chain"], event["position"]) == (f"case:{case['id']}", position)
        assert (event["case_id"], event["cohort"]) == (case["id"], 7)
        moment = datetime.strptime(event["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert previous_time <= moment <= finished_at
        previous_time = moment
        if event["actor"].startswith("user:"):
            assert event["actor_role"] == user[int(event["actor"].removeprefix("user:"))]
            assert event["request_id"], event  # every HTTP request is traceable
        else:
            assert event["actor_role"] == "system"
        assert event["prev_hash"] == prev_hash
        assert event["hash"] == event_hash(prev_hash, event), f"event {position} ({event['action']})"
        prev_hash = event["hash"]
    # The auditor's verification of the whole database agrees.
    assert expect(auditor.get("/audit/verify"), 200)["ok"] is True
