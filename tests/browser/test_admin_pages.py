"""Account administration in the browser: an admin finds a person, changes their role, gives them a token
that is shown once, and deactivates them — whose open session and token stop working at once. axe-core on
every page of `/verwaltung`, including a refused form and the one-time token page."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy.orm import Session

from ews_cases.services.accounts import new_token
from testkit.factories import FINNENTROP, SYSTEM
from tests.browser.conftest import assert_accessible, field, login


def api_status(page: Page, token: str) -> int:
    """What the API answers this token (200 while it works, 401 once refused)."""
    return page.request.get("/api/v1/workflow", headers={"Authorization": f"Bearer {token}"}).status


def test_admin_finds_a_person_changes_their_role_and_deactivates_them(
    page: Page, new_page, person, session: Session
):
    admin = person("admin", name="Ada Administration")
    rita = person("reviewer", FINNENTROP, name="Rita Rat")
    person("reviewer", name="Rolf Rüdiger")
    person("auditor", name="Ute Urteil")
    old_token = new_token(session, SYSTEM, rita, name="Altes Fachverfahren").secret
    session.commit()

    # Rita works in her own browser, with an API token beside.
    theirs = new_page()
    login(theirs, rita.email)
    expect(theirs).to_have_url(re.compile(r"/gutachten$"))
    assert api_status(theirs, old_token) == 200

    # The admin lands on the accounts, searches and opens Rita's page.
    login(page, admin.email)
    expect(page).to_have_url(re.compile(r"/verwaltung$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Zugänge")
    assert_accessible(page)
    search = page.get_by_role("search", name="Zugänge suchen")
    search.get_by_label("Name oder E-Mail-Adresse").fill("rat")
    search.get_by_label("Rolle").select_option(label="Gutachterin / Gutachter")
    search.get_by_role("button", name="Suchen").click()
    expect(page.get_by_role("status").filter(has_text="gefunden")).to_have_text("Ein Zugang gefunden.")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    rows.get_by_role("link", name="Rita Rat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Rita Rat")
    assert_accessible(page)

    # Role: from reviewer to the programme office, with a reason.
    access = page.get_by_role("region", name="Rolle und Zuordnung")
    access.get_by_label("Rolle").select_option(label="Programmbüro")
    access.get_by_label("Begründung").fill("Wechsel ins Programmbüro")
    access.get_by_role("button", name="Rolle und Zuordnung speichern").click()
    expect(page.get_by_role("status").filter(has_text="gespeichert")).to_have_text(
        "Rolle und Zuordnung von Rita Rat gespeichert."
    )
    expect(page.locator("dd[data-role]")).to_have_text("Programmbüro")
    # Rita's open session has her new role at once: the reviewers' area is closed, the office's open.
    assert (theirs.goto("/gutachten") or _missing()).status == 403
    assert (theirs.goto("/programm") or _missing()).status == 200

    # A new token with an expiry date: shown once, with the hint to copy it now.
    tokens = page.get_by_role("region", name="API-Tokens")
    field(tokens, "Bezeichnung").fill("Auswertung")
    tokens.get_by_label("Gültig bis einschließlich").fill("2099-12-31")
    tokens.get_by_role("button", name="Token erstellen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Neuer API-Token für Rita Rat")
    expect(page.get_by_role("alert")).to_contain_text("nur dieses eine Mal angezeigt")
    expect(page.get_by_text("Gültig bis: 31.12.2099, 23:59 Uhr")).to_be_visible()
    new_secret = page.get_by_label("Token „Auswertung“").input_value()
    assert len(new_secret) >= 40
    assert_accessible(page)
    assert api_status(theirs, new_secret) == 200
    page.get_by_role("link", name="Fertig – zurück zum Zugang").click()
    assert new_secret not in page.content()
    listed = page.locator("tr[data-token]").filter(has_text="Auswertung")
    expect(listed).to_have_attribute("data-status", "active")
    expect(listed).to_contain_text("31.12.2099")

    # Deactivation: Rita's session ends and both tokens are refused, at once.
    status = page.get_by_role("region", name="Zugang deaktivieren")
    status.get_by_label("Begründung").fill("hat das Programmbüro verlassen")
    status.get_by_role("button", name="Zugang deaktivieren").click()
    expect(page.get_by_text("Der Zugang von Rita Rat ist deaktiviert.")).to_be_visible()
    expect(page.locator("span[data-status]")).to_have_text("deaktiviert")
    expect(page.get_by_role("region", name="Zugang reaktivieren")).to_be_visible()
    theirs.goto("/programm")
    expect(theirs).to_have_url(re.compile(r"/anmelden"))
    assert api_status(theirs, old_token) == 401
    assert api_status(theirs, new_secret) == 401
    # The search finds her among the deactivated.
    page.goto("/verwaltung?status=inactive")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr")).to_contain_text("Rita Rat")


def _missing():  # pragma: no cover - page.goto answers for every http(s) URL
    raise AssertionError("no response")


def test_a_new_account_form_explains_refusals_and_stays_accessible(page: Page, person):
    admin = person("admin", name="Ada Administration")
    login(page, admin.email)
    page.get_by_role("link", name="Neuen Zugang anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Neuer Zugang")
    assert_accessible(page)
    field(page, "Name").fill("Nina Neu")
    field(page, "E-Mail-Adresse").fill("nina.neu@finnentrop.de")
    page.get_by_label("Rolle").select_option(label="Antragstellende (Kommune)")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Zugang anlegen").click()
    assert answer.value.status == 422
    municipality = page.get_by_label("Kommune / Zugehörigkeit")
    expect(municipality).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#municipality-fehler")).to_have_text(
        "Antragstellende müssen einer Kommune zugeordnet sein."
    )
    expect(field(page, "Name")).to_have_value("Nina Neu")
    assert_accessible(page)
    municipality.select_option(label="Finnentrop (Kreis Olpe) · 05966012")
    page.get_by_role("button", name="Zugang anlegen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Nina Neu")
    expect(page.get_by_role("status").filter(has_text="Nächster Schritt")).to_contain_text(
        "Passwort vergessen?"
    )
    assert_accessible(page)
