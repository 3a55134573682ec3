"""The auditor's case list (`/pruefung/bewerbungen`): found by reference, municipality (name or AGS), cohort and
state, page by page, each case leading to its timeline — and nothing on it changes anything."""

from __future__ import annotations

import html
import re

import pytest

from ews_cases.web import auditing
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP
from tests.web.helpers import login
from workflows import State

PASSWORD = "Pruefung-Passwort-1"


@pytest.fixture
def cases(session, factory):
    first, second = (
        factory.cohort(title="7. Entwicklungswerkstatt"),
        factory.cohort(title="8. Entwicklungswerkstatt"),
    )
    found = {
        "finnentrop": factory.case(first, FINNENTROP, state=State.ADMITTED),
        "attendorn": factory.case(first, ATTENDORN, state=State.SUBMITTED),
        "duesseldorf": factory.case(second, DUESSELDORF, state=State.REVIEWED),
        "bonn": factory.case(second, BONN),
    }
    session.commit()
    return found


@pytest.fixture
def client(app, session, factory):
    auditor = factory.user("auditor", password=PASSWORD)
    session.commit()
    client = app.test_client()
    login(client, auditor.email, PASSWORD)
    return client


def listed(client, **params) -> list[str]:
    """The references the list shows, in its order."""
    response = client.get("/pruefung/bewerbungen", query_string=params)
    assert response.status_code == 200
    return re.findall(r'<a href="/pruefung/faelle/\d+">(EWS\d+-\d+)<', response.get_data(as_text=True))


def test_every_case_newest_cohort_first_each_linking_to_its_timeline(client, cases):
    page = client.get("/pruefung/bewerbungen").get_data(as_text=True)
    expected = [cases[k] for k in ("duesseldorf", "bonn", "finnentrop", "attendorn")]
    assert listed(client) == [c.reference for c in expected]
    for case in expected:
        assert f'<a href="/pruefung/faelle/{case.id}">{case.reference}<' in page
    assert "Einträge 1–4 von 4" in page
    assert "Düsseldorf" in page
    assert (
        '<span class="badge text-bg-secondary state-badge" data-state="reviewed">Begutachtet</span>' in page
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "finnentrop"}, ["finnentrop"]),  # part of the name, any case
        ({"q": "düssel"}, ["duesseldorf"]),
        ({"q": "05966"}, ["finnentrop", "attendorn"]),  # the start of the AGS (Kreis Olpe)
        ({"q": "05314000"}, ["bonn"]),
        ({"q": "nirgendwo"}, []),
        ({"status": "submitted"}, ["attendorn"]),
        ({"status": "unbekannt"}, ["duesseldorf", "bonn", "finnentrop", "attendorn"]),  # ignored
        ({"q": "%"}, []),  # searched for as itself, not as a wildcard
    ],
)
def test_search_by_municipality_and_state(client, cases, params, expected):
    assert listed(client, **params) == [cases[k].reference for k in expected]


def test_search_by_reference_and_cohort(client, cases):
    finnentrop, duesseldorf = cases["finnentrop"], cases["duesseldorf"]
    assert listed(client, q=finnentrop.reference.lower()) == [finnentrop.reference]
    cohort = duesseldorf.cohort.number
    assert listed(client, durchgang=cohort) == [duesseldorf.reference, cases["bonn"].reference]
    assert listed(client, durchgang=cohort, status="draft") == [cases["bonn"].reference]
    assert listed(client, durchgang=cohort, q=finnentrop.reference) == []
    page = client.get("/pruefung/bewerbungen", query_string={"q": "nirgendwo"}).get_data(as_text=True)
    assert "Keine Bewerbung passt zu dieser Suche." in page
    assert 'value="nirgendwo"' in page  # kept in the form
    selected = client.get("/pruefung/bewerbungen", query_string={"durchgang": cohort, "status": "draft"})
    assert f'<option value="{cohort}" selected>8. Entwicklungswerkstatt</option>' in selected.get_data(
        as_text=True
    )
    assert '<option value="draft" selected>Entwurf</option>' in selected.get_data(as_text=True)


def test_the_list_pages_and_keeps_its_filters(client, cases, monkeypatch):
    everything = listed(client)
    assert len(everything) == 4
    monkeypatch.setattr(auditing, "CASES_PER_PAGE", 3)
    first = client.get("/pruefung/bewerbungen").get_data(as_text=True)
    assert "Einträge 1–3 von 4 · Seite 1 von 2" in first
    following = html.unescape(re.search(r'<a class="page-link" rel="next" href="([^"]+)"', first).group(1))
    assert following == "/pruefung/bewerbungen?seite=2"
    second = client.get(following).get_data(as_text=True)
    assert "Einträge 4–4 von 4 · Seite 2 von 2" in second
    assert 'rel="next"' not in second
    assert listed(client) + listed(client, seite=2) == everything
    assert listed(client, seite=99) == everything[3:]  # past the end: the last page
    assert listed(client, seite="zwei") == everything[:3]

    monkeypatch.setattr(auditing, "CASES_PER_PAGE", 1)
    filtered = client.get("/pruefung/bewerbungen", query_string={"q": "05966"}).get_data(as_text=True)
    link = html.unescape(re.search(r'<a class="page-link" rel="next" href="([^"]+)"', filtered).group(1))
    assert link == "/pruefung/bewerbungen?seite=2&q=05966"
    assert listed(client, q="05966", seite=2) == [cases["attendorn"].reference]


def test_the_auditor_navigation_leads_to_the_case_list(client, cases):
    page = client.get("/pruefung").get_data(as_text=True)
    nav = page.split('aria-label="Hauptnavigation"', 1)[1].split("</nav>", 1)[0]
    assert re.findall(r'href="([^"]+)">([^<]+)</a>', nav)[1:4] == [
        ("/pruefung", "Protokoll"),
        ("/pruefung/bewerbungen", "Bewerbungen"),
        ("/pruefung/pruefkette", "Prüfkette"),
    ]
