"""Oversized requests: bodies above `max_body_bytes`, and fields too long for their column within the limit.

- A body above the limit is a 413 before any handler runs: problem+json for the API, the German error page
  for forms, with or without a Content-Length (chunked), and nothing is stored.
- Within the limit, a text too long for its field is a 422 that names the field (API: `errors`, forms: the
  message next to the field, with what was typed kept), never a 5xx from the database (PostgreSQL refuses a
  value longer than its column; SQLite would store it).

The API requests are every request of `tests.api.test_role_matrix.MATRIX` that has a JSON body, with each of
its strings in turn made 20,000 characters long. The application has no file uploads (no `FileField`, no
`request.files`), so there are no oversized or wrongly typed files to refuse.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from ews_cases.services.participation import update_project
from testkit.factories import BONN, FINNENTROP
from tests.api.live_server import live_server
from tests.api.test_role_matrix import ADMIN, APPLICANT, AUDITOR, COORDINATOR, MATRIX, REVIEWER, Row, World
from tests.reliability.hostile_helpers import (
    Snapshot,
    assert_german_error_page,
    assert_problem_json,
    methods,
    person,
    sign_in,
)
from tests.web.test_applicant_pages import COMPLETE
from workflows import State

LONG_TEXT = 20_000
FEEDBACK = re.compile(r'class="(?:invalid-feedback|alert alert-danger)[^"]*"[^>]*>(.*?)</', re.DOTALL)
TOO_LONG = r"zu lang|Höchstens \d+ Zeichen|nicht länger als \d+"
JSON_ROWS = [row for row in MATRIX if row.method != "GET"]


@pytest.fixture
def client(app):
    return app.test_client()


def acting_role(row: Row) -> str:
    allowed = sorted(row.allowed or ())
    for role in (APPLICANT, COORDINATOR, ADMIN, REVIEWER, AUDITOR):
        if role in allowed:
            return role
    return allowed[0]


def holders(session, factory) -> dict[str, Any]:
    return {
        role: person(session, factory, role, FINNENTROP if role == APPLICANT else None)
        for role in (APPLICANT, COORDINATOR, ADMIN, REVIEWER, AUDITOR)
    }


def string_leaves(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths of the strings in a JSON body (`("team", "0", "name")`)."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, (*path, str(index)))


def replaced(value: Any, path: tuple[str, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, list):
        return [replaced(item, tuple(rest), new) if str(i) == head else item for i, item in enumerate(value)]
    return {key: replaced(item, tuple(rest), new) if key == head else item for key, item in value.items()}


# -- above the limit ------------------------------------------------------------------------------------


def test_api_bodies_above_the_limit_are_413(app, client, db, session, factory):
    world = World(session, factory)
    people = holders(session, factory)
    calls = [(row, row.build(world, acting_role(row))) for row in JSON_ROWS]
    session.commit()
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"padding": "x" * limit}).encode()
    before = Snapshot.take(db)
    for row, call in calls:
        response = client.open(
            call.path,
            method=row.method,
            data=body,
            content_type="application/json",
            headers=people[acting_role(row)].headers,
        )
        problem = assert_problem_json(response, (413,))
        assert problem["detail"] == "Die Anfrage ist zu groß.", row
    assert Snapshot.take(db) == before


def test_a_chunked_body_above_the_limit_is_413_too(app, db, session, factory):
    coordinator = person(session, factory, "coordinator")
    limit = app.config["MAX_CONTENT_LENGTH"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server finds out while reading
        yield b'{"number": 91, "title": "'
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096
        yield b'", "application_deadline": "2030-06-30"}'

    def form_chunks() -> Iterator[bytes]:  # a form field cut off at the limit must not be taken as typed
        yield b"email=" + b"x" * 4096
        for _ in range(limit // 4096 + 2):
            yield b"x" * 4096

    before = Snapshot.take(db)
    with live_server(app) as url:
        response = requests.post(
            f"{url}/api/v1/cohorts",
            data=chunks(),
            headers={**coordinator.headers, "Content-Type": "application/json"},
            timeout=60,
        )
        form = requests.post(
            f"{url}/anmelden",
            data=form_chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=60,
        )
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert_problem_json(response, (413,))
    assert form.status_code == 413
    assert "Die gesendeten Daten sind zu groß" in form.text
    assert Snapshot.take(db) == before


def test_form_posts_above_the_limit_get_the_german_error_page(app, client, db, session, factory):
    token = sign_in(client, person(session, factory, "coordinator"))
    limit = app.config["MAX_CONTENT_LENGTH"]
    posts = [
        rule.rule.replace("<int:case_id>", "1").replace("<int:number>", "1").replace("<token>", "abc")
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith("/api/") and "POST" in methods(rule)
    ]
    before = Snapshot.take(db)
    for url in posts:
        response = client.post(url, data={"csrf_token": token, "motivation": "x" * limit})
        page = assert_german_error_page(response, (413,))
        assert "Anfrage zu groß" in page, url
        assert "Die gesendeten Daten sind zu groß" in page, url
    assert len(posts) >= 10
    assert Snapshot.take(db) == before
    assert client.get("/programm").status_code == 200  # the session survived the refusals


# -- within the limit, too long for a field ---------------------------------------------------------------


def test_api_fields_too_long_are_422_naming_the_field(client, session, factory):
    world = World(session, factory)
    people = holders(session, factory)
    probes = [(row, row.build(world, acting_role(row))) for row in JSON_ROWS]  # arranged before any request
    session.commit()
    wrong = []
    checked = 0
    for row, probe in probes:
        role = acting_role(row)
        for leaf in string_leaves(probe.json or {}):
            session.expire_all()  # builders read versions: the previous request may have changed them
            call = row.build(world, role)
            session.commit()
            body = replaced(call.json, leaf, "ä" * LONG_TEXT)
            response = client.open(call.path, method=row.method, json=body, headers=people[role].headers)
            checked += 1
            status = response.status_code
            errors = (response.get_json() or {}).get("errors", {}) if status == 422 else {}
            if status >= 500 or status not in (200, 201, 204, 409, 422):
                wrong.append((str(row), ".".join(leaf), status, response.get_data(as_text=True)[:200]))
            elif status == 422 and not any(leaf[-1] in key or key == "_schema" for key in errors):
                wrong.append((str(row), ".".join(leaf), status, f"errors name another field: {errors}"))
    assert wrong == []
    assert checked >= 20


@dataclass(frozen=True)
class FormField:
    role: str
    field: str
    limit: int
    #: The page's URL and the other fields of a post that would be valid (aimed at arranged data).
    target: Callable[[World], tuple[str, dict[str, Any]]]


def new_case(world: World) -> tuple[str, dict[str, Any]]:
    number = world.empty_cohort.number
    return f"/bewerbungen/neu?durchgang={number}", {
        **COMPLETE,
        "cohort": number,
        "municipality": BONN,
        "aktion": "entwurf",
    }


def reviewed(world: World) -> tuple[str, dict[str, Any]]:
    case = world.factory.case(world.empty_cohort, FINNENTROP, state=State.REVIEWED)
    return f"/faelle/{case.id}/aktion", {"name": "reject", "version": case.version}


def submitted_project(world: World) -> tuple[str, dict[str, Any]]:
    case = world.attending
    update_project(world.session, case, world.factory.coordinator(), title="Lotsen", summary="Kurz.")
    update_project(world.session, case, world.factory.coordinator(), status="submitted")
    return f"/programm/faelle/{case.id}/praxisprojekt", {"decision": "return"}


FORM_FIELDS = {
    "new case": FormField("coordinator", "motivation", 20_000, new_case),
    "contact name": FormField("coordinator", "contact_name", 200, new_case),
    "cohort title": FormField(
        "coordinator", "title", 200, lambda w: ("/programm/durchgaenge/neu", {"number": 501})
    ),
    "session title": FormField(
        "coordinator", "title", 200, lambda w: (f"/programm/durchgaenge/{w.cohort.number}/termine/neu", {})
    ),
    "review comment": FormField(
        "reviewer", "comment", 5000, lambda w: (f"/gutachten/{w.submitted.id}", {"recommendation": "admit"})
    ),
    "transition reason": FormField("coordinator", "reason", 5000, reviewed),
    "project reason": FormField("coordinator", "reason", 5000, submitted_project),
    "revocation reason": FormField(
        "coordinator",
        "reason",
        5000,
        lambda w: (f"/programm/faelle/{w.certified.id}/zertifikate", {"certificate": w.certificate.id}),
    ),
}


@pytest.mark.parametrize("name", sorted(FORM_FIELDS))
def test_form_fields_too_long_are_422_next_to_the_field(client, db, session, factory, name):
    spec = FORM_FIELDS[name]
    url, data = spec.target(World(session, factory))
    token = sign_in(client, person(session, factory, spec.role))
    session.commit()
    before = Snapshot.take(db)
    typed = "ä" * (spec.limit + 1)
    response = client.post(url, data={**data, spec.field: typed, "csrf_token": token})
    page = response.get_data(as_text=True)
    shown = [html.unescape(m).strip() for m in FEEDBACK.findall(page)]
    assert (response.status_code, response.mimetype) == (422, "text/html"), (response.status_code, shown)
    assert any(re.search(TOO_LONG, message) for message in shown), shown
    assert typed in page, "what was typed is lost"
    assert Snapshot.take(db) == before
