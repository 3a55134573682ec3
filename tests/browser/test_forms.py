"""Forms in the browser: German error messages next to the fields they concern, and nothing typed is lost."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Cohort
from testkit.factories import FINNENTROP, Factory
from tests.browser.conftest import login
from workflows import State


@pytest.fixture
def cohort(session: Session, factory: Factory) -> Cohort:
    """An open call: cohort 7, team size 2."""
    cohort = factory.cohort(7, title="7. Entwicklungswerkstatt")
    session.commit()
    return cohort


def error_next_to(page: Page, field: Locator) -> str:
    """The error message the field points to with aria-describedby (besides any help text); the field is
    marked invalid."""
    expect(field).to_have_attribute("aria-invalid", "true")
    described_by = (field.get_attribute("aria-describedby") or "").split()
    errors = [page.locator(f"[id='{id_}'].invalid-feedback") for id_ in described_by]
    texts = [error.inner_text().strip() for error in errors if error.count()]
    assert texts, f"the field points to no error message (aria-describedby={described_by})"
    return " ".join(texts)


def team_row(page: Page, slot: int) -> Locator:
    return page.get_by_role("group", name=f"Person {slot}")


def test_an_incomplete_application_keeps_the_input_and_says_what_is_missing(
    page: Page, person, cohort: Cohort, session: Session
):
    applicant = person("applicant", FINNENTROP)
    login(page, applicant.email)
    page.get_by_role("link", name="Neue Bewerbung").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Neue Bewerbung")
    expect(page.get_by_text("Finnentrop (Gemeinde, Kreis Olpe)")).to_be_visible()

    page.get_by_label("Ansprechperson: Name").fill("Erika Beispiel")
    team_row(page, 1).get_by_label("Name", exact=True).fill("Anna Engagiert")
    team_row(page, 1).get_by_label("E-Mail", exact=True).fill("anna.engagiert@finnentrop.de")
    page.get_by_label("Motivation").fill("Wir möchten das Ehrenamt in allen Ortsteilen stärken.")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Speichern und einreichen").click()
    assert answer.value.status == 422

    # The draft is saved; why it cannot be submitted yet is said above the form and next to each field.
    expect(page.get_by_role("heading", level=1)).to_have_text("Entwurf EWS7-0001 bearbeiten")
    summary = page.get_by_role("alert").filter(has_text="kann aber noch nicht eingereicht werden")
    expect(summary).to_be_visible()
    for label in ("Ansprechperson: E-Mail", "Ausgangslage", "Ziele", "Unterstützung der Verwaltungsspitze"):
        assert (
            error_next_to(page, page.get_by_label(label, exact=True)) == "Bitte ergänzen Sie diese Angabe."
        ), label
    expect(page.get_by_label("Motivation")).not_to_have_attribute("aria-invalid", "true")
    consent = page.get_by_role("checkbox", name="Ich willige ein", exact=False)
    assert "Einwilligung" in error_next_to(page, consent)
    team = page.get_by_role("group", name="Entwicklungsteam")
    team_errors = page.locator(f"[id='{team.get_attribute('aria-describedby')}']")
    expect(team_errors).to_contain_text("Person 1: Funktion fehlt")
    expect(team_errors).to_contain_text("2 Personen erforderlich, 1 angegeben")

    # What was typed is still there.
    expect(page.get_by_label("Ansprechperson: Name")).to_have_value("Erika Beispiel")
    expect(team_row(page, 1).get_by_label("Name", exact=True)).to_have_value("Anna Engagiert")
    expect(team_row(page, 1).get_by_label("E-Mail", exact=True)).to_have_value("anna.engagiert@finnentrop.de")
    expect(page.get_by_label("Motivation")).to_have_value(
        "Wir möchten das Ehrenamt in allen Ortsteilen stärken."
    )

    # Completing the rest submits it.
    page.get_by_label("Ansprechperson: E-Mail").fill("erika.beispiel@finnentrop.de")
    team_row(page, 1).get_by_label("Funktion", exact=True).fill("Sozialplanung")
    team_row(page, 2).get_by_label("Name", exact=True).fill("Bernd Bürgersinn")
    team_row(page, 2).get_by_label("E-Mail", exact=True).fill("bernd.buergersinn@finnentrop.de")
    team_row(page, 2).get_by_label("Funktion", exact=True).fill("Ehrenamtsbüro")
    page.get_by_label("Ausgangslage").fill("Viele Vereine, aber keine gemeinsame Strategie.")
    page.get_by_label("Ziele").fill("Eine Engagementstrategie für die Gemeinde.")
    page.get_by_label("Unterstützung der Verwaltungsspitze").fill("Bürgermeister Muster")
    consent.check()
    page.get_by_role("button", name="Speichern und einreichen").click()
    expect(page.locator(".state-badge")).to_have_text("Eingereicht")
    session.commit()
    assert session.scalar(select(Case.state).where(Case.reference == "EWS7-0001")) == State.SUBMITTED.value


def test_an_invalid_email_is_refused_next_to_its_field_and_nothing_is_saved(
    page: Page, person, cohort: Cohort, session: Session
):
    applicant = person("applicant", FINNENTROP)
    login(page, applicant.email)
    page.goto("/bewerbungen/neu")
    page.get_by_label("Ansprechperson: Name").fill("Erika Beispiel")
    page.get_by_label("Ansprechperson: E-Mail").fill("erika-at-finnentrop")
    page.get_by_label("Ziele").fill("Eine Engagementstrategie.")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Entwurf speichern").click()
    assert answer.value.status == 422
    expect(page.get_by_role("heading", level=1)).to_have_text("Neue Bewerbung")
    assert (
        error_next_to(page, page.get_by_label("Ansprechperson: E-Mail"))
        == "Bitte geben Sie eine gültige E-Mail-Adresse an."
    )
    expect(page.get_by_role("alert").first).to_be_visible()
    expect(page.get_by_label("Ansprechperson: Name")).to_have_value("Erika Beispiel")
    expect(page.get_by_label("Ansprechperson: E-Mail")).to_have_value("erika-at-finnentrop")
    expect(page.get_by_label("Ziele")).to_have_value("Eine Engagementstrategie.")
    session.commit()
    assert session.scalar(select(func.count()).select_from(Case)) == 0


def test_the_municipality_search_finds_finnentrop_and_a_missing_choice_is_named(
    page: Page, person, cohort: Cohort
):
    coordinator = person("coordinator")
    login(page, coordinator.email)
    page.goto("/bewerbungen/neu")
    search = page.get_by_role("search")
    search.get_by_label("Name oder Gemeindeschlüssel (AGS)").fill("finnentrop")
    search.get_by_role("button", name="Suchen").click()
    choices = page.get_by_role("group", name="Kommune").get_by_role("radio")
    expect(choices).to_have_count(1)
    expect(page.get_by_role("radio", name="Finnentrop (Gemeinde, Kreis Olpe) · 05966012")).to_be_checked()

    search.get_by_label("Name oder Gemeindeschlüssel (AGS)").fill("Xyzzy")
    search.get_by_role("button", name="Suchen").click()
    expect(page.get_by_text("Keine Kommune gefunden. Bitte ändern Sie den Suchbegriff.")).to_be_visible()

    # Posting the form without choosing a municipality names the problem at the municipality.
    page.get_by_label("Ansprechperson: Name").fill("Erika Beispiel")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Entwurf speichern").click()
    assert answer.value.status == 422
    group = page.get_by_role("group", name="Kommune")
    expect(page.locator(f"[id='{group.get_attribute('aria-describedby')}']")).to_have_text(
        "Bitte wählen Sie eine Kommune aus."
    )
    expect(page.get_by_label("Ansprechperson: Name")).to_have_value("Erika Beispiel")


def test_an_incomplete_review_names_each_missing_choice_and_keeps_the_comment(
    page: Page, person, session: Session, factory: Factory
):
    case = factory.case(
        factory.cohort(7, title="7. Entwicklungswerkstatt"), FINNENTROP, state=State.SUBMITTED
    )
    session.commit()
    reviewer = person("reviewer")
    login(page, reviewer.email)
    page.get_by_role("row").filter(has_text=case.reference).get_by_role("link", name="Begutachten").click()
    page.get_by_role("group", name="Bedarf").get_by_label("4", exact=True).check()
    page.get_by_label("Kommentar").fill("Überzeugende Motivation, Ziele noch vage.")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Gutachten abgeben").click()
    assert answer.value.status == 422
    for criterion in ("Strategie", "Rückhalt der Verwaltungsspitze", "Kapazität", "Vernetzung"):
        group = page.get_by_role("group", name=criterion)
        errors = page.locator(f"[id='{group.get_attribute('aria-describedby')}']")
        expect(errors).to_have_text("Bitte wählen Sie einen Wert von 0 bis 5.")
    group = page.get_by_role("group", name="Empfehlung")
    expect(page.locator(f"[id='{group.get_attribute('aria-describedby')}']")).to_have_text(
        "Bitte wählen Sie eine Empfehlung: Zulassen, Warteliste oder Ablehnen."
    )
    expect(page.get_by_role("group", name="Bedarf").get_by_label("4", exact=True)).to_be_checked()
    expect(page.get_by_label("Kommentar")).to_have_value("Überzeugende Motivation, Ziele noch vage.")
