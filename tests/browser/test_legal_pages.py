"""Issue 15, must-hold 4: Impressum, Datenschutzerklärung and Erklärung zur Barrierefreiheit are reached by
clicking the footer links of a page, show what the operator configured (EWS_* environment variables and an
HTML fragment in EWS_LEGAL_DIR), pass axe-core and the Nu HTML Checker; a barrier is reported through the
form without an account."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect
from sqlalchemy import select

from ews_cases.app import create_app
from ews_cases.models import OutboxMessage
from ews_cases.settings import Settings
from tests.browser.conftest import assert_accessible
from tests.browser.page_checks import nu_errors
from tests.conftest import OwnContextClient

OPERATOR = {
    "EWS_LEGAL_BODY": "Ministerium für Heimat, Kommunales, Bau und Digitalisierung des Landes Nordrhein-Westfalen",
    "EWS_OFFICE_ADDRESS": "Jürgensplatz 1, 40219 Düsseldorf",
    "EWS_OFFICE_EMAIL": "ews@mhkbd.nrw.example",
    "EWS_DATA_PROTECTION_OFFICER": "Behördliche Datenschutzbeauftragte, datenschutz@mhkbd.nrw.example",
    "EWS_ACCESSIBILITY_STATEMENT_DATE": "2026-04-30",
}
#: The operator's own statement on accessibility (EWS_LEGAL_DIR/barrierefreiheit.html).
OWN_STATEMENT = (
    "<h2>Stand der Vereinbarkeit</h2><p>Geprüft durch die Überwachungsstelle NRW am 12.03.2026: "
    "weitgehend vereinbar.</p>"
)
#: Footer link → the heading of its page and a text the operator configured.
EXPECTED = {
    "Impressum": ("/impressum", "Impressum", OPERATOR["EWS_LEGAL_BODY"]),
    "Datenschutz": ("/datenschutz", "Datenschutzerklärung", OPERATOR["EWS_DATA_PROTECTION_OFFICER"]),
    "Barrierefreiheit": (
        "/barrierefreiheit",
        "Erklärung zur Barrierefreiheit",
        "Geprüft durch die Überwachungsstelle NRW am 12.03.2026",
    ),
}


@pytest.fixture
def served_app(settings, monkeypatch, tmp_path) -> Flask:
    """The app as an operator configures it: key facts in the environment, one page's text as a file."""
    (tmp_path / "barrierefreiheit.html").write_text(OWN_STATEMENT, encoding="utf-8")
    for name, value in {**OPERATOR, "EWS_LEGAL_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    configured = Settings(
        env="test",
        database_url=settings.database_url,
        data_dir=settings.data_dir,
        secret_key=settings.secret_key,
        public_url=settings.public_url,
    )
    app = create_app(configured)
    app.test_client_class = OwnContextClient
    return app


def test_the_footer_leads_to_the_three_legal_pages_with_the_operators_text(page: Page):
    documents: dict[str, bytes] = {}
    for link, (path, heading, configured) in EXPECTED.items():
        page.goto("/anmelden")
        page.get_by_role("contentinfo").get_by_role("link", name=link, exact=True).click()
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_text(configured, exact=False).first).to_be_visible()
        assert_accessible(page)
        documents[path] = page.request.get(path).body()
    text = page.request.get("/impressum").text()
    assert OPERATOR["EWS_OFFICE_ADDRESS"] in text  # the office's address, set once for letters and pages
    assert "30.04.2026" not in page.request.get("/barrierefreiheit").text()  # the operator's file replaced it
    assert nu_errors(documents) == []


def test_a_barrier_is_reported_without_an_account(page: Page, session):
    page.goto("/barrierefreiheit")
    page.get_by_role("link", name="Barriere melden").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Barriere melden")
    assert_accessible(page)
    page.get_by_role("button", name="Meldung senden").click()
    expect(page.get_by_text("Bitte beschreiben Sie die Barriere.").first).to_be_visible()
    assert_accessible(page)  # with the errors shown
    page.get_by_label("Welche Barriere ist Ihnen begegnet?").fill(
        "Die Tabelle der Speicherfristen ist zu breit."
    )
    page.get_by_label("Ihre E-Mail-Adresse für die Antwort (freiwillig)").fill("rita@example.org")
    page.get_by_role("button", name="Meldung senden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Vielen Dank für Ihre Meldung")
    assert_accessible(page)
    letter = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "report_barrier")).one()
    assert letter.recipient == OPERATOR["EWS_OFFICE_EMAIL"]
    assert "Die Tabelle der Speicherfristen ist zu breit." in letter.body
    form = page.request.get("/barrierefreiheit/rueckmeldung").body()
    assert nu_errors({"/barrierefreiheit/rueckmeldung": form}) == []
