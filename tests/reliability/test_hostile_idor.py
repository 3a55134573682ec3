"""IDOR across municipalities: an applicant of Attendorn reaches nothing of Finnentrop, on any route with an id.

The routes are read from `app.url_map`: every rule with a path argument, of the API and of the pages, must
have an entry below, so a new route with an id fails `test_every_route_with_an_argument_is_covered` until
somebody decides how it is protected. API requests are built with `tests.api.test_role_matrix` (a valid
request of a role that may make it, aimed at Finnentrop's data) and sent with the stranger's token; pages
are requested with the stranger's web session (CSRF token included, so a refusal is never just the missing
token). Each refusal must be a 403 or 404 (problem+json for the API, the German error page for pages), must
not name the target, and must leave the audit trail, the outbox and every case as they were.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from testkit.factories import FINNENTROP
from tests.api.test_role_matrix import APPLICANT, MATRIX, ROWS, Row, World
from tests.reliability.hostile_helpers import (
    Snapshot,
    assert_german_error_page,
    assert_problem_json,
    methods,
    rules_with_arguments,
    sign_in,
    stranger,
)
from tests.web.test_applicant_pages import COMPLETE

#: Routes with an id whose data belongs to no municipality: every role may read them (SPEC §7).
SHARED_API = {
    ("GET", "/api/v1/cohorts/<int:number>"): "a cohort and its call are public to every role",
    ("GET", "/api/v1/cohorts/<int:number>/sessions"): "a cohort's dates are public to every role",
    ("GET", "/api/v1/municipalities/<ags>"): "the reference list of NRW municipalities",
}

PageUrl = Callable[[World], str]

#: Pages with an id, and the URL that aims them at Finnentrop's data (in a state where the page applies).
OWNED_PAGES: dict[str, PageUrl] = {
    "/faelle/<int:case_id>": lambda w: f"/faelle/{w.submitted.id}",
    "/faelle/<int:case_id>/aktion": lambda w: f"/faelle/{w.draft(APPLICANT).id}/aktion",
    "/faelle/<int:case_id>/aktion/<name>/bestaetigen": (
        lambda w: f"/faelle/{w.draft(APPLICANT).id}/aktion/withdraw/bestaetigen"
    ),
    "/bewerbungen/<int:case_id>/bearbeiten": lambda w: f"/bewerbungen/{w.draft(APPLICANT).id}/bearbeiten",
    "/bewerbungen/<int:case_id>/praxisprojekt": lambda w: f"/bewerbungen/{w.attending.id}/praxisprojekt",
    "/bewerbungen/zertifikate/<serial>.pdf": lambda w: f"/bewerbungen/zertifikate/{w.certificate.serial}.pdf",
    "/gutachten/<int:case_id>": lambda w: f"/gutachten/{w.submitted.id}",
    "/programm/faelle/<int:case_id>/anwesenheit": lambda w: f"/programm/faelle/{w.attending.id}/anwesenheit",
    "/programm/faelle/<int:case_id>/praxisprojekt": lambda w: (
        f"/programm/faelle/{w.attending.id}/praxisprojekt"
    ),
    "/programm/faelle/<int:case_id>/zertifikate": lambda w: f"/programm/faelle/{w.certified.id}/zertifikate",
    "/programm/faelle/<int:case_id>/zertifikate/<int:certificate_id>/widerrufen": lambda w: (
        f"/programm/faelle/{w.certified.id}/zertifikate/{w.certificate.id}/widerrufen"
    ),
    "/programm/faelle/<int:case_id>/zertifikate/<int:certificate_id>/ersetzen": lambda w: (
        f"/programm/faelle/{w.certified.id}/zertifikate/{w.certificate.id}/ersetzen"
    ),
    "/programm/faelle/<int:case_id>/aufbewahrungssperre": lambda w: (
        f"/programm/faelle/{w.submitted.id}/aufbewahrungssperre"
    ),
    "/programm/durchgaenge/<int:number>/zertifikate": lambda w: (
        f"/programm/durchgaenge/{w.cohort.number}/zertifikate"
    ),
    "/programm/durchgaenge/<int:number>/bearbeiten": lambda w: (
        f"/programm/durchgaenge/{w.cohort.number}/bearbeiten"
    ),
    "/programm/durchgaenge/<int:number>/termine/neu": (
        lambda w: f"/programm/durchgaenge/{w.cohort.number}/termine/neu"
    ),
    "/programm/durchgaenge/<int:number>/termine/<int:session_id>": (
        lambda w: f"/programm/durchgaenge/{w.cohort.number}/termine/{w.cohort.sessions[0].id}"
    ),
    "/programm/durchgaenge/<int:number>/termine/<int:session_id>/absagen": (
        lambda w: f"/programm/durchgaenge/{w.cohort.number}/termine/{w.cohort.sessions[0].id}/absagen"
    ),
    "/pruefung/faelle/<int:case_id>": lambda w: f"/pruefung/faelle/{w.submitted.id}",
    "/pruefung/export.<any(csv, jsonl):fmt>": lambda w: "/pruefung/export.jsonl",
    "/programm/bewerbungen/export.<any(csv, xlsx):fmt>": lambda w: "/programm/bewerbungen/export.csv",
    "/programm/durchgaenge/<int:number>/anwesenheit.<any(csv, xlsx):fmt>": lambda w: (
        f"/programm/durchgaenge/{w.cohort.number}/anwesenheit.csv"
    ),
    # Accounts and tokens: admins only (an applicant is refused whoever the account belongs to).
    "/verwaltung/zugaenge/<int:user_id>": lambda w: f"/verwaltung/zugaenge/{w.user.id}",
    "/verwaltung/zugaenge/<int:user_id>/rolle": lambda w: f"/verwaltung/zugaenge/{w.user.id}/rolle",
    "/verwaltung/zugaenge/<int:user_id>/deaktivieren": lambda w: (
        f"/verwaltung/zugaenge/{w.user.id}/deaktivieren"
    ),
    "/verwaltung/zugaenge/<int:user_id>/reaktivieren": lambda w: (
        f"/verwaltung/zugaenge/{w.user.id}/reaktivieren"
    ),
    "/verwaltung/zugaenge/<int:user_id>/tokens": lambda w: f"/verwaltung/zugaenge/{w.user.id}/tokens",
    "/verwaltung/zugaenge/<int:user_id>/zweiter-faktor/zuruecksetzen": lambda w: (
        f"/verwaltung/zugaenge/{w.user.id}/zweiter-faktor/zuruecksetzen"
    ),
    "/verwaltung/tokens/<int:token_id>/widerrufen": lambda w: (
        f"/verwaltung/tokens/{w.spare_token.id}/widerrufen"
    ),
    # Access requests: the programme office decides (an applicant is refused whatever the request).
    "/programm/zugaenge/anfragen/<int:request_id>/bestaetigen": lambda w: (
        f"/programm/zugaenge/anfragen/{w.access_request.id}/bestaetigen"
    ),
    "/programm/zugaenge/anfragen/<int:request_id>/ablehnen": lambda w: (
        f"/programm/zugaenge/anfragen/{w.access_request.id}/ablehnen"
    ),
}
#: Public pages whose argument is a secret (a capability, not an id): a guessed one finds nothing.
CAPABILITY_PAGES = {
    "/unsubscribe/<token>": "/unsubscribe/q6Vx0p3mYbQe8yWc9sJrTt2uLkAa1BnD",
    "/verify/<code>": "/verify/Zx81mNq4rT6yWb2c",
    "/passwort-vergessen/<token>": "/passwort-vergessen/m3Qw9zR1bT5yVc8xK2pL7nD4fH6jG0sA1eU3iO5aW9",
    "/zugang/<token>": "/zugang/k7Vb2nQ9wE4rT1yU8iO3pA6sD5fG0hJ2lZ9xC4vB7nM",
}
#: Files shipped with the package: (a way out of the folder, which is not found; a file that is served).
ASSET_PAGES = {
    "/static/<path:filename>": ("/static/..%2f..%2fews_cases%2fsettings.py", "/static/ews.css"),
    "/bootstrap/static/<path:filename>": (
        "/bootstrap/static/..%2f..%2f..%2fflask%2fapp.py",
        "/bootstrap/static/css/bootstrap.min.css",
    ),
}
#: A form post that would be valid for the owner on most of these pages (the refusal must come first).
FORM_DATA = {
    **COMPLETE,
    "version": "1",
    "name": "withdraw",
    "reason": "Fremder Eingriff",
    "decision": "approve",
    "title": "Fremder Titel",
}


def api_rules(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in rules_with_arguments(app, api=True) for method in methods(rule)}


def page_rules(app) -> set[str]:
    return {rule.rule for rule in rules_with_arguments(app, api=False)}


ID_ROWS = [row for row in MATRIX if "<" in row.rule]


def test_every_route_with_an_argument_is_covered(app):
    uncovered_api = sorted(api_rules(app) - set(ROWS) - set(SHARED_API))
    assert uncovered_api == [], "API routes with an id and no row in tests/api/test_role_matrix.MATRIX"
    assert {row.key for row in ID_ROWS} == api_rules(app)
    assert set(SHARED_API) <= api_rules(app), "SHARED_API names a route the app does not serve"
    pages = page_rules(app)
    tables = (OWNED_PAGES, CAPABILITY_PAGES, ASSET_PAGES)
    covered = [rule for table in tables for rule in table]
    assert len(covered) == len(set(covered)), "a page appears in two tables"
    assert sorted(pages - set(covered)) == [], "pages with an argument that no table here covers"
    assert sorted(set(covered) - pages) == [], "tables here name pages the app does not serve"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def world(session, factory) -> World:
    return World(session, factory)


def targets(world: World) -> set[str]:
    """What would betray Finnentrop's data in an answer: the references and contact addresses arranged."""
    cases = [v for v in vars(world).values() if hasattr(v, "reference")] + list(world._drafts.values())
    return {case.reference for case in cases} | {case.contact_email for case in cases}


