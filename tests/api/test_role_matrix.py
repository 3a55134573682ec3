"""Every endpoint × every role (SPEC §2), from one table: who gets what, and the OpenAPI document agrees.

`MATRIX` has one row per route of `/api/v1`: the roles allowed (or `PUBLIC`), the status of a valid request
by an allowed role, and how to build that request. The tests fail when a route has no row, when a row names
a route that is gone, when a role or an anonymous caller gets another status than the table says, when a
refused request leaves a trace in the audit trail, and when the OpenAPI document does not describe a route,
its security or a status the matrix observed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from typing import Any, NamedTuple

import pytest
from sqlalchemy import func, select

from ews_cases.models import (
    AccessRequest,
    ApiToken,
    AuditCheckpoint,
    AuditEvent,
    Case,
    Certificate,
    Cohort,
    CohortSession,
    User,
)
from ews_cases.services.access_requests import request_access
from ews_cases.services.accounts import new_token
from ews_cases.services.checkpoints import write_checkpoint
from testkit.factories import ATTENDORN, BONN, FINNENTROP, SYSTEM
from tests.api.test_participation_api import bearer, token_for
from workflows import State

OLPE = "05966024"
APPLICANT, REVIEWER, COORDINATOR, AUDITOR, ADMIN = "applicant", "reviewer", "coordinator", "auditor", "admin"
ROLES = (APPLICANT, REVIEWER, COORDINATOR, AUDITOR, ADMIN)
ANONYMOUS = "anonymous"
EVERYONE = frozenset(ROLES)
PUBLIC = None  # no token needed
CASE_READERS = frozenset({APPLICANT, REVIEWER, COORDINATOR, AUDITOR})
TEAM_READERS = frozenset({APPLICANT, COORDINATOR, AUDITOR})  # attendance, project, certificates
READERS = frozenset({COORDINATOR, AUDITOR})
SPEC_RULE = "/api/v1/openapi.json"
IGNORED_METHODS = {"HEAD", "OPTIONS"}


class Call(NamedTuple):
    path: str
    json: dict[str, Any] | None = None


class World:
    """The data the requests need, arranged through the services on first use (each row arranges only what
    it touches); every target is committed before it is handed out."""

    def __init__(self, session, factory) -> None:
        self.session, self.factory = session, factory
        self._drafts: dict[str, Case] = {}

    def _done(self, value: Any) -> Any:
        self.session.commit()
        return value

    @cached_property
    def cohort(self) -> Cohort:
        """An open cohort with a Fachtagung and a workshop."""
        cohort = self.factory.cohort()
        self.factory.workshop(cohort, kind="fachtagung")
        self.factory.workshop(cohort, cohort.starts_on + timedelta(days=7))
        return self._done(cohort)

    @cached_property
    def empty_cohort(self) -> Cohort:
        """An open cohort without cases: room for a new application of every municipality."""
        return self._done(self.factory.cohort())

    def _case(self, state: State) -> Case:
        """A case of Finnentrop (the applicant's municipality) in `state`, in a cohort of its own."""
        cohort = self.factory.cohort()
        self.factory.workshop(cohort)
        return self._done(self.factory.case(cohort, FINNENTROP, state=state))

    @cached_property
    def submitted(self) -> Case:
        return self._case(State.SUBMITTED)

    @cached_property
    def attending(self) -> Case:
        return self._case(State.ATTENDING)

    @cached_property
    def certified(self) -> Case:
        return self._case(State.CERTIFIED)

    @cached_property
    def certificate(self) -> Certificate:
        return self._done(
            self.session.scalars(
                select(Certificate)
                .where(Certificate.case_id == self.certified.id)
                .order_by(Certificate.serial)
            ).first()
        )

    def draft(self, role: str) -> Case:
        """A complete draft per acting role, so that one role's change does not stale another's version:
        Finnentrop's for the applicant, Attendorn's for the coordinator (same cohort)."""
        if role not in self._drafts:
            ags = FINNENTROP if role == APPLICANT else ATTENDORN
            self._drafts[role] = self._done(self.factory.case(self.empty_cohort, ags))
        return self._drafts[role]

    @cached_property
    def workshop(self) -> CohortSession:
        return self._done(
            self.session.scalars(
                select(CohortSession)
                .where(CohortSession.cohort_id == self.attending.cohort_id)
                .order_by(CohortSession.id)
            ).first()
        )

    @cached_property
    def user(self) -> User:
        """Somebody whose account an admin manages."""
        return self._done(self.factory.user(REVIEWER))

    @cached_property
    def access_request(self) -> AccessRequest:
        """A request for access waiting for the office's decision."""
        return self._done(
            request_access(
                self.session,
                name="Paula Anfrage",
                email="paula@olpe.example",
                municipality_ags=OLPE,
                position="Büro",
            )
        )

    @cached_property
    def spare_token(self) -> ApiToken:
        """A token of `user` that may be revoked (not one the test acts with)."""
        return self._done(new_token(self.session, SYSTEM, self.user, name="spare").record)

    @cached_property
    def checkpoint(self) -> AuditCheckpoint:
        """A signed checkpoint of a log holding a submitted case's events."""
        assert self.submitted.id
        return self._done(write_checkpoint(self.session).checkpoint)


Build = Callable[[World, str], Call]


@dataclass(frozen=True)
class Row:
    method: str
    rule: str
    allowed: frozenset[str] | None
    success: int
    build: Build

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.rule

    def __str__(self) -> str:
        return f"{self.method} {self.rule}"


def fixed(path: str, json: dict[str, Any] | None = None) -> Build:
    return lambda world, role: Call(path, json)


def new_case(world: World, role: str) -> Call:
    ags = FINNENTROP if role == APPLICANT else BONN
    return Call(
        "/api/v1/cases",
        {
            "cohort": world.empty_cohort.number,
            "municipality": ags,
            "contact": {"name": "Erika Beispiel", "email": "erika@example.org", "phone": "0123"},
            "answers": {"motivation": "Engagement stärken."},
            "consent": True,
        },
    )


def submit_draft(world: World, role: str) -> Call:
    draft = world.draft(role)
    return Call(f"/api/v1/cases/{draft.id}/transitions", {"name": "submit", "version": draft.version})


def edit_draft(world: World, role: str) -> Call:
    draft = world.draft(role)
    return Call(
        f"/api/v1/cases/{draft.id}", {"version": draft.version, "answers": {"goals": "Eine Strategie."}}
    )


def case_path(state: str, suffix: str = "") -> Build:
    return lambda world, role: Call(f"/api/v1/cases/{getattr(world, state).id}{suffix}")


def attendance(world: World, role: str) -> Call:
    case = world.attending
    return Call(
        f"/api/v1/cases/{case.id}/attendance",
        {"session": world.workshop.id, "member": case.team[0].id, "status": "present"},
    )


def project(world: World, role: str) -> Call:
    return Call(f"/api/v1/cases/{world.attending.id}/project", {"title": "Engagementlotsen"})


def review(world: World, role: str) -> Call:
    return Call(
        f"/api/v1/cases/{world.submitted.id}/reviews",
        {
            "scores": {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3},
            "recommendation": "admit",
            "comment": "Überzeugend.",
        },
    )


def session_body() -> dict[str, Any]:
    return {
        "kind": "workshop",
        "title": "Workshop 9",
        "starts_at": "2027-09-15T10:00:00+02:00",
        "ends_at": "2027-09-15T16:00:00+02:00",
        "location": "Köln",
    }


def invitation(world: World, role: str) -> Call:
    """An invitation to an address of its own per role (the same address again would be a renewal)."""
    body = {"email": f"eingeladen.{role}@example.org", "name": "Ina Eingeladen", "role": "applicant"}
    return Call("/api/v1/invitations", {**body, "municipality": FINNENTROP})


def cohort_path(suffix: str = "", json: dict[str, Any] | None = None) -> Build:
    return lambda world, role: Call(f"/api/v1/cohorts/{world.cohort.number}{suffix}", json)


def session_path(suffix: str = "", json: dict[str, Any] | None = None) -> Build:
    """A session of the world's cohort (its first: the Fachtagung)."""

    def build(world: World, role: str) -> Call:
        event = min(world.cohort.sessions, key=lambda s: s.id)
        return Call(f"/api/v1/cohorts/{world.cohort.number}/sessions/{event.id}{suffix}", json)

    return build


def user_path(suffix: str = "", json: dict[str, Any] | None = None) -> Build:
    return lambda world, role: Call(f"/api/v1/users/{world.user.id}{suffix}", json)


MATRIX: tuple[Row, ...] = (
    # -- public ----------------------------------------------------------------------------------------
    Row("GET", "/api/v1/health", PUBLIC, 200, fixed("/api/v1/health")),
    Row("GET", SPEC_RULE, PUBLIC, 200, fixed(SPEC_RULE)),
    # -- reference data and the workflow ---------------------------------------------------------------
    Row("GET", "/api/v1/workflow", EVERYONE, 200, fixed("/api/v1/workflow")),
    Row("GET", "/api/v1/municipalities", EVERYONE, 200, fixed("/api/v1/municipalities?q=Finne")),
    Row("GET", "/api/v1/municipalities/<ags>", EVERYONE, 200, fixed(f"/api/v1/municipalities/{FINNENTROP}")),
    Row(
        "GET",
        "/api/v1/municipalities/<ags>/contacts",
        READERS,
        200,
        fixed(f"/api/v1/municipalities/{BONN}/contacts"),
    ),
    Row(
        "POST",
        "/api/v1/municipalities/<ags>/contacts",
        {COORDINATOR},
        201,
        fixed(
            f"/api/v1/municipalities/{BONN}/contacts", {"name": "Rita Rathaus", "email": "rita@bonn.example"}
        ),
    ),
    # -- cohorts and sessions --------------------------------------------------------------------------
    Row("GET", "/api/v1/cohorts", EVERYONE, 200, fixed("/api/v1/cohorts")),
    Row(
        "POST",
        "/api/v1/cohorts",
        {COORDINATOR},
        201,
        fixed(
            "/api/v1/cohorts",
            {"number": 9000, "title": "Testdurchgang", "application_deadline": "2030-06-30"},
        ),
    ),
    Row("GET", "/api/v1/cohorts/<int:number>", EVERYONE, 200, cohort_path()),
    Row(
        "PATCH", "/api/v1/cohorts/<int:number>", {COORDINATOR}, 200, cohort_path("", {"title": "Neuer Titel"})
    ),
    Row("GET", "/api/v1/cohorts/<int:number>/sessions", EVERYONE, 200, cohort_path("/sessions")),
    Row(
        "POST",
        "/api/v1/cohorts/<int:number>/sessions",
        {COORDINATOR},
        201,
        cohort_path("/sessions", session_body()),
    ),
    Row(
        "PATCH",
        "/api/v1/cohorts/<int:number>/sessions/<int:session_id>",
        {COORDINATOR},
        200,
        session_path("", {"location": "Düsseldorf"}),
    ),
    Row(
        "POST",
        "/api/v1/cohorts/<int:number>/sessions/<int:session_id>/cancel",
        {COORDINATOR},
        200,
        session_path("/cancel", {"reason": "Die Referentin ist erkrankt."}),
    ),
    # -- cases -----------------------------------------------------------------------------------------
    Row("GET", "/api/v1/cases", CASE_READERS, 200, fixed("/api/v1/cases")),
    Row("POST", "/api/v1/cases", {APPLICANT, COORDINATOR}, 201, new_case),
    Row("GET", "/api/v1/cases/<int:case_id>", CASE_READERS, 200, case_path("submitted")),
    Row("PATCH", "/api/v1/cases/<int:case_id>", {APPLICANT, COORDINATOR}, 200, edit_draft),
    Row(
        "GET",
        "/api/v1/cases/<int:case_id>/transitions",
        CASE_READERS,
        200,
        case_path("submitted", "/transitions"),
    ),
    Row("POST", "/api/v1/cases/<int:case_id>/transitions", {APPLICANT, COORDINATOR}, 200, submit_draft),
    Row(
        "GET",
        "/api/v1/cases/<int:case_id>/reviews",
        {REVIEWER, *READERS},
        200,
        case_path("submitted", "/reviews"),
    ),
    Row("POST", "/api/v1/cases/<int:case_id>/reviews", {REVIEWER}, 201, review),
    Row("GET", "/api/v1/cases/<int:case_id>/history", READERS, 200, case_path("submitted", "/history")),
    # -- participation and certificates ----------------------------------------------------------------
    Row(
        "GET",
        "/api/v1/cases/<int:case_id>/attendance",
        TEAM_READERS,
        200,
        case_path("attending", "/attendance"),
    ),
    Row("PUT", "/api/v1/cases/<int:case_id>/attendance", {COORDINATOR}, 200, attendance),
    Row("GET", "/api/v1/cases/<int:case_id>/project", TEAM_READERS, 200, case_path("attending", "/project")),
    Row("PUT", "/api/v1/cases/<int:case_id>/project", {APPLICANT, COORDINATOR}, 200, project),
    Row(
        "GET",
        "/api/v1/cases/<int:case_id>/certificates",
        TEAM_READERS,
        200,
        case_path("certified", "/certificates"),
    ),
    Row(
        "GET",
        "/api/v1/certificates/<serial>.pdf",
        TEAM_READERS,
        200,
        lambda world, role: Call(f"/api/v1/certificates/{world.certificate.serial}.pdf"),
    ),
    Row(
        "POST",
        "/api/v1/certificates/<serial>/revoke",
        {COORDINATOR},
        200,
        lambda world, role: Call(
            f"/api/v1/certificates/{world.certificate.serial}/revoke", {"reason": "Irrtum"}
        ),
    ),
    Row(
        "POST",
        "/api/v1/certificates/<serial>/replace",
        {COORDINATOR},
        201,
        lambda world, role: Call(
            f"/api/v1/certificates/{world.certificate.serial}/replace",
            {"reason": "Name falsch geschrieben", "holder_name": "Łucja Wąsik-Nguyễn"},
        ),
    ),
    # -- audit and outbox ------------------------------------------------------------------------------
    Row("GET", "/api/v1/audit", READERS, 200, fixed("/api/v1/audit?action=transition.*")),
    Row("GET", "/api/v1/audit/export", READERS, 200, fixed("/api/v1/audit/export?format=csv")),
    Row("GET", "/api/v1/audit/verify", READERS, 200, fixed("/api/v1/audit/verify")),
    Row("GET", "/api/v1/audit/checkpoints", PUBLIC, 200, fixed("/api/v1/audit/checkpoints")),
    Row(
        "GET",
        "/api/v1/audit/checkpoints/latest",
        PUBLIC,
        200,
        lambda world, role: Call("/api/v1/audit/checkpoints/latest" if world.checkpoint.id else ""),
    ),
    Row("GET", "/api/v1/audit/keys", PUBLIC, 200, fixed("/api/v1/audit/keys")),
    Row(
        "GET",
        "/api/v1/audit/proof/inclusion",
        READERS,
        200,
        lambda world, role: Call(f"/api/v1/audit/proof/inclusion?event=1&size={world.checkpoint.tree_size}"),
    ),
    Row(
        "GET",
        "/api/v1/audit/proof/consistency",
        READERS,
        200,
        lambda world, role: Call(f"/api/v1/audit/proof/consistency?from=1&to={world.checkpoint.tree_size}"),
    ),
    Row("GET", "/api/v1/outbox", READERS, 200, fixed("/api/v1/outbox")),
    # -- invitations -----------------------------------------------------------------------------------
    Row("POST", "/api/v1/invitations", {COORDINATOR, ADMIN}, 201, invitation),
    # -- users and tokens ------------------------------------------------------------------------------
    Row("GET", "/api/v1/users", {ADMIN}, 200, fixed("/api/v1/users")),
    Row(
        "POST",
        "/api/v1/users",
        {ADMIN},
        201,
        fixed("/api/v1/users", {"email": "neu@example.org", "name": "Nina Neu", "role": "auditor"}),
    ),
    Row("GET", "/api/v1/users/<int:user_id>", {ADMIN}, 200, user_path()),
    Row(
        "PATCH",
        "/api/v1/users/<int:user_id>",
        {ADMIN},
        200,
        user_path("", {"role": "coordinator", "active": False, "reason": "Wechsel ins Programmbüro"}),
    ),
    Row("DELETE", "/api/v1/users/<int:user_id>/second-factor", {ADMIN}, 200, user_path("/second-factor")),
    Row("GET", "/api/v1/users/<int:user_id>/tokens", {ADMIN}, 200, user_path("/tokens")),
    Row(
        "POST",
        "/api/v1/users/<int:user_id>/tokens",
        {ADMIN},
        201,
        user_path("/tokens", {"name": "zweiter", "expires_at": "2099-12-31"}),
    ),
    Row("GET", "/api/v1/tokens", {ADMIN}, 200, fixed("/api/v1/tokens")),
    Row(
        "DELETE",
        "/api/v1/tokens/<int:token_id>",
        {ADMIN},
        204,
        lambda world, role: Call(f"/api/v1/tokens/{world.spare_token.id}"),
    ),
)
ROWS = {row.key: row for row in MATRIX}


def api_routes(app) -> set[tuple[str, str]]:
    """Every (method, rule) the app serves under /api/v1."""
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1"
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


def openapi_path(rule: str) -> str:
    """`/cases/<int:case_id>` → `/cases/{case_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def expected_for(row: Row) -> dict[str, int]:
    if row.allowed is PUBLIC:
        return dict.fromkeys((ANONYMOUS, *ROLES), row.success)
    return {ANONYMOUS: 401} | {role: row.success if role in row.allowed else 403 for role in ROLES}


# -- the table is complete ----------------------------------------------------------------------------


def test_every_api_route_has_exactly_one_row(app):
    assert len(ROWS) == len(MATRIX), "a route appears twice in MATRIX"
    served = api_routes(app)
    assert sorted(served - set(ROWS)) == [], "routes without a row in MATRIX"
    assert sorted(set(ROWS) - served) == [], "rows for routes the app does not serve"


def test_auditors_and_the_public_change_nothing():
    """SPEC §2: every write an auditor attempts is refused; only reads are public."""
    writes = [row for row in MATRIX if row.method != "GET"]
    assert [str(row) for row in writes if row.allowed is PUBLIC or AUDITOR in row.allowed] == []


def test_the_openapi_document_describes_every_route_and_its_security(app, client, db):
    response = client.get(SPEC_RULE)
    assert response.status_code == 200
    paths = response.get_json()["paths"]
    for method, rule in sorted(api_routes(app)):
        if rule == SPEC_RULE:
            continue  # the document does not list itself
        operation = paths.get(openapi_path(rule), {}).get(method.lower())
        assert operation is not None, f"{method} {rule} is not in the OpenAPI document"
        row = ROWS.get((method, rule))
        if row is None:
            continue  # reported by test_every_api_route_has_exactly_one_row
        if row.allowed is PUBLIC:
            assert not operation.get("security"), f"{row} is public but documented with security"
            continue
        assert operation.get("security"), f"{row} is documented without security"
        # For an HTTP bearer scheme OpenAPI requires an empty array; the roles are in `x-roles`.
        assert operation["security"] == [{"BearerAuth": []}], str(row)
        assert set(operation["x-roles"]) == row.allowed, str(row)
        assert operation["description"].endswith("Rollen: " + ", ".join(sorted(row.allowed)) + "."), str(row)
        assert "401" in operation["responses"], f"{row}: 401 is not documented"


# -- who gets what --------------------------------------------------------------------------------------


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def role_tokens(session, factory) -> dict[str, str]:
    """A token per role: the applicant of Finnentrop (the cases' municipality), an unaffiliated reviewer."""
    return {
        role: token_for(session, factory, role, FINNENTROP if role == APPLICANT else None) for role in ROLES
    }


@pytest.fixture(scope="module")
def documented_statuses(app) -> dict[tuple[str, str], set[str]]:
    paths = app.test_client().get(SPEC_RULE).get_json()["paths"]
    return {
        (method.upper(), path): set(operation["responses"])
        for path, operations in paths.items()
        for method, operation in operations.items()
    }


def audit_event_count(session) -> int:
    count = session.scalar(select(func.count(AuditEvent.id)))
    session.commit()  # end the read (a fresh snapshot next time; SQLite's writers are not held up)
    return count or 0


@pytest.mark.parametrize("row", MATRIX, ids=str)
def test_each_role_gets_the_status_the_matrix_says(
    client, session, factory, role_tokens, documented_statuses, row
):
    world = World(session, factory)
    expected = expected_for(row)
    allowed = sorted(row.allowed or ())
    # A refused request uses an allowed role's target: it must change nothing, so the target stays valid.
    calls = {
        who: row.build(world, who if who in allowed else (allowed[0] if allowed else who)) for who in expected
    }
    session.commit()

    def send(who: str):
        headers = bearer(role_tokens[who]) if who in role_tokens else {}
        call = calls[who]
        response = client.open(call.path, method=row.method, json=call.json, headers=headers)
        response.get_data()  # read streamed bodies (the export) to the end, then release their context
        response.close()
        return response

    refused = [who for who in expected if expected[who] >= 400]
    events_before = audit_event_count(session)
    observed = {who: send(who) for who in refused}
    events_after_refusals = audit_event_count(session)
    observed |= {who: send(who) for who in expected if who not in refused}
    statuses = {who: response.status_code for who, response in observed.items()}
    problems = {
        who: response.get_data(as_text=True)
        for who, response in observed.items()
        if statuses[who] != expected[who]
    }
    assert statuses == expected, f"{row}: {problems}"
    assert events_after_refusals == events_before, f"{row}: a refused request wrote audit events"
    for who, response in observed.items():
        if response.status_code >= 400:
            assert response.mimetype == "application/problem+json", (who, response.mimetype)
            assert response.get_json()["status"] == response.status_code

    if row.rule != SPEC_RULE:
        documented = documented_statuses[(row.method, openapi_path(row.rule))]
        undocumented = {who: status for who, status in statuses.items() if str(status) not in documented}
        assert undocumented == {}, (
            f"{row}: statuses not in the OpenAPI document (documented: {sorted(documented)})"
        )
