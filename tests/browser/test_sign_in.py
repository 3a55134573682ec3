"""Getting in, in a real Chromium (issue 13): the password reset from the login page through the email to a
new password (the link refused the second time), and with `EWS_REQUIRE_2FA_ROLES=coordinator` the coordinator
led through setting up the second factor before any page, then asked for the code at the next login, with
the recovery code as the way out. Every page on the way is checked with axe-core.
"""

from __future__ import annotations

import re
from datetime import timedelta
from email.header import decode_header, make_header

import pyotp
import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from ews_cases.app import create_app
from ews_cases.mail.delivery import SmtpSender, deliver_batch
from ews_cases.models import utcnow
from testkit.mail import plain_text
from tests.browser.conftest import PASSWORD, assert_accessible, field, login, logout
from tests.conftest import OwnContextClient
from tests.workers.conftest import smtp_sink  # noqa: F401 - a fixture, found by pytest by name

NEW_PASSWORD = "Ein ganz neuer Satz für 2026"
LINK = re.compile(r"http://ews\.test(/passwort-vergessen/\S+)")


@pytest.fixture
def served_app(settings) -> Flask:
    """The app with the second factor required for the programme office."""
    app = create_app(settings.model_copy(update={"require_2fa_roles": "coordinator"}))
    app.test_client_class = OwnContextClient
    return app


def deliver(settings, database, sink) -> str:
    """Send the outbox over SMTP as the worker does; the body of the one message that arrives."""
    to_sink = settings.model_copy(update={"smtp_host": sink.host, "smtp_port": sink.port})
    sender = SmtpSender(to_sink)
    try:
        with database.transaction() as session:
            deliver_batch(session, to_sink, sender)
    finally:
        sender.close()
    [message] = sink.wait_for(1, timeout=10)
    assert (
        str(make_header(decode_header(message["Subject"])))
        == "Neues Passwort für die Entwicklungswerkstatt festlegen"
    )
    return plain_text(message)


def test_a_forgotten_password_is_reset_through_the_emailed_link_once(
    page: Page,
    person,
    settings,
    database,
    smtp_sink,  # noqa: F811 - the fixture
):
    user = person("reviewer")
    page.goto("/anmelden")
    page.get_by_role("link", name="Passwort vergessen?").click()
    expect(page).to_have_url(re.compile(r"/passwort-vergessen$"))
    assert_accessible(page)
    page.get_by_label("E-Mail-Adresse").fill(user.email)
    page.get_by_role("button", name="Link anfordern").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bitte sehen Sie in Ihr Postfach")
    expect(page.get_by_text("Wenn zu der angegebenen Adresse ein Konto besteht")).to_be_visible()

    link = LINK.search(deliver(settings, database, smtp_sink)).group(1)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Neues Passwort festlegen")
    assert_accessible(page)
    field(page, "Neues Passwort").fill("passwort1234")
    field(page, "Neues Passwort wiederholen").fill("passwort1234")
    page.get_by_role("button", name="Passwort speichern").click()
    expect(page.get_by_text("Dieses Passwort ist zu verbreitet")).to_be_visible()
    expect(field(page, "Neues Passwort")).to_have_attribute("aria-invalid", "true")
    field(page, "Neues Passwort").fill(NEW_PASSWORD)
    field(page, "Neues Passwort wiederholen").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Passwort speichern").click()
    expect(page).to_have_url(re.compile(r"/anmelden$"))
    expect(page.get_by_text("Ihr neues Passwort gilt. Bitte melden Sie sich damit an.")).to_be_visible()
    login(page, user.email, NEW_PASSWORD)
    logout(page)

    response = page.goto(link)
    assert response is not None
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("Link nicht mehr gültig")
    expect(page.get_by_text("Dieser Link wurde bereits verwendet")).to_be_visible()
    assert_accessible(page)


def test_the_office_sets_up_the_second_factor_first_and_then_logs_in_with_it(page: Page, person):
    coordinator = person("coordinator")
    login(page, coordinator.email)
    # Led to the setup, whatever page was asked for.
    expect(page).to_have_url(re.compile(r"/konto/zweiter-faktor$"))
    page.goto("/programm/bewerbungen")
    expect(page).to_have_url(re.compile(r"/konto/zweiter-faktor$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Zweiten Faktor einrichten")
    expect(page.get_by_role("img", name="QR-Code zum Einrichten des zweiten Faktors")).to_be_visible()
    assert_accessible(page)
    totp = pyotp.TOTP(page.locator("#totp-schluessel").inner_text().replace(" ", ""))
    page.get_by_label("Sechsstelliger Code aus Ihrer App").fill("000000")
    page.get_by_role("button", name="Einrichten").click()
    expect(page.get_by_text("Der Code stimmt nicht oder wurde schon verwendet.")).to_be_visible()
    page.get_by_label("Sechsstelliger Code aus Ihrer App").fill(totp.now())
    page.get_by_role("button", name="Einrichten").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihre Wiederherstellungscodes")
    codes = page.get_by_role("list", name="Wiederherstellungscodes").locator("li").all_inner_texts()
    assert len(codes) == 10
    assert_accessible(page)
    page.get_by_role("link", name="Ich habe die Codes gesichert – weiter").click()
    expect(page).to_have_url(re.compile(r"/programm$"))
    logout(page)

    # The next login asks for the code after the password.
    page.goto("/anmelden")
    page.get_by_label("E-Mail-Adresse").fill(coordinator.email)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Anmelden: zweiter Faktor")
    assert_accessible(page)
    page.get_by_label("Sechsstelliger Code aus Ihrer App").fill("999999")
    page.get_by_role("button", name="Bestätigen").click()
    expect(page.get_by_text("Der Code stimmt nicht oder wurde schon verwendet.")).to_be_visible()
    page.get_by_label("Sechsstelliger Code aus Ihrer App").fill(totp.at(utcnow() + timedelta(seconds=30)))
    page.get_by_role("button", name="Bestätigen").click()
    expect(page).to_have_url(re.compile(r"/programm$"))
    logout(page)

    # The phone is lost: a recovery code, once.
    for attempt in range(2):
        page.goto("/anmelden")
        page.get_by_label("E-Mail-Adresse").fill(coordinator.email)
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.get_by_role("link", name="Wiederherstellungscode verwenden").click()
        page.get_by_label("Wiederherstellungscode").fill(codes[0])
        page.get_by_role("button", name="Anmelden").click()
        if attempt == 0:
            expect(page).to_have_url(re.compile(r"/programm$"))
            expect(
                page.get_by_text("Sie haben sich mit einem Wiederherstellungscode angemeldet")
            ).to_be_visible()
            logout(page)
    expect(page.get_by_text("Dieser Wiederherstellungscode gilt nicht")).to_be_visible()
    assert_accessible(page)
