"""SQL injection and LIKE wildcards in every filter, search and cursor of every GET endpoint and page.

The parameters are not listed by hand: the API's come from `/api/v1/openapi.json` (query parameters and
string path parameters of every GET operation), the pages' from the source of their view functions
(`request.args` and the forms filled from `request.args`), so a new filter is attacked as soon as it exists.

Each payload must be answered with a 4xx or with an honest result: never a 5xx, never a row the unfiltered
list does not hold, and for the text filters (searches, exact matches) no row at all, as none of the
arranged values contains these characters. `%` and `_` are searched for as themselves, not as wildcards.
Afterwards every table holds the rows it held before and still answers.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from wtforms.fields.core import UnboundField

from testkit.factories import ATTENDORN, BONN, FINNENTROP
from tests.api.test_schemathesis import Arranged
from tests.reliability.hostile_helpers import Snapshot, arranging, person, sign_in, tables_answer
from tests.web.helpers import csrf_token
from workflows import State

PAYLOADS = (
    "' OR 1=1--",
    "'; DROP TABLE cases;--",
    "%' UNION SELECT id, email, password_hash, 1, 1 FROM users--",
    '" OR ""="',
    "1 OR 1=1",
    "1) OR (1=1",
    "user:1'OR'1'='1",
    "%",
    "_",
    "\\",
    "*/ OR /*",
    "\x00",
    "x" * 5000,
)
#: Parameters that choose a page or a format rather than filter: a payload gives a 4xx or the full list.
NOT_FILTERS = frozenset({"limit", "cursor", "format", "seite", "durchgang"})
#: Cursors that decode (base64 of text) but are no valid position.
FORGED_CURSORS = ("MSBPUiAxPTE", "WyJ4JyBPUiAnMSc9JzEiLCAiMCJd", "LTE", "OTk5OTk5OTk5OTk5OTk5OTk5OTk5")
REFERENCE = re.compile(r"EWS\d+-\d{4}")


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def arranged(app, db) -> Arranged:
    """Cases of three municipalities in several states (so outbox messages and audit events exist too), and
    a token per role that reads the API; arranged outside the requests' app context (see `arranging`)."""
    with arranging(app, db) as (session, factory):
        cohort = factory.cohort()
        factory.workshop(cohort)
        for ags, state in ((FINNENTROP, State.SUBMITTED), (ATTENDORN, State.ATTENDING), (BONN, State.DRAFT)):
            factory.case(cohort, ags, state=state)
        result = Arranged()
        for role in ("coordinator", "admin", "auditor"):
            result.tokens[role] = person(session, factory, role).token
        factory.user("applicant", FINNENTROP)
    return result


# -- the API ---------------------------------------------------------------------------------------------


def get_operations(app) -> list[tuple[str, list[dict[str, Any]]]]:
    """(path, parameters) of every GET operation in the OpenAPI document."""
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    return [
        (path, operations["get"].get("parameters", []))
        for path, operations in sorted(spec["paths"].items())
        if "get" in operations
    ]


