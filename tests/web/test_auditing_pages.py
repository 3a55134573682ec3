"""The auditor's pages: the filtered log with its pages and exports, a case's timeline, the chain status —
and that nothing on them (or forged by hand) lets an auditor change anything."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ews_cases.audit.chain import verify_jsonl
from ews_cases.audit.export import CSV_COLUMNS
from ews_cases.models import AuditEvent, Case, User, case_chain, utcnow
from ews_cases.services.cases import CaseInput, update_draft
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, complete_content
from tests.test_audit import forge_data
from tests.web.helpers import csrf_token, login
from workflows import BERLIN, State

PASSWORD = "Pruefung-Passwort-1"


def listed(page: str) -> list[int]:
    """The sequence numbers of the log rows on a page, in page order."""
    return [int(n) for n in re.findall(r'<tr data-sequence="(\d+)"', page)]


def sequences(session, *conditions) -> list[int]:
    ids = session.scalars(select(AuditEvent.id).where(*conditions).order_by(AuditEvent.id)).all()
    session.commit()
    return list(ids)


def get_page(client, url: str, **params) -> str:
    response = client.get(url, query_string=params or None)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_data(as_text=True)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def auditor(session, factory):
    user = factory.user("auditor", password=PASSWORD)
    session.commit()
    return user


@pytest.fixture
def world(session, factory):
    """Two cohorts with cases in several states, and a draft whose motivation was edited."""
    # A cohort title with umlauts: recorded in clear (personal values are commitments), so the exports show them.
    first, second = factory.cohort(title="Entwicklungswerkstatt Südwestfalen"), factory.cohort()
    cases = {
        "admitted": factory.case(first, FINNENTROP, state=State.ADMITTED),
        "submitted": factory.case(first, ATTENDORN, state=State.SUBMITTED),
        "reviewed": factory.case(second, DUESSELDORF, state=State.REVIEWED),
        "draft": factory.case(second, BONN),
    }
    content = complete_content()
    edited = CaseInput(
        **{
            **{f: getattr(content, f) for f in ("contact_name", "contact_email", "contact_phone", "team")},
            "answers": {**content.answers, "motivation": "Neue Motivation nach Rücksprache."},
            "consent": True,
        },
    )
    draft = cases["draft"]
    update_draft(session, draft, factory.coordinator(), expected_version=draft.version, content=edited)
    session.commit()
    return {"cohorts": (first, second), "cases": cases}


# -- the log -----------------------------------------------------------------------------------------------


def test_log_lists_every_event_oldest_first(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    page = get_page(client, "/pruefung", limit=500)
    assert listed(page) == sequences(session)
    assert world["cases"]["admitted"].reference in page
    assert "Zugelassen von Coordinator" in page  # each event as a German sentence
    assert 'id="weitere"' not in page


def test_log_filters_narrow_the_results(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    first, second = world["cohorts"]
    cases = world["cases"]
    everything = sequences(session)

    by_cohort = listed(get_page(client, "/pruefung", cohort=second.number, limit=500))
    assert by_cohort == sequences(session, AuditEvent.cohort_number == second.number)
    assert 0 < len(by_cohort) < len(everything)

    by_reference = listed(get_page(client, "/pruefung", case=cases["admitted"].reference, limit=500))
    assert by_reference == sequences(session, AuditEvent.case_id == cases["admitted"].id)
    assert listed(get_page(client, "/pruefung", case=str(cases["admitted"].id), limit=500)) == by_reference

    transitions = listed(get_page(client, "/pruefung", action="transition.*", limit=500))
    assert transitions == sequences(session, AuditEvent.action.like("transition.%"))
    admits = listed(get_page(client, "/pruefung", action="transition.admit", limit=500))
    assert admits == sequences(session, AuditEvent.action == "transition.admit")
    assert len(admits) == 1

    system = listed(get_page(client, "/pruefung", actor="system:record_review", limit=500))
    assert system == sequences(session, AuditEvent.actor == "system:record_review")
    assert system

    combined = listed(get_page(client, "/pruefung", cohort=first.number, action="review.*", limit=500))
    assert combined == sequences(
        session, AuditEvent.cohort_number == first.number, AuditEvent.action.like("review.%")
    )
    assert combined


def test_log_filters_by_person_email(client, session, factory, auditor, world):
    login(client, auditor.email, PASSWORD)
    case = world["cases"]["draft"]
    creator = session.scalar(
        select(AuditEvent.actor).where(AuditEvent.case_id == case.id, AuditEvent.action == "case.created")
    )
    session.commit()
    email = session.get(User, int(creator.removeprefix("user:"))).email
    session.commit()
    rows = listed(get_page(client, "/pruefung", actor=email.upper(), limit=500))
    assert rows == sequences(session, AuditEvent.actor == creator)


def test_log_filters_by_berlin_days(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    today = utcnow().astimezone(BERLIN).date()
    everything = sequences(session)
    assert (
        listed(
            get_page(client, "/pruefung", limit=500, **{"from": today.isoformat(), "to": today.isoformat()})
        )
        == everything
    )
    german = today.strftime("%d.%m.%Y")
    assert listed(get_page(client, "/pruefung", limit=500, **{"from": german})) == everything
    assert listed(get_page(client, "/pruefung", **{"from": (today + timedelta(days=1)).isoformat()})) == []
    assert listed(get_page(client, "/pruefung", **{"to": (today - timedelta(days=1)).isoformat()})) == []


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "30.13.2027"}, "from", "Bitte ein Datum angeben"),
        ({"from": "2027-06-30", "to": "2027-06-01"}, "to", "„bis“ muss nach „von“ liegen."),
        ({"action": "trans*ition"}, "action", "Erwartet wird z. B. transition.admit"),
        ({"case": "EWS99-9999"}, "case", "Kein Fall mit dem Aktenzeichen EWS99-9999."),
        ({"actor": "jemand"}, "actor", "Erwartet wird eine E-Mail-Adresse"),
        ({"cohort": "sechs"}, "cohort", "Bitte eine Durchgangsnummer angeben."),
    ],
)
def test_invalid_filters_are_explained_next_to_the_field(client, auditor, world, params, field, message):
    login(client, auditor.email, PASSWORD)
    response = client.get("/pruefung", query_string=params)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    errors = re.search(rf'<div id="{field}-fehler"[^>]*>(.*?)</div>', page, re.S)
    assert errors, page
    assert message in errors.group(1)
    for value in params.values():
        assert f'value="{value}"' in page  # kept in the form
    assert listed(page) == []


def test_log_pages_follow_the_keyset_cursor(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    everything = sequences(session)
    assert len(everything) > 12
    seen, url, pages = [], "/pruefung?limit=5&cohort=", 0
    while url:
        page = get_page(client, url.replace("&amp;", "&"))
        rows = listed(page)
        assert 0 < len(rows) <= 5
        seen += rows
        pages += 1
        found = re.search(r'<a [^>]*href="([^"]+)"[^>]*id="weitere"', page)
        assert ("Weitere Einträge" in page) == bool(found)
        url = found.group(1) if found else None
        assert pages < 100
    assert seen == everything
    assert pages == -(-len(everything) // 5)


def test_pages_keep_the_filters(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    cohort = world["cohorts"][0].number
    expected = sequences(session, AuditEvent.cohort_number == cohort)
    seen, url = [], f"/pruefung?limit=3&cohort={cohort}"
    while url:
        page = get_page(client, url.replace("&amp;", "&"))
        seen += listed(page)
        found = re.search(r'<a [^>]*href="([^"]+)"[^>]*id="weitere"', page)
        url = found.group(1) if found else None
    assert seen == expected


def test_a_broken_cursor_is_explained(client, auditor, world):
    login(client, auditor.email, PASSWORD)
    response = client.get("/pruefung", query_string={"cursor": "!!"})
    assert response.status_code == 422
    assert "Ungültiger Cursor." in response.get_data(as_text=True)


# -- exports -----------------------------------------------------------------------------------------------


def test_export_links_download_csv_and_json_lines_that_verify(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    page = get_page(client, "/pruefung")
    csv_url = re.search(r'id="export-csv" href="([^"]+)"', page).group(1)
    jsonl_url = re.search(r'id="export-jsonl" href="([^"]+)"', page).group(1)
    assert (csv_url, jsonl_url) == ("/pruefung/export.csv", "/pruefung/export.jsonl")
    count = len(sequences(session))

    response = client.get(csv_url)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=ews-audit-")
    # For people: Excel in a German locale (BOM, semicolons, CRLF); umlauts survive `utf-8-sig`.
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    assert body.split(b"\n", 1)[0].endswith(b"\r")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == count + 1
    data = CSV_COLUMNS.index("data")
    assert any(set("äöüÄÖÜß") & set(row[data]) for row in rows[1:])
    # For tools: the comma-separated form, without BOM.
    tools_url = re.search(r'id="export-csv-rfc4180" href="([^"]+)"', page).group(1)
    assert tools_url == "/pruefung/export.csv?dialect=rfc4180"
    tools = client.get(tools_url).get_data()
    assert not tools.startswith(b"\xef\xbb\xbf")
    assert list(csv.reader(io.StringIO(tools.decode("utf-8"), newline=""))) == rows
    assert client.get("/pruefung/export.csv?dialect=excel-en").status_code == 400

    response = client.get(jsonl_url)
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    lines = response.get_data().splitlines()
    result = verify_jsonl(lines)
    assert result.ok, result.breaks
    assert result.events == count


def test_a_filtered_export_of_one_case_verifies(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    case = world["cases"]["admitted"]
    page = get_page(client, "/pruefung", case=case.reference)
    jsonl_url = re.search(r'id="export-jsonl" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    response = client.get(jsonl_url)
    assert response.status_code == 200
    result = verify_jsonl(response.get_data().splitlines())
    assert result.ok
    assert result.chains == 1
    assert result.events == len(sequences(session, AuditEvent.case_id == case.id))


def test_unknown_export_formats_are_not_found(client, auditor):
    login(client, auditor.email, PASSWORD)
    assert client.get("/pruefung/export.xml").status_code == 404


# -- timeline and chain ------------------------------------------------------------------------------------


def test_timeline_shows_who_when_what_and_old_and_new_values(client, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    case = world["cases"]["draft"]
    page = get_page(client, f"/pruefung/faelle/{case.id}")
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.position)
    ).all()
    session.commit()
    assert [int(n) for n in re.findall(r'id="ereignis-(\d+)"', page)] == [e.id for e in events]
    edit = page.split(f'id="ereignis-{events[-1].id}"', 1)[1]
    assert "Bewerbung bearbeitet von Coordinator" in edit
    row = re.search(r'<li class="change[^"]*">(.*?)</li>', edit, re.S).group(1)
    assert "Motivation:" in row
    assert "„<del>Wir wollen Engagement stärken.</del>“" in row
    assert "„<ins>Neue Motivation nach Rücksprache.</ins>“" in row
    moment = events[-1].occurred_at.astimezone(BERLIN).strftime("%d.%m.%Y %H:%M:%S")
    assert moment in edit
    assert "Programmbüro" in edit  # the role of the person who edited
    assert "Prüfkette intakt" in page


def test_timeline_shows_state_changes(client, auditor, world):
    login(client, auditor.email, PASSWORD)
    page = get_page(client, f"/pruefung/faelle/{world['cases']['admitted'].id}")
    assert "Eingereicht → Begutachtet" in page
    assert "Begutachtet → Zugelassen" in page
    # The automatic transition says what fired it.
    assert "Begutachtung abgeschlossen (automatisch: Gutachteneingang): Eingereicht → Begutachtet" in page


def test_timeline_of_an_unknown_case_is_not_found(client, auditor):
    login(client, auditor.email, PASSWORD)
    assert client.get("/pruefung/faelle/999999").status_code == 404


def test_chain_status_is_intact_and_then_names_the_first_broken_event(client, db, session, auditor, world):
    login(client, auditor.email, PASSWORD)
    page = get_page(client, "/pruefung/pruefkette")
    assert "Prüfkette intakt" in page
    assert 'data-ok="true"' in page

    case = world["cases"]["admitted"]
    target = session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id).order_by(AuditEvent.position).offset(1)
    ).first()
    session.commit()
    forge_data(db, target.id, reason="nachträglich eingefügt")  # lifts the trigger, restores it after

    page = get_page(client, "/pruefung/pruefkette")
    assert "Prüfkette unterbrochen" in page
    assert "Prüfkette intakt" not in page
    broken = page.split('id="erster-bruch"', 1)[1].split("</dl>", 1)[0]
    assert f"<code>{case_chain(case.id)}</code>" in broken
    assert f">{target.position}</dd>" in broken
    assert f">{target.id}</dd>" in broken
    assert "nachträglich verändert" in broken

    timeline = get_page(client, f"/pruefung/faelle/{case.id}")
    assert "Prüfkette unterbrochen" in timeline
    assert (
        "Kette hier unterbrochen" in timeline.split(f'id="ereignis-{target.id}"', 1)[1].split("</li>", 1)[0]
    )
    other = get_page(client, f"/pruefung/faelle/{world['cases']['reviewed'].id}")
    assert "Prüfkette intakt" in other


# -- auditors read, never write ----------------------------------------------------------------------------


def post_forms(page: str) -> list[str]:
    return [f for f in re.findall(r"<form\b[^>]*>", page, re.I) if re.search(r'method="?post', f, re.I)]


def test_auditor_pages_have_no_form_that_changes_anything(client, auditor, world):
    login(client, auditor.email, PASSWORD)
    case = world["cases"]["admitted"]
    pages = ("/pruefung", "/pruefung?limit=3", f"/pruefung/faelle/{case.id}", "/pruefung/pruefkette")
    for url in (*pages, "/pruefung/bewerbungen", "/pruefung/bewerbungen?q=EWS"):
        page = get_page(client, url)
        # Only the header's logout form posts (it ends the auditor's own session).
        assert post_forms(page) == ['<form method="post" action="/abmelden" class="d-inline ms-2">'], url
        main = page.split("<main", 1)[1]
        forms = re.findall(r"<form\b[^>]*>", main)
        assert all('method="get"' in f for f in forms), url
        # The one button in the page's content is the filter's or the search's (a GET form).
        buttons = re.findall(r"<button[^>]*>([^<]*)</button>", main)
        assert buttons == ([("Suchen" if "bewerbungen" in url else "Anzeigen")] if forms else []), url


def test_a_forged_transition_by_an_auditor_is_refused_and_changes_nothing(client, session, auditor, world):
    case = world["cases"]["reviewed"]
    before = (case.state, case.version, len(sequences(session)))
    login(client, auditor.email, PASSWORD)
    token = csrf_token(get_page(client, "/pruefung"))
    response = client.post(
        f"/faelle/{case.id}/aktion",
        data={"name": "admit", "version": str(case.version), "csrf_token": token},
    )
    assert response.status_code in (303, 403)
    if response.status_code == 303:
        refusal = client.get(response.headers["Location"]).get_data(as_text=True)
        assert 'class="alert alert-danger"' in refusal
    session.commit()
    stored = session.get(Case, case.id)
    session.refresh(stored)
    assert (stored.state, stored.version, len(sequences(session))) == before
    assert (
        session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "transition.admit")
        )
        == 1
    )


def test_coordinators_may_read_the_auditor_pages(client, session, factory, world):
    coordinator = factory.user("coordinator", password=PASSWORD)
    session.commit()
    login(client, coordinator.email, PASSWORD)
    assert client.get("/pruefung").status_code == 200
    assert client.get("/pruefung/pruefkette").status_code == 200
    assert client.get("/pruefung/bewerbungen").status_code == 200
    assert client.get(f"/pruefung/faelle/{world['cases']['admitted'].id}").status_code == 200
    response = client.get("/pruefung/export.csv")
    assert response.status_code == 200
    response.close()


@pytest.mark.parametrize("role", ["applicant", "reviewer", "admin"])
def test_other_roles_cannot_open_the_auditor_pages(client, session, factory, world, role):
    user = factory.user(role, FINNENTROP if role == "applicant" else None, password=PASSWORD)
    session.commit()
    login(client, user.email, PASSWORD)
    case = world["cases"]["admitted"]
    for url in (
        "/pruefung",
        "/pruefung/export.jsonl",
        f"/pruefung/faelle/{case.id}",
        "/pruefung/pruefkette",
        "/pruefung/bewerbungen",
    ):
        assert client.get(url).status_code == 403, url


def test_auditor_pages_require_login(client):
    response = client.get("/pruefung/export.jsonl")
    assert response.status_code == 302
    assert "/anmelden" in response.headers["Location"]
