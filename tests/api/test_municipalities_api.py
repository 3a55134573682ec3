"""The municipality reference list and the reminder contacts over HTTP, and the contacts service behind them.

The test session is committed before every request: on SQLite an open transaction holds the write lock.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ews_cases.errors import NotFound
from ews_cases.models import AuditEvent, Contact, Municipality
from ews_cases.services.contacts import import_contacts, opt_out
from testkit.factories import ATTENDORN, FINNENTROP
from tests.api.test_participation_api import assert_problem, bearer, token_for
from tests.test_cli_audit import ews
from workflows import Actor

ROLES = ("coordinator", "auditor", "applicant", "reviewer", "admin")
CONTACT = {"name": "Erika Beispiel", "email": "Erika.Beispiel@Finnentrop.de"}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(session, factory):
    return {
        role: token_for(session, factory, role, FINNENTROP if role == "applicant" else None) for role in ROLES
    }


def search(client, token: str, **query):
    response = client.get("/api/v1/municipalities", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def walk(client, token: str, **query) -> list[dict]:
    """Every item of a paginated list, following next_cursor."""
    items: list[dict] = []
    cursor = None
    for _ in range(1000):
        page = search(client, token, **query, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= query.get("limit", 50)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination does not end")


# -- reference list ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_role_searches_municipalities(client, tokens, role):
    (finnentrop,) = search(client, tokens[role], q="finnentrop")["items"]
    assert finnentrop == {
        "ags": FINNENTROP,
        "name": "Finnentrop",
        "type": "Gemeinde",
        "kreis_ags": "05966000",
        "kreis_name": "Kreis Olpe",
        "regierungsbezirk": "Arnsberg",
    }


def test_the_list_needs_a_token(client):
    assert_problem(client.get("/api/v1/municipalities"), 401)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("KÖLN", "Köln"),
        ("köln", "Köln"),
        ("übach", "Übach-Palenberg"),
        ("ÜBACH", "Übach-Palenberg"),
        ("  Düsseldorf ", "Düsseldorf"),
    ],
)
def test_search_ignores_case_including_umlauts(client, tokens, q, expected):
    names = [m["name"] for m in search(client, tokens["applicant"], q=q)["items"]]
    assert expected in names


def test_search_by_ags_prefix(client, session, tokens):
    items = walk(client, tokens["reviewer"], q="05966", limit=500)
    expected = session.scalar(select(func.count()).where(Municipality.ags.startswith("05966")))
    session.commit()
    assert len(items) == expected > 1
    assert all(m["ags"].startswith("05966") for m in items)
    assert FINNENTROP in {m["ags"] for m in items}
    (exact,) = search(client, tokens["reviewer"], q=FINNENTROP)["items"]
    assert exact["name"] == "Finnentrop"


def test_like_wildcards_in_the_query_are_plain_text(client, tokens):
    assert search(client, tokens["auditor"], q="%")["items"] == []
    assert search(client, tokens["auditor"], q="_")["items"] == []


def test_pages_walk_all_427_municipalities_by_name_exactly_once(client, session, tokens):
    items = walk(client, tokens["coordinator"], limit=50)
    total = session.scalar(select(func.count()).select_from(Municipality))
    session.commit()
    assert total == 427
    keys = [m["ags"] for m in items]
    assert len(keys) == len(set(keys)) == total
    # The pages follow the database's own order by name (collations differ in where they put "Ü").
    one_page = search(client, tokens["coordinator"], limit=500)["items"]
    assert keys == [m["ags"] for m in one_page]
    assert [m["name"] for m in one_page[:3]] == ["Aachen", "Ahaus", "Ahlen"]


def test_pages_of_a_search_walk_its_matches_exactly_once(client, tokens):
    everything = search(client, tokens["coordinator"], q="kreis", limit=500)["items"]
    paged = walk(client, tokens["coordinator"], q="kreis", limit=7)
    assert [m["ags"] for m in paged] == [m["ags"] for m in everything]
    assert len(paged) > 7


@pytest.mark.parametrize(
    "query", [{"cursor": "not-a-cursor"}, {"cursor": "W10"}, {"limit": 0}, {"limit": 501}, {"q": "x" * 101}]
)
def test_bad_list_parameters_are_422(client, tokens, query):
    response = client.get("/api/v1/municipalities", query_string=query, headers=bearer(tokens["applicant"]))
    assert_problem(response, 422, *query)


def test_one_municipality_by_ags(client, tokens):
    response = client.get(f"/api/v1/municipalities/{ATTENDORN}", headers=bearer(tokens["applicant"]))
    assert response.status_code == 200
    assert response.get_json()["name"] == "Attendorn"
    missing = client.get("/api/v1/municipalities/05999999", headers=bearer(tokens["applicant"]))
    body = assert_problem(missing, 404)
    assert body["detail"] == "Zum Schlüssel 05999999 ist keine Kommune in NRW bekannt."


# -- contacts ------------------------------------------------------------------------------------------


def post_contact(client, token: str, ags: str = FINNENTROP, body: dict | None = None):
    return client.post(f"/api/v1/municipalities/{ags}/contacts", json=body or CONTACT, headers=bearer(token))


def test_coordinator_adds_a_contact_and_it_is_audited(client, session, tokens):
    response = post_contact(client, tokens["coordinator"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["municipality"] == FINNENTROP
    assert body["name"] == "Erika Beispiel"
    assert body["email"] == "erika.beispiel@finnentrop.de"
    assert body["opted_out_at"] is None
    assert "unsubscribe_token" not in body

    contact = session.get(Contact, body["id"])
    assert len(contact.unsubscribe_token) >= 32
    (event,) = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.created")).all()
    session.commit()
    assert event.chain == "global"
    assert event.data["contact"] == body["id"]
    assert event.data["municipality"] == FINNENTROP


def test_auditor_and_coordinator_list_contacts_with_pages(client, session, tokens):
    for n in range(5):
        body = {"name": f"Person {n}", "email": f"person{n}@finnentrop.de"}
        assert post_contact(client, tokens["coordinator"], body=body).status_code == 201
    assert post_contact(client, tokens["coordinator"], ags=ATTENDORN).status_code == 201
    for role in ("coordinator", "auditor"):
        seen = []
        cursor = None
        while True:
            query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            response = client.get(
                f"/api/v1/municipalities/{FINNENTROP}/contacts",
                query_string=query,
                headers=bearer(tokens[role]),
            )
            assert response.status_code == 200
            page = response.get_json()
            seen += [c["email"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"person{n}@finnentrop.de" for n in range(5)]


def test_the_same_address_twice_for_a_municipality_is_a_conflict(client, tokens):
    assert post_contact(client, tokens["coordinator"]).status_code == 201
    again = {"name": "Nochmal", "email": " ERIKA.beispiel@finnentrop.de "}
    body = assert_problem(post_contact(client, tokens["coordinator"], body=again), 409)
    assert body["detail"] == "erika.beispiel@finnentrop.de ist für Finnentrop bereits eingetragen."
    # The same person may be the contact of another municipality.
    assert post_contact(client, tokens["coordinator"], ags=ATTENDORN).status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Erika", "email": "keine-adresse"}, "email"),
        ({"name": "Erika", "email": "a@b"}, "email"),
        ({"name": "Erika", "email": "zwei @example.org"}, "email"),
        ({"name": "   ", "email": "erika@example.org"}, "name"),
        ({"email": "erika@example.org"}, "name"),
        ({"name": "Erika"}, "email"),
        ({"name": "Erika", "email": "erika@example.org", "phone": "1"}, "phone"),
    ],
)
def test_invalid_contacts_are_422(client, session, tokens, body, field):
    assert_problem(post_contact(client, tokens["coordinator"], body=body), 422, field)
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    session.commit()


@pytest.mark.parametrize("role", ["auditor", "applicant", "reviewer", "admin"])
def test_only_coordinators_add_contacts(client, tokens, role):
    assert_problem(post_contact(client, tokens[role]), 403)


@pytest.mark.parametrize("role", ["applicant", "reviewer", "admin"])
def test_contacts_are_hidden_from_other_roles(client, tokens, role):
    response = client.get(f"/api/v1/municipalities/{FINNENTROP}/contacts", headers=bearer(tokens[role]))
    assert_problem(response, 403)


def test_contacts_of_an_unknown_municipality_are_404(client, tokens):
    assert_problem(post_contact(client, tokens["coordinator"], ags="05999999"), 404)
    response = client.get("/api/v1/municipalities/05999999/contacts", headers=bearer(tokens["auditor"]))
    assert_problem(response, 404)


# -- service: import and opt-out -----------------------------------------------------------------------

SYSTEM = Actor.system("tests")


def test_import_adds_valid_rows_and_skips_the_others_with_reasons(session):
    rows = [
        {"ags": FINNENTROP, "name": "Erika", "email": "erika@finnentrop.de"},
        {
            "ags": "5966004",
            "name": "Anna",
            "email": "anna@attendorn.de",
        },  # leading zero lost in a spreadsheet
        {"ags": "05999999", "name": "Niemand", "email": "n@example.org"},
        {"ags": FINNENTROP, "name": "Erika 2", "email": "ERIKA@finnentrop.de"},
        {"ags": FINNENTROP, "name": "Ohne", "email": "keine-adresse"},
        {"ags": "", "name": "Leer", "email": "leer@example.org"},
        {"ags": FINNENTROP, "name": None, "email": None},
    ]
    result = import_contacts(session, SYSTEM, enumerate(rows, start=2))
    session.commit()
    assert [(c.municipality_ags, c.email) for c in result.added] == [
        (FINNENTROP, "erika@finnentrop.de"),
        (ATTENDORN, "anna@attendorn.de"),
    ]
    skipped = {s.line: s.reason for s in result.skipped}
    assert sorted(skipped) == [4, 5, 6, 7, 8]
    assert "05999999" in skipped[4]
    assert "bereits eingetragen" in skipped[5]
    assert "email" in skipped[6]
    assert "name" in skipped[8]

    again = import_contacts(session, SYSTEM, [(2, rows[0])])
    session.commit()
    assert again.added == []
    assert len(again.skipped) == 1


def test_import_is_for_the_programme_office(session, factory):
    from ews_cases.errors import Forbidden

    auditor = factory.actor("auditor")
    with pytest.raises(Forbidden):
        import_contacts(session, auditor, [(2, {"ags": FINNENTROP, "name": "E", "email": "e@example.org"})])
    session.rollback()


def test_opt_out_is_recorded_once_and_unknown_links_are_not_found(client, session, tokens):
    created = post_contact(client, tokens["coordinator"]).get_json()
    contact = session.get(Contact, created["id"])
    token = contact.unsubscribe_token
    session.commit()

    first = opt_out(session, token)
    moment = first.opted_out_at
    session.commit()
    assert moment is not None
    assert opt_out(session, token).opted_out_at == moment
    session.commit()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact.opted_out")).all()
    session.commit()
    assert len(events) == 1
    assert events[0].actor == "system:unsubscribe"

    listed = client.get(f"/api/v1/municipalities/{FINNENTROP}/contacts", headers=bearer(tokens["auditor"]))
    assert listed.get_json()["items"][0]["opted_out_at"] is not None
    for bad in ("", "unknown-token"):
        with pytest.raises(NotFound):
            opt_out(session, bad)
    session.rollback()


# -- command line: ews contacts import ------------------------------------------------------------------


def test_cli_imports_a_csv_and_reports_what_it_skipped(session, database_url, tmp_path):
    path = tmp_path / "kontakte.csv"
    path.write_text(
        "\ufeffags;name;email\n"  # Excel's UTF-8 with BOM and semicolons
        f"{FINNENTROP};Erika Beispiel;erika@finnentrop.de\n"
        "5966004;Anna Muster;anna@attendorn.de\n"
        "05999999;Niemand;niemand@example.org\n"
        f"{FINNENTROP};Doppelt;ERIKA@finnentrop.de\n",
        encoding="utf-8",
    )
    session.commit()
    result = ews(database_url, "contacts", "import", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "2 hinzugefügt, 2 übersprungen"
    assert lines[0].startswith("Zeile 4: übersprungen: ")
    assert "05999999" in lines[0]
    assert lines[1].startswith("Zeile 5: übersprungen: ")
    assert "bereits eingetragen" in lines[1]
    stored = session.scalars(select(Contact.email).order_by(Contact.id)).all()
    session.commit()
    assert stored == ["erika@finnentrop.de", "anna@attendorn.de"]


@pytest.mark.parametrize(
    "content",
    [b"", b"name,email\nErika,erika@example.org\n", b"ags,name,email\n\xff\xfe05966012,E,e@x.de\n"],
)
def test_cli_refuses_a_malformed_file_with_exit_2(session, database_url, tmp_path, content):
    path = tmp_path / "kaputt.csv"
    path.write_bytes(content)
    session.commit()
    result = ews(database_url, "contacts", "import", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "kaputt.csv" in result.stderr
    assert session.scalar(select(func.count()).select_from(Contact)) == 0
    session.commit()


def test_the_openapi_document_describes_the_municipality_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert "get" in paths["/api/v1/municipalities"]
    assert "get" in paths["/api/v1/municipalities/{ags}"]
    assert {"get", "post"} <= set(paths["/api/v1/municipalities/{ags}/contacts"])