def attacked(parameters: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Query parameters, and path parameters that are strings (an integer path parameter is routed only
    when it is a number)."""
    return [p for p in parameters if p["in"] == "query" or p["schema"].get("type") == "string"]


def fill_path(path: str, parameters: list[dict[str, Any]], values: dict[str, Any]) -> str:
    for p in parameters:
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", quote(str(values[p["name"]]), safe=""))
    return path


REAL_PATH_VALUES = {"case_id": 1, "number": 1, "ags": FINNENTROP, "serial": "EWS1-2026-001", "user_id": 1}


def items_of(response) -> list[Any] | None:
    if response.status_code != 200 or response.mimetype != "application/json":
        return None
    body = response.get_json()
    return body.get("items") if isinstance(body, dict) else None


def canonical(items: list[Any]) -> set[str]:
    return {json.dumps(item, sort_keys=True) for item in items}


def test_every_get_operation_with_parameters_is_attacked(app):
    names = {p["name"] for _path, parameters in get_operations(app) for p in attacked(parameters)}
    assert {"q", "cursor", "limit", "cohort", "state", "actor", "action", "status", "kind"} <= names


def test_api_filters_resist_injection(app, client, db, arranged):
    before = Snapshot.take(db)
    wrong = []
    operations = [(path, ps) for path, ps in get_operations(app) if attacked(ps)]
    for path, parameters in operations:
        headers = {"Authorization": f"Bearer {arranged.token_for('GET', path)}"}
        url = fill_path(path, parameters, REAL_PATH_VALUES)
        pages = {"limit": 500} if any(p["name"] == "limit" for p in parameters) else None
        everything = canonical(items_of(client.get(url, query_string=pages, headers=headers)) or [])
        for parameter in attacked(parameters):
            name = parameter["name"]
            for payload in PAYLOADS + (FORGED_CURSORS if name == "cursor" else ()):
                if parameter["in"] == "path":
                    target, query = fill_path(path, parameters, {**REAL_PATH_VALUES, name: payload}), None
                else:
                    target, query = url, {name: payload}
                response = client.get(target, query_string=query, headers=headers)
                response.get_data()
                response.close()
                problem = judge(
                    response, everything, filters=name not in NOT_FILTERS and parameter["in"] == "query"
                )
                if problem:
                    wrong.append((path, name, payload[:40], response.status_code, problem))
    assert wrong == []
    assert len(operations) >= 10
    assert Snapshot.take(db) == before
    tables_answer(db)


def judge(response, everything: set[str], *, filters: bool) -> str | None:
    """What is wrong with the answer to an attacked request, if anything."""
    items = items_of(response)
    if response.status_code >= 500:
        return "server error"
    if response.status_code >= 400 and response.mimetype != "application/problem+json":
        return "error without problem+json"
    if items is not None and not canonical(items) <= everything:
        return "rows the unfiltered list does not hold"
    if items and filters:
        return f"{len(items)} rows for a value nothing matches"
    return None


# -- the pages ----------------------------------------------------------------------------------------------

#: Who opens the pages of each blueprint (a role that may see them).
PAGE_ROLES = {
    "office": "coordinator",
    "auditing": "auditor",
    "applicant": "coordinator",
    "reviewer": "reviewer",
    "admin": "admin",
    "public": "auditor",  # open to anybody; a signed-in client does as well
}
ARGS = re.compile(r"request\.args(?:\.get\(|\[)\s*\"([^\"]+)\"")
FORM_FROM_ARGS = re.compile(r"(\w+)\(formdata=request\.args\)")


def form_fields(form_class: type) -> set[str]:
    """The query-string names of a WTForms form's fields (a field's `name=` or its attribute)."""
    names = set()
    for cls in form_class.__mro__:
        for attribute, value in vars(cls).items():
            if isinstance(value, UnboundField):
                names.add(value.name or attribute)
    return names


def page_parameters(app) -> Iterator[tuple[str, str, set[str]]]:
    """(endpoint, URL, query parameters it reads) for every page without path arguments that reads any."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") or rule.arguments or "GET" not in (rule.methods or ()):
            continue
        view = inspect.unwrap(app.view_functions[rule.endpoint])
        source = inspect.getsource(view)
        names = set(ARGS.findall(source))
        for form_name in FORM_FROM_ARGS.findall(source):
            names |= form_fields(view.__globals__[form_name])
        names.discard("next")  # the login page's redirect target: test_login_redirects_only_within_the_site
        if names:
            yield rule.endpoint, rule.rule, names


def test_page_parameters_are_found(app):
    found = {endpoint: names for endpoint, _url, names in page_parameters(app)}
    assert {"durchgang", "status", "q", "seite"} <= found["office.cases"]
    assert {"cohort", "case", "actor", "action", "from", "to", "cursor"} <= found["auditing.log"]
    assert {"q", "durchgang"} <= found["applicant.new_case"]


def references(response) -> set[str]:
    return set(REFERENCE.findall(response.get_data(as_text=True)))


def test_page_filters_resist_injection(app, db, arranged):
    clients = {role: app.test_client() for role in sorted(set(PAGE_ROLES.values()))}
    with arranging(app, db) as (session, factory):  # several clients: no app context may span the requests
        people = {role: person(session, factory, role) for role in clients}
    for role, client in clients.items():
        sign_in(client, people[role])
    before = Snapshot.take(db)
    wrong = []
    pages = list(page_parameters(app))
    for endpoint, url, names in pages:
        client = clients[PAGE_ROLES[endpoint.split(".")[0]]]
        unfiltered = client.get(url)
        assert unfiltered.status_code == 200, endpoint
        shown = references(unfiltered)
        for name in sorted(names):
            for payload in PAYLOADS + (FORGED_CURSORS if name == "cursor" else ()):
                response = client.get(url, query_string={name: payload})
                response.get_data()
                response.close()
                listed = references(response) if response.status_code == 200 else set()
                if response.status_code >= 500:
                    wrong.append((endpoint, name, payload[:40], "server error"))
                elif not listed <= shown:
                    wrong.append(
                        (endpoint, name, payload[:40], f"cases not in the unfiltered page: {listed}")
                    )
                elif endpoint == "office.cases" and name == "q" and listed:
                    wrong.append(
                        (endpoint, name, payload[:40], f"{len(listed)} cases for a search nothing matches")
                    )
    assert wrong == []
    assert len(pages) >= 5
    assert Snapshot.take(db) == before
    tables_answer(db)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "/\\/evil.example/",
        "https://evil.example/",
        "/\t/evil.example/",
        "\\\\evil.example\\",
        "javascript:alert(1)",
    ],
)
def test_login_redirects_only_within_the_site(app, db, target):
    with arranging(app, db) as (session, factory):
        who = person(session, factory, "coordinator", password="Umleitungs-Passwort-1")
    client = app.test_client()
    token = csrf_token(client.get("/anmelden"))
    response = client.post(
        "/anmelden",
        query_string={"next": target},
        data={"email": who.email, "password": who.password, "csrf_token": token},
    )
    assert response.status_code == 302
    location = response.headers["Location"]
    normalised = urlsplit(location.replace("\\", "/").replace("\t", ""))
    assert location.startswith("/"), location
    assert not normalised.netloc, location
    assert not normalised.scheme, location
