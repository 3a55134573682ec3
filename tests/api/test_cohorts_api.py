"""Cohorts and sessions over HTTP: roles, the SPEC §7 body, validation, audit, pagination.

The test session is committed before every request: on SQLite an open transaction holds the write lock.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.models import AuditEvent, Cohort, OutboxMessage
from testkit.factories import ATTENDORN, FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, token_for
from workflows import State

SPEC_BODY = {
    "number": 7,
    "title": "7. Entwicklungswerkstatt",
    "region": None,
    "applications_open_at": "2027-03-01T00:00:00+01:00",
    "application_deadline": "2027-06-30",
    "capacity": 10,
    "team_size": 2,
    "starts_on": "2027-09-01",
    "ends_on": "2028-12-31",
    "reminder_days": [14, 7, 3, 1],
    "min_attendance": 0.75,
    "required_reviews": 2,
    "ceremony_on": "2028-11-20",
    "ceremony_place": "Düsseldorf",
    "signatory_name": "Dr. Maria Muster",
    "signatory_title": "Abteilungsleiterin",
}
SESSION_BODY = {
    "kind": "workshop",
    "title": "Workshop 1",
    "starts_at": "2027-09-15T10:00:00+02:00",
    "ends_at": "2027-09-15T16:00:00+02:00",
    "location": "Köln",
}
ROLES = ("coordinator", "auditor", "applicant", "reviewer", "admin")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    return {
        role: token_for(session, factory, role, FINNENTROP if role == "applicant" else None) for role in ROLES
    }


def post_cohort(client, token: str, **changes):
    return client.post("/api/v1/cohorts", json={**SPEC_BODY, **changes}, headers=bearer(token))


def assert_invalid(response, field: str) -> list[str]:
    """A 422 problem whose `errors` name `field` (or an item of it, like `reminder_days.0`)."""
    errors = assert_problem(response, 422)["errors"]
    messages = [
        m for key, msgs in errors.items() if key == field or key.startswith(field + ".") for m in msgs
    ]
    assert messages, errors
    return messages


def events(session, action: str) -> list[AuditEvent]:
    found = session.scalars(
        select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    ).all()
    session.commit()
    return list(found)


# -- create --------------------------------------------------------------------------------------------


def test_coordinator_creates_the_spec_example_cohort(client, session, tokens):
    response = post_cohort(client, tokens["coordinator"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    for name in ("number", "title", "region", "capacity", "team_size", "reminder_days", "required_reviews"):
        assert body[name] == SPEC_BODY[name]
    for name in ("application_deadline", "starts_on", "ends_on", "ceremony_on", "ceremony_place"):
        assert body[name] == SPEC_BODY[name]
    assert body["min_attendance"] == 0.75
    assert isinstance(body["min_attendance"], float)
    assert body["funding_eur"] is None
    assert body["applications_open_at"] == "2027-02-28T23:00:00+00:00"
    assert body["deadline_at"].startswith("2027-06-30T23:59:59")
    assert body["deadline_at"].endswith("+02:00")
    assert body["open"] is False
    assert body["case_counts"] == {state.value: 0 for state in State}
    assert body["places_left"] == 10
    assert body["created_at"].endswith("+00:00")

    (event,) = events(session, "cohort.created")
    assert event.cohort_number == 7
    assert event.actor.startswith("user:")


def test_defaults_apply_and_funding_is_a_number(client, tokens):
    minimal = {
        "number": 8,
        "title": "8. EWS",
        "application_deadline": "2028-06-30",
        "funding_eur": "130000.00",
    }
    response = client.post("/api/v1/cohorts", json=minimal, headers=bearer(tokens["coordinator"]))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["capacity"], body["team_size"], body["required_reviews"]) == (10, 2, 2)
    assert body["reminder_days"] == [14, 7, 3, 1]
    assert body["min_attendance"] == 0.75
    assert body["funding_eur"] == 130000.0
    assert body["region"] is None
    assert body["starts_on"] is None


def test_a_second_cohort_with_the_same_number_is_a_conflict(client, tokens):
    assert post_cohort(client, tokens["coordinator"]).status_code == 201
    body = assert_problem(post_cohort(client, tokens["coordinator"], title="Doppelt"), 409)
    assert body["detail"] == "Den Durchgang 7 gibt es bereits."


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ends_on": "2027-08-01"}, "ends_on"),
        ({"starts_on": "2027-06-01", "ends_on": "2027-12-31"}, "starts_on"),
        ({"applications_open_at": "2027-07-01T00:00:00+02:00"}, "applications_open_at"),
        ({"region": "Oberbayern"}, "region"),
        ({"min_attendance": 1.5}, "min_attendance"),
        ({"min_attendance": -0.1}, "min_attendance"),
        ({"reminder_days": [14, 0]}, "reminder_days"),
        ({"reminder_days": [-3]}, "reminder_days"),
        ({"reminder_days": [1.5]}, "reminder_days"),
        ({"reminder_days": ["7"]}, "reminder_days"),
        ({"reminder_days": [True]}, "reminder_days"),
        ({"capacity": 0}, "capacity"),
        ({"applications_open_at": "2027-03-01T00:00:00"}, "applications_open_at"),
        ({"application_deadline": "30.06.2027"}, "application_deadline"),
        ({"number": 0}, "number"),
        ({"title": ""}, "title"),
        ({"colour": "blau"}, "colour"),
    ],
)
def test_invalid_cohorts_are_422_with_the_field(client, session, tokens, changes, field):
    assert_invalid(post_cohort(client, tokens["coordinator"], **changes), field)
    assert session.scalar(select(Cohort.id)) is None
    session.commit()


def test_region_must_be_a_regierungsbezirk_and_the_message_says_which(client, tokens):
    (message,) = assert_invalid(post_cohort(client, tokens["coordinator"], region="Bayern"), "region")
    assert message.startswith("Unbekannter Regierungsbezirk")
    assert "Arnsberg" in message
    ok = post_cohort(client, tokens["coordinator"], region="Arnsberg")
    assert ok.status_code == 201
    assert ok.get_json()["region"] == "Arnsberg"


@pytest.mark.parametrize("role", ["auditor", "applicant", "reviewer", "admin"])
def test_only_coordinators_create_cohorts(client, tokens, role):
    body = assert_problem(post_cohort(client, tokens[role]), 403)
    assert body["detail"] == "Dafür fehlt Ihnen die Berechtigung."


def test_cohorts_need_a_token(client):
    assert_problem(client.get("/api/v1/cohorts"), 401)
    assert_problem(client.post("/api/v1/cohorts", json=SPEC_BODY), 401)
    assert_problem(client.get("/api/v1/cohorts/7", headers=bearer("not-a-token")), 401)


# -- read ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_cohorts(client, session, factory, tokens, role):
    cohort = factory.cohort()
    session.commit()
    response = client.get(f"/api/v1/cohorts/{cohort.number}", headers=bearer(tokens[role]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["number"] == cohort.number
    assert body["open"] is True
    counted = role in ("coordinator", "auditor")
    assert (body["case_counts"] is not None) is counted
    assert (body["places_left"] is not None) is counted


def test_unknown_cohort_is_404_in_german(client, tokens):
    body = assert_problem(client.get("/api/v1/cohorts/99", headers=bearer(tokens["applicant"])), 404)
    assert body["detail"] == "Den Durchgang 99 gibt es nicht."


def test_counts_per_state_and_places_left(client, session, factory, tokens):
    cohort = factory.cohort(capacity=3)
    factory.case(cohort, FINNENTROP)
    factory.case(cohort, ATTENDORN, state=State.ADMITTED)
    session.commit()
    body = client.get(f"/api/v1/cohorts/{cohort.number}", headers=bearer(tokens["coordinator"])).get_json()
    assert body["case_counts"]["draft"] == 1
    assert body["case_counts"]["admitted"] == 1
    assert sum(body["case_counts"].values()) == 2
    assert body["places_left"] == 2
    listed = client.get("/api/v1/cohorts", headers=bearer(tokens["auditor"])).get_json()["items"]
    assert listed[0]["case_counts"] == body["case_counts"]


def test_cohort_list_pages_walk_every_cohort_exactly_once(client, session, factory, tokens):
    numbers = [factory.cohort(number).number for number in (11, 12, 13, 14, 15)]
    session.commit()
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(
            "/api/v1/cohorts", query_string=query, headers=bearer(tokens["reviewer"])
        ).get_json()
        assert len(page["items"]) <= 2
        seen += [item["number"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == numbers


def test_bad_cursor_and_limit_are_422(client, tokens):
    headers = bearer(tokens["coordinator"])
    assert_problem(client.get("/api/v1/cohorts?cursor=%%%", headers=headers), 422, "cursor")
    assert_problem(client.get("/api/v1/cohorts?limit=0", headers=headers), 422, "limit")


# -- change --------------------------------------------------------------------------------------------


def test_coordinator_closes_the_call_early_and_it_is_audited(client, session, factory, tokens):
    cohort = factory.cohort()
    session.commit()
    old_deadline = cohort.application_deadline
    yesterday = (factory.now - timedelta(days=1)).date()
    response = client.patch(
        f"/api/v1/cohorts/{cohort.number}",
        json={"application_deadline": yesterday.isoformat()},
        headers=bearer(tokens["coordinator"]),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["application_deadline"] == yesterday.isoformat()
    assert body["open"] is False
    assert body["title"] == cohort.title  # untouched fields stay
    (event,) = events(session, "cohort.updated")
    assert event.data["changes"] == {
        "application_deadline": {"old": old_deadline.isoformat(), "new": yesterday.isoformat()}
    }


def test_patch_changes_several_fields_and_keeps_the_rest(client, session, factory, tokens):
    cohort = factory.cohort()
    session.commit()
    response = client.patch(
        f"/api/v1/cohorts/{cohort.number}",
        json={"capacity": 17, "funding_eur": 130000, "region": "Köln", "min_attendance": "0.8"},
        headers=bearer(tokens["coordinator"]),
    )
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["capacity"], body["funding_eur"], body["region"], body["min_attendance"]) == (
        17,
        130000.0,
        "Köln",
        0.8,
    )
    assert body["team_size"] == cohort.team_size


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"region": "Bayern"}, "region"),
        ({"min_attendance": 2}, "min_attendance"),
        ({"reminder_days": [0]}, "reminder_days"),
        ({"number": 99}, "number"),
        ({"title": None}, "title"),
        ({"applications_open_at": "2027-03-01T00:00:00"}, "applications_open_at"),
    ],
)
def test_invalid_patches_are_422_and_change_nothing(client, session, factory, tokens, body, field):
    cohort = factory.cohort()
    session.commit()
    response = client.patch(
        f"/api/v1/cohorts/{cohort.number}", json=body, headers=bearer(tokens["coordinator"])
    )
    assert_invalid(response, field)
    assert events(session, "cohort.updated") == []


@pytest.mark.parametrize("role", ["auditor", "applicant", "reviewer", "admin"])
def test_only_coordinators_change_cohorts(client, session, factory, tokens, role):
    cohort = factory.cohort()
    session.commit()
    response = client.patch(
        f"/api/v1/cohorts/{cohort.number}", json={"capacity": 5}, headers=bearer(tokens[role])
    )
    assert_problem(response, 403)


def test_patching_an_unknown_cohort_is_404(client, tokens):
    response = client.patch("/api/v1/cohorts/99", json={"capacity": 5}, headers=bearer(tokens["coordinator"]))
    assert_problem(response, 404)


# -- sessions ------------------------------------------------------------------------------------------


def test_coordinator_adds_sessions_and_everyone_lists_them_in_time_order(client, session, tokens):
    assert post_cohort(client, tokens["coordinator"]).status_code == 201
    later = {**SESSION_BODY, "title": "Workshop 2", "starts_at": "2027-10-15T10:00:00+02:00"}
    later["ends_at"] = "2027-10-15T16:00:00+02:00"
    kickoff = {
        **SESSION_BODY,
        "kind": "fachtagung",
        "title": "Fachtagung",
        "starts_at": "2027-09-01T10:00:00+02:00",
        "ends_at": "2027-09-01T17:00:00+02:00",
    }
    created = []
    for body in (SESSION_BODY, later, kickoff):
        response = client.post("/api/v1/cohorts/7/sessions", json=body, headers=bearer(tokens["coordinator"]))
        assert response.status_code == 201, response.get_json()
        created.append(response.get_json())
    assert created[0]["cohort"] == 7
    assert created[0]["starts_at"] == "2027-09-15T08:00:00+00:00"
    assert created[0]["location"] == "Köln"

    listed = client.get("/api/v1/cohorts/7/sessions", headers=bearer(tokens["applicant"]))
    assert listed.status_code == 200
    page = listed.get_json()
    assert [s["title"] for s in page["items"]] == ["Fachtagung", "Workshop 1", "Workshop 2"]
    assert page["next_cursor"] is None
    assert len(events(session, "session.created")) == 3


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "party"}, "kind"),
        ({"ends_at": "2027-09-15T09:00:00+02:00"}, "ends_at"),
        ({"ends_at": SESSION_BODY["starts_at"]}, "ends_at"),
        ({"starts_at": "2027-09-15T10:00:00"}, "starts_at"),
        ({"ends_at": "2027-09-15T16:00:00"}, "ends_at"),
        ({"title": ""}, "title"),
        ({"starts_at": None}, "starts_at"),
    ],
)
def test_invalid_sessions_are_422(client, session, factory, tokens, changes, field):
    cohort = factory.cohort()
    session.commit()
    response = client.post(
        f"/api/v1/cohorts/{cohort.number}/sessions",
        json={**SESSION_BODY, **changes},
        headers=bearer(tokens["coordinator"]),
    )
    assert_problem(response, 422, field)


def test_sessions_of_an_unknown_cohort_are_404(client, tokens):
    assert_problem(client.get("/api/v1/cohorts/99/sessions", headers=bearer(tokens["reviewer"])), 404)
    response = client.post(
        "/api/v1/cohorts/99/sessions", json=SESSION_BODY, headers=bearer(tokens["coordinator"])
    )
    assert_problem(response, 404)


@pytest.mark.parametrize("role", ["auditor", "applicant", "reviewer", "admin"])
def test_only_coordinators_add_sessions(client, session, factory, tokens, role):
    cohort = factory.cohort()
    session.commit()
    response = client.post(
        f"/api/v1/cohorts/{cohort.number}/sessions", json=SESSION_BODY, headers=bearer(tokens[role])
    )
    assert_problem(response, 403)


def test_the_openapi_document_describes_the_cohort_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/cohorts"])
    assert {"get", "patch"} <= set(paths["/api/v1/cohorts/{number}"])
    assert {"get", "post"} <= set(paths["/api/v1/cohorts/{number}/sessions"])


# -- moving and cancelling a session ---------------------------------------------------------------------


def test_a_session_is_moved_and_cancelled_through_the_api(client, session, factory, tokens):
    cohort = factory.cohort()
    workshop = factory.workshop(cohort)
    attending = factory.case(cohort, ATTENDORN, state=State.ATTENDING)
    session.commit()
    url = f"/api/v1/cohorts/{cohort.number}/sessions/{workshop.id}"
    headers = bearer(tokens["coordinator"])

    refused = client.patch(url, json={"starts_at": "2027-09-15T10:00:00"}, headers=headers)  # no offset
    assert_problem(refused, 422, "starts_at")
    moved = client.patch(url, json={"location": "Münster"}, headers=headers)
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["location"], moved.get_json()["sequence"]) == ("Münster", 1)
    assert moved.get_json()["cancelled_at"] is None
    assert len(events(session, "session.updated")) == 1

    assert_problem(client.post(f"{url}/cancel", json={}, headers=headers), 422, "reason")
    cancelled = client.post(f"{url}/cancel", json={"reason": "Raum fehlt."}, headers=headers)
    assert cancelled.status_code == 200
    assert cancelled.get_json()["sequence"] == 2
    assert cancelled.get_json()["cancelled_at"] is not None
    assert_problem(client.post(f"{url}/cancel", json={"reason": "Nochmal."}, headers=headers), 409)
    assert_problem(client.patch(url, json={"location": "Bonn"}, headers=headers), 409)
    assert len(events(session, "session.cancelled")) == 1
    listed = client.get(f"/api/v1/cohorts/{cohort.number}/sessions", headers=headers).get_json()["items"]
    assert [(s["id"], s["sequence"]) for s in listed] == [(workshop.id, 2)]
    assert (
        client.patch(
            f"/api/v1/cohorts/{cohort.number + 1}/sessions/{workshop.id}",
            json={"location": "X"},
            headers=headers,
        ).status_code
        == 404
    )
    kinds = session.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.kind == "session_changed")
    ).all()
    session.commit()
    assert sorted(kinds) == sorted([m.email for m in attending.team] * 2)  # the update and the cancellation
