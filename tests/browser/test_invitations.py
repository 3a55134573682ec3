"""Invitations in the browser (issue 13, must-hold 1): the programme office invites a municipality's contact
on `/programm/zugaenge`; the email reaches the test's SMTP server (aiosmtpd) through the outbox; the link
opens, a password is set, and the new applicant creates and submits a draft for their municipality — all
through the pages. The same link again, and an expired link, are refused with a German explanation."""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import update

from ews_cases.models import Case, Invitation, utcnow
from testkit.factories import FINNENTROP
from testkit.mail import plain_text
from tests.browser.conftest import field, login
from tests.web.test_password_reset import deliver
from tests.workers.conftest import smtp_sink  # noqa: F401 - a fixture, found by pytest by name

LINK = re.compile(r"http://ews\.test(/zugang/[A-Za-z0-9_\-]+)")
NEW_PASSWORD = "Lindenblüte am Fährhaus 42"
TEAM = [
    ("Anna Engagiert", "anna@finnentrop.example", "Sozialplanung"),
    ("Bernd Bürgersinn", "bernd@finnentrop.example", "Ehrenamtsbüro"),
]


def invited_link(message) -> str:
    body = plain_text(message)
    found = LINK.search(body)
    assert found, body
    return found.group(1)


def test_an_invited_contact_sets_a_password_and_submits_a_draft(
    page: Page,
    new_page,
    person,
    session,
    factory,
    settings,
    database,
    smtp_sink,  # noqa: F811
):
    cohort = factory.cohort(title="7. Entwicklungswerkstatt")
    factory.workshop(cohort)
    session.commit()
    coordinator = person("coordinator")
    login(page, coordinator.email)
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role("link", name="Zugänge").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Zugänge: Einladungen und Anfragen")
    field(page, "Name").fill("Erika Kontakt")
    field(page, "E-Mail-Adresse").fill("erika@finnentrop.example")
    page.get_by_label("Rolle").select_option("applicant")
    page.get_by_label("Kommune (für Antragstellende)").select_option(FINNENTROP)
    page.get_by_role("button", name="Einladung senden").click()
    expect(page.get_by_text("Einladung an erika@finnentrop.example verschickt.")).to_be_visible()
    expect(page.get_by_role("cell", name="erika@finnentrop.example")).to_be_visible()

    [message] = deliver(settings, database, smtp_sink)
    assert message["To"] == "erika@finnentrop.example"
    path = invited_link(message)

    town = new_page()
    town.goto(path)
    expect(town.get_by_role("heading", level=1)).to_have_text("Zugang einrichten")
    expect(town.get_by_text("Sie handeln für Finnentrop.", exact=False)).to_be_visible()
    field(town, "Neues Passwort").fill(NEW_PASSWORD)
    field(town, "Neues Passwort wiederholen").fill(NEW_PASSWORD)
    town.get_by_role("button", name="Passwort festlegen und Zugang einrichten").click()
    expect(town.get_by_role("heading", level=1)).to_have_text("Neue Bewerbung")
    expect(town.get_by_text("Erika Kontakt · Kommune")).to_be_visible()
    town.get_by_label("Ansprechperson: Name").fill("Erika Kontakt")
    town.get_by_label("Ansprechperson: E-Mail").fill("erika@finnentrop.example")
    town.get_by_label("Ansprechperson: Telefon").fill("02721 512-0")
    for slot, (name, email, position) in enumerate(TEAM, start=1):
        row = town.get_by_role("group", name=f"Person {slot}")
        field(row, "Name").fill(name)
        field(row, "E-Mail").fill(email)
        field(row, "Funktion").fill(position)
    town.get_by_label("Motivation").fill("Wir möchten das Ehrenamt stärken.")
    town.get_by_label("Ausgangslage").fill("Viele Vereine, keine gemeinsame Strategie.")
    town.get_by_label("Ziele").fill("Eine Engagementstrategie für Finnentrop.")
    town.get_by_label("Unterstützung der Verwaltungsspitze").fill("Der Bürgermeister")
    town.get_by_role("checkbox", name="Ich willige ein", exact=False).check()
    town.get_by_role("button", name="Speichern und einreichen").click()
    expect(town.get_by_text("ist eingereicht", exact=False)).to_be_visible()
    expect(town.locator(".state-badge")).to_have_text("Eingereicht")
    session.expire_all()
    [case] = session.query(Case).all()
    assert case.municipality_ags == FINNENTROP
    session.commit()

    # The same link a second time: refused in German, nothing to fill in.
    again = new_page()
    response = again.goto(path)
    assert response is not None
    assert response.status == 410
    expect(again.get_by_role("heading", level=1)).to_have_text("Einladung nicht mehr gültig")
    expect(
        again.get_by_text(
            "Diese Einladung wurde bereits angenommen: Jeder Einladungslink gilt nur einmal.", exact=False
        )
    ).to_be_visible()
    expect(again.locator("input[type=password]")).to_have_count(0)


def test_an_expired_link_is_explained_in_german(page: Page, person, session, settings, database, smtp_sink):  # noqa: F811
    coordinator = person("coordinator")
    login(page, coordinator.email)
    page.goto("/programm/zugaenge")
    field(page, "Name").fill("Gerd Gutachter")
    field(page, "E-Mail-Adresse").fill("gerd@example.org")
    page.get_by_label("Rolle").select_option("reviewer")
    page.get_by_role("button", name="Einladung senden").click()
    expect(page.get_by_text("Einladung an gerd@example.org verschickt.")).to_be_visible()
    [message] = deliver(settings, database, smtp_sink)
    path = invited_link(message)
    session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(minutes=1)))
    session.commit()
    response = page.goto(path)
    assert response is not None
    assert response.status == 410
    expect(page.get_by_role("heading", level=1)).to_have_text("Einladung nicht mehr gültig")
    expect(page.get_by_text("Diese Einladung ist abgelaufen.", exact=False)).to_be_visible()
    expect(page.get_by_role("link", name="Zugang beantragen")).to_be_visible()