def owner_role(row: Row) -> str:
    allowed = sorted(row.allowed or ())
    return APPLICANT if APPLICANT in allowed else allowed[0]


@pytest.mark.parametrize("row", [row for row in ID_ROWS if row.key not in SHARED_API], ids=str)
def test_the_api_refuses_another_municipalitys_data(client, db, session, factory, world, row):
    attacker = stranger(session, factory)
    call = row.build(world, owner_role(row))
    session.commit()
    before = Snapshot.take(db)
    response = client.open(call.path, method=row.method, json=call.json, headers=attacker.headers)
    body = response.get_data(as_text=True)
    response.close()
    assert_problem_json(response, (403, 404))
    assert not {t for t in targets(world) if t in body}, body
    assert Snapshot.take(db) == before, f"{row}: a refused request changed data"


@pytest.mark.parametrize("key", sorted(SHARED_API), ids=" ".join)
def test_shared_reference_data_is_readable_by_every_applicant(client, session, factory, world, key):
    row = ROWS[key]
    call = row.build(world, APPLICANT)
    attacker = stranger(session, factory)
    response = client.get(call.path, headers=attacker.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


def test_lists_and_searches_show_no_case_of_another_municipality(client, session, factory, world):
    cases = [world.submitted, world.attending, world.draft(APPLICANT)]
    attacker = stranger(session, factory)
    own = factory.case(world.empty_cohort, attacker.user.municipality_ags)
    session.commit()
    for query in ("", f"?q={cases[0].reference}", "?q=Finnentrop", f"?cohort={cases[0].cohort.number}"):
        response = client.get(f"/api/v1/cases{query}", headers=attacker.headers)
        assert response.status_code == 200
        assert {item["municipality"]["ags"] for item in response.get_json()["items"]} <= {
            own.municipality_ags
        }
    assert [i["id"] for i in client.get("/api/v1/cases", headers=attacker.headers).get_json()["items"]] == [
        own.id
    ]


def test_the_api_refuses_a_new_case_for_another_municipality(client, db, session, factory, world):
    attacker = stranger(session, factory)
    body = {
        "cohort": world.empty_cohort.number,
        "municipality": FINNENTROP,
        "contact": {"name": "Fremd", "email": "fremd@example.org", "phone": "0"},
        "consent": True,
    }
    session.commit()
    before = Snapshot.take(db)
    assert_problem_json(client.post("/api/v1/cases", json=body, headers=attacker.headers), (403,))
    assert Snapshot.take(db) == before


@pytest.mark.parametrize("rule", sorted(OWNED_PAGES))
def test_pages_refuse_another_municipalitys_data(app, client, db, session, factory, world, rule):
    [served] = [r for r in rules_with_arguments(app, api=False) if r.rule == rule]
    attacker = stranger(session, factory)
    data = {**FORM_DATA, "csrf_token": sign_in(client, attacker)}
    url = OWNED_PAGES[rule](world)
    session.commit()
    before = Snapshot.take(db)
    for method in methods(served):
        response = client.open(url, method=method, data=data if method == "POST" else None)
        page = assert_german_error_page(response, (403, 404))
        assert not {t for t in targets(world) if t in page}
    assert Snapshot.take(db) == before, f"{rule}: a refused request changed data"
    assert client.get("/bewerbungen").status_code == 200  # still signed in: the refusal was about the data


@pytest.mark.parametrize("rule", sorted(CAPABILITY_PAGES))
def test_a_guessed_capability_finds_nothing(client, db, session, factory, world, rule):
    world.certificate  # noqa: B018 - arranged so that there is something to guess
    factory.user("applicant", FINNENTROP)
    session.commit()
    before = Snapshot.take(db)
    response = client.get(CAPABILITY_PAGES[rule])
    assert response.status_code == 404
    assert Snapshot.take(db) == before


@pytest.mark.parametrize("rule", sorted(ASSET_PAGES))
def test_asset_paths_do_not_leave_their_folder(client, rule):
    escape, served = ASSET_PAGES[rule]
    assert client.get(escape).status_code == 404
    response = client.get(served)
    assert response.status_code == 200
    response.close()
