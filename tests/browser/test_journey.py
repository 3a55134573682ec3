"""The whole life of an application, through the pages only, with a real Celery worker issuing the
certificates: from the call for applications to the certificate PDF, its public verification and the
auditor's timeline. Along the way: screenshots of the main pages (docs/screenshots/, shown in the README)
and an axe-core check of the same pages; all of it under the Content-Security-Policy, with no violation
reported by Chromium (issue 19).
"""

from __future__ import annotations

import io
import re
import time
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pypdf import PdfReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Certificate
from testkit.factories import FINNENTROP
from tests.browser.conftest import PASSWORD, TIMEOUT_MS, axe_violations, field, login, screenshot
from tests.workers import conftest as worker_fixtures
from workflows import BERLIN, State

# The real background machinery of the worker tests: Redis, an SMTP sink, `ews worker` processes.
redis_server = worker_fixtures.redis_server
redis_url = worker_fixtures.redis_url
smtp_sink = worker_fixtures.smtp_sink
worker_settings = worker_fixtures.worker_settings
start_worker = worker_fixtures.start_worker
worker_app = worker_fixtures.worker_app

#: How long the worker may take to issue, render and store the certificates.
CERTIFICATE_WAIT_SECONDS = 90
TEAM = [
    ("Anna Engagiert", "anna.engagiert@finnentrop.de", "Sozialplanung"),
    ("Bernd Bürgersinn", "bernd.buergersinn@finnentrop.de", "Ehrenamtsbüro"),
]
#: What the auditor's timeline must show, in this order (other events, e.g. emails, may come between).
TIMELINE = [
    "case.created",
    "case.updated",
    "transition.submit",
    "review.recorded",
    "review.recorded",
    "transition.review",
    "transition.admit",
    "transition.start",
    "attendance.recorded",
    "attendance.recorded",
    "project.updated",
    "transition.complete_project",
    "certificate.prepared",  # the ceremony is ahead: prepared, not valid yet
    "certificate.prepared",
    "certificate.released",  # the office released them early
    "certificate.released",
    "transition.certify",
]


@pytest.fixture
def served_app(worker_app: Flask) -> Flask:
    """The pages of an app wired to the test Redis: committed changes wake the real worker."""
    return worker_app


def day(value: date) -> str:
    """A date as `<input type="date">` takes it."""
    return value.isoformat()


def moment(value: datetime) -> str:
    """A local time as `<input type="datetime-local">` takes it."""
    return value.strftime("%Y-%m-%dT%H:%M")


def is_subsequence(wanted: list[str], actual: list[str]) -> bool:
    remaining = iter(actual)
    return all(any(item == candidate for candidate in remaining) for item in wanted)


def link_targets(pdf: PdfReader) -> list[str]:
    targets = []
    for annotation in pdf.pages[0].get("/Annots") or []:
        annotation = annotation.get_object()
        if annotation.get("/Subtype") == "/Link" and "/A" in annotation:
            targets.append(str(annotation["/A"].get_object()["/URI"]))
    return targets


class Journey:
    """One browser context per person (own cookies), and what the accessibility checks found."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.contexts: list[BrowserContext] = []
        self.violations: dict[str, list[dict[str, Any]]] = {}

    def person(self, email: str, password: str) -> Page:
        context = self.browser.new_context(
            base_url=self.base_url,
            locale="de-DE",
            timezone_id="Europe/Berlin",
            viewport={"width": 1280, "height": 900},
            accept_downloads=True,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        login(page, email, password)
        return page

    def document(self, page: Page, name: str, max_height: int = 2600) -> None:
        """Screenshot for the README, then the axe-core check (collected; asserted at the end)."""
        screenshot(page, name, max_height)
        self.violations[name] = axe_violations(page)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def test_an_application_from_the_call_to_the_verified_certificate(
    browser: Browser,
    live_url: str,
    person,
    start_worker,
    session: Session,
    tmp_path,
    csp_violations: list[str],
):
    worker = start_worker()  # starts while the first steps run
    coordinator = person("coordinator", name="Claudia Koordination")
    applicant = person("applicant", FINNENTROP, name="Erika Beispiel")
    reviewers = [
        person("reviewer", name="Dr. Jonas Gutachter"),
        person("reviewer", name="Prof. Lena Expertin"),
    ]
    auditor = person("auditor", name="Rainer Revision")

    journey = Journey(browser, live_url)
    today = datetime.now(BERLIN).date()
    try:
        # -- the programme office publishes the call: cohort 7 and its first workshop --------------------
        office = journey.person(coordinator.email, PASSWORD)
        expect(office.get_by_role("heading", level=1)).to_have_text("Übersicht")
        office.get_by_role("link", name="Neuer Durchgang").click()
        office.get_by_label("Nummer des Durchgangs").fill("7")
        field(office, "Titel").fill("7. Entwicklungswerkstatt")
        office.get_by_label("Bewerbungsphase beginnt (Ortszeit)").fill(
            moment(datetime.now(BERLIN) - timedelta(days=1))
        )
        office.get_by_label("Bewerbungsfrist (bis 23:59:59 Uhr)").fill(day(today + timedelta(days=30)))
        field(office, "Beginn").fill(day(today + timedelta(days=60)))
        field(office, "Ende").fill(day(today + timedelta(days=500)))
        office.get_by_label("Abschlussveranstaltung am").fill(day(today + timedelta(days=400)))
        office.get_by_label("Ort der Abschlussveranstaltung").fill("Siegburg")
        office.get_by_label("Unterzeichnet von (Name)").fill("Dr. Maria Muster")
        office.get_by_label("Unterzeichnet von (Funktion)").fill(
            "Ministerium für Heimat, Kommunales, Bau und Digitalisierung NRW"
        )
        office.get_by_role("button", name="Speichern").click()
        expect(office.get_by_text("Durchgang 7 angelegt.")).to_be_visible()
        expect(office.locator("[data-figure=countdown]")).to_have_text("Noch 30 Tage")

        office.get_by_role("link", name="Termin anlegen").click()
        office.get_by_label("Art").select_option(label="Workshop")
        field(office, "Titel").fill("Workshop 1: Engagement vor Ort")
        office.get_by_label("Beginn (Ortszeit)").fill(f"{day(today)}T10:00")
        office.get_by_label("Ende (Ortszeit)").fill(f"{day(today)}T16:00")
        field(office, "Ort").fill("Köln")
        office.get_by_role("button", name="Termin anlegen").click()
        expect(office.get_by_text("Termin „Workshop 1: Engagement vor Ort“ angelegt.")).to_be_visible()

        # -- the office finds Finnentrop in the municipality search and starts its draft ------------------
        office.goto("/bewerbungen/neu")  # the form with the search; no office page links to it yet
        search = office.get_by_role("search")
        search.get_by_label("Name oder Gemeindeschlüssel (AGS)").fill("Finnentrop")
        search.get_by_role("button", name="Suchen").click()
        finnentrop = office.get_by_role("radio", name="Finnentrop (Gemeinde, Kreis Olpe) · 05966012")
        expect(finnentrop).to_be_checked()
        office.get_by_label("Ansprechperson: Name").fill("Erika Beispiel")
        office.get_by_label("Ansprechperson: E-Mail").fill("erika.beispiel@finnentrop.de")
        office.get_by_role("button", name="Entwurf speichern").click()
        expect(office.get_by_text("Der Entwurf EWS7-0001 ist gespeichert.")).to_be_visible()

        # -- the applicant completes the draft and submits it ---------------------------------------------
        town = journey.person(applicant.email, PASSWORD)
        expect(town.get_by_role("heading", level=1)).to_have_text("Meine Bewerbungen")
        town.get_by_role("link", name="Entwurf EWS7-0001 bearbeiten").click()
        expect(town.get_by_label("Ansprechperson: Name")).to_have_value("Erika Beispiel")
        town.get_by_label("Ansprechperson: Telefon").fill("02721 512-0")
        for slot, (name, email, position) in enumerate(TEAM, start=1):
            row = town.get_by_role("group", name=f"Person {slot}")
            field(row, "Name").fill(name)
            field(row, "E-Mail").fill(email)
            field(row, "Funktion").fill(position)
        town.get_by_label("Motivation").fill("Wir möchten das Ehrenamt in allen 19 Ortsteilen stärken.")
        town.get_by_label("Ausgangslage").fill("Über 150 Vereine, aber keine gemeinsame Strategie.")
        town.get_by_label("Ziele").fill(
            "Eine Engagementstrategie für Finnentrop, mit den Vereinen entwickelt."
        )
        town.get_by_label("Unterstützung der Verwaltungsspitze").fill("Bürgermeister Achim Henkel")
        town.get_by_role("checkbox", name="Ich willige ein", exact=False).check()
        journey.document(town, "applicant-form")
        town.get_by_role("button", name="Speichern und einreichen").click()
        expect(town.get_by_text("Die Bewerbung EWS7-0001 ist eingereicht.", exact=False)).to_be_visible()
        expect(town.locator(".state-badge")).to_have_text("Eingereicht")
        case_url = town.url
        case_id = int(re.search(r"/faelle/(\d+)", case_url).group(1))

        # -- two reviewers review it -----------------------------------------------------------------------
        for number, reviewer in enumerate(reviewers, start=1):
            expert = journey.person(reviewer.email, PASSWORD)
            expect(expert.get_by_role("heading", level=1)).to_have_text("Zu begutachten")
            row = expert.get_by_role("row").filter(has_text="EWS7-0001")
            expect(row).to_contain_text("Finnentrop")
            if number == 1:
                journey.document(expert, "reviewer-queue")
            row.get_by_role("link", name="Begutachten").click()
            for criterion, score in (
                ("Bedarf", "4"),
                ("Strategie", "3"),
                ("Rückhalt der Verwaltungsspitze", "5"),
                ("Kapazität", "4"),
                ("Vernetzung", "3"),
            ):
                expert.get_by_role("group", name=criterion).get_by_label(score, exact=True).check()
            expert.get_by_role("group", name="Empfehlung").get_by_label("Zulassen").check()
            expert.get_by_label("Kommentar").fill(f"Gutachten {number}: klare Ziele, starker Rückhalt.")
            expert.get_by_role("button", name="Gutachten abgeben").click()
            expect(expert.get_by_text("Ihr Gutachten zu EWS7-0001 ist gespeichert.")).to_be_visible()
        expect(expert.get_by_text("Damit ist die Bewerbung vollständig begutachtet.")).to_be_visible()

        # -- the office admits, closes the call early, starts, records attendance --------------------------
        office.get_by_role("link", name="Übersicht").click()
        expect(office.locator("[data-count=reviewed]")).to_have_text("1")
        expect(office.locator("[data-figure=places-left]")).to_have_text("10")
        journey.document(office, "coordinator-dashboard")
        office.get_by_role("row").filter(has_text="Finnentrop").get_by_role("link", name="EWS7-0001").click()
        # Before deciding, the office reads both reviews with their scores and the mean.
        reviews = office.get_by_role("table", name="Gutachten mit den Punktzahlen je Kriterium (0 bis 5)")
        for reviewer in reviewers:
            row = reviews.get_by_role("row").filter(has_text=reviewer.name)
            expect(row.locator("[data-score]")).to_have_text(["4", "3", "5", "4", "3"])
            expect(row.locator("[data-review-mean]")).to_have_text("3,8")
            expect(row).to_contain_text("Zulassen")
        expect(office.locator("[data-figure=mean]")).to_have_text("3,8")
        expect(office.locator("[data-figure=rank]")).to_have_text("1")
        expect(office.get_by_text("Gutachten 2: klare Ziele, starker Rückhalt.")).to_be_visible()
        journey.violations["coordinator-case-reviews"] = axe_violations(office)
        # Admitting asks for confirmation: what will happen and who is emailed, then the decision.
        office.locator("button[data-transition=admit]").click()
        expect(office.get_by_role("heading", level=1)).to_have_text("Bitte bestätigen: Zulassen")
        expect(office.locator("[data-summary=state]")).to_contain_text("von „Begutachtet“ zu „Zugelassen“")
        expect(office.locator("[data-letter=announce_admission]")).to_contain_text(
            "erika.beispiel@finnentrop.de"
        )
        session.commit()
        session.expire_all()
        assert session.get(Case, case_id).state == State.REVIEWED.value  # nothing happened yet
        journey.violations["coordinator-confirm-admission"] = axe_violations(office)
        office.get_by_role("button", name="Zulassen", exact=True).click()
        expect(office.locator(".state-badge")).to_have_text("Zugelassen")
        expect(
            office.get_by_text(
                "Die Bewerbung EWS7-0001 wurde zugelassen. Die Kommune wird per E-Mail benachrichtigt."
            )
        ).to_be_visible()

        # Starting needs the cohort's start date: the office ends the call today and starts today.
        office.get_by_role("link", name="Übersicht").click()
        office.get_by_role("link", name="Durchgang bearbeiten").click()
        office.get_by_label("Bewerbungsfrist (bis 23:59:59 Uhr)").fill(day(today))
        field(office, "Beginn").fill(day(today))
        office.get_by_role("button", name="Speichern").click()
        expect(office.get_by_text("Durchgang 7 gespeichert.")).to_be_visible()
        expect(office.locator("[data-figure=countdown]")).to_have_text("Heute ist der letzte Tag")

        office.goto(case_url)
        office.locator("button[data-transition=start]").click()
        expect(office.locator(".state-badge")).to_have_text("Teilnahme läuft")

        office.get_by_role("link", name="Bewerbungen", exact=True).click()
        office.get_by_role("row").filter(has_text="EWS7-0001").get_by_role("link", name="Anwesenheit").click()
        for name, _email, _position in TEAM:
            office.get_by_label(f"{name} bei Workshop 1: Engagement vor Ort").select_option(label="anwesend")
        office.get_by_role("button", name="Anwesenheit speichern").click()
        expect(office.get_by_text("Anwesenheit gespeichert (2 Änderungen).")).to_be_visible()
        expect(office.locator("[data-eligible]")).to_have_text(["ja", "ja"])

        # -- the team submits its practice project; the office approves it and completes the project -------
        town.get_by_role("link", name="Meine Bewerbungen").click()
        town.get_by_role("link", name="Praxisprojekt").click()
        town.get_by_label("Titel des Praxisprojekts").fill("Engagementlotsen Finnentrop")
        town.get_by_label("Zusammenfassung").fill("Ehrenamtliche Lotsinnen und Lotsen in jedem Ortsteil.")
        town.get_by_label("Bericht").fill(
            "Zwölf Lotsinnen und Lotsen ausgebildet, Sprechstunden eingerichtet."
        )
        town.get_by_role("button", name="Einreichen").click()
        expect(town.get_by_text("Das Praxisprojekt ist eingereicht.", exact=False)).to_be_visible()

        office.get_by_role("link", name="Praxisprojekt").click()
        expect(office.get_by_text("Engagementlotsen Finnentrop")).to_be_visible()
        office.get_by_role("button", name="Praxisprojekt freigeben").click()
        expect(office.get_by_text("Praxisprojekt freigegeben.")).to_be_visible()
        office.get_by_role("link", name="Bewerbung und Aktionen").click()
        office.locator("button[data-transition=complete_project]").click()
        expect(office.locator(".state-badge")).to_have_text("Praxisprojekt abgeschlossen")

        # -- the worker prepares the certificates for the ceremony (400 days ahead); the office releases
        # them early with a reason; the applicant downloads one and verifies it -----------------------------
        worker.wait_ready()
        office.goto("/programm/durchgaenge/7/zertifikate")
        prepared = office.locator("tr[data-serial]")
        deadline = time.monotonic() + CERTIFICATE_WAIT_SECONDS
        while prepared.count() < len(TEAM) and time.monotonic() < deadline:
            time.sleep(1)
            office.reload()
        assert prepared.count() == len(TEAM), (
            f"nothing prepared after {CERTIFICATE_WAIT_SECONDS}s:\n{worker.log()}"
        )
        town.get_by_role("link", name="Meine Bewerbungen").click()
        expect(town.get_by_text("wird bei der Abschlussveranstaltung ausgehändigt")).to_have_count(len(TEAM))
        office.get_by_label("Begründung der vorzeitigen Freigabe").fill("Abschlussfeier vorgezogen")
        office.get_by_role("button", name="Zertifikate jetzt freigeben und versenden").click()
        expect(
            office.get_by_text("Die Zertifikate sind freigegeben. Zertifizierte Bewerbungen: 1.")
        ).to_be_visible()
        town.get_by_role("link", name="Meine Bewerbungen").click()
        certificates = town.get_by_role("link", name=re.compile(r"^Zertifikat von "))
        deadline = time.monotonic() + CERTIFICATE_WAIT_SECONDS
        while certificates.count() < len(TEAM) and time.monotonic() < deadline:
            time.sleep(1)
            town.reload()
        assert certificates.count() == len(TEAM), (
            f"no certificates after {CERTIFICATE_WAIT_SECONDS}s:\n{worker.log()}"
        )
        expect(town.locator(".state-badge")).to_have_text("Zertifiziert")
        with town.expect_download() as download_info:
            town.get_by_role("link", name=re.compile(r"^Zertifikat von Anna Engagiert")).click()
        download = download_info.value
        pdf_path = tmp_path / download.suggested_filename
        download.save_as(pdf_path)
        assert pdf_path.read_bytes().startswith(b"%PDF")
        reader = PdfReader(io.BytesIO(pdf_path.read_bytes()))
        text = reader.pages[0].extract_text()
        assert "Anna Engagiert" in text
        assert "Engagementlotsen Finnentrop" in text
        [verification_url] = link_targets(reader)
        assert verification_url.startswith("http://ews.test/verify/")  # the public address of the service
        session.commit()
        certificate = session.scalar(
            select(Certificate).where(
                Certificate.case_id == case_id, Certificate.holder_name == "Anna Engagiert"
            )
        )
        assert download.suggested_filename == f"{certificate.serial}.pdf"
        assert verification_url.endswith(f"/verify/{certificate.verification_code}")

        town.goto(verification_url.removeprefix("http://ews.test"))  # the same page on this test server
        expect(town.get_by_role("heading", level=1)).to_have_text("Zertifikat prüfen")
        expect(town.get_by_role("status")).to_contain_text("Gültig.")
        expect(town.locator("dl")).to_contain_text("Anna Engagiert")
        expect(town.locator("dl")).to_contain_text("7. Entwicklungswerkstatt")
        expect(town.locator("dl")).to_contain_text(certificate.serial)

        # -- the auditor's timeline shows every step ------------------------------------------------------
        audit = journey.person(auditor.email, PASSWORD)
        expect(audit.get_by_role("heading", level=1)).to_have_text("Protokoll")
        audit.get_by_role("link", name="EWS7-0001").first.click()
        expect(audit.get_by_role("heading", level=1)).to_have_text("Verlauf: EWS7-0001 · Finnentrop")
        expect(audit.locator("#kettenstatus")).to_have_attribute("data-ok", "true")
        actions = [
            a or "" for a in audit.locator("li.event").evaluate_all("els => els.map(e => e.dataset.action)")
        ]
        assert is_subsequence(TIMELINE, actions), actions
        who = {
            "case.created": coordinator.name,
            "case.updated": applicant.name,
            "transition.submit": applicant.name,
            "transition.admit": coordinator.name,
            "transition.start": coordinator.name,
            "transition.complete_project": coordinator.name,
        }
        for action, name in who.items():
            expect(audit.locator(f"li.event[data-action='{action}']").first).to_contain_text(name)
        for reviewer in reviewers:
            expect(
                audit.locator("li.event[data-action='review.recorded']").filter(has_text=reviewer.name)
            ).to_have_count(1)
        journey.document(audit, "auditor-timeline", max_height=1800)

        session.commit()
        assert session.get(Case, case_id).state == State.CERTIFIED.value
    finally:
        journey.close()

    assert not csp_violations, "Content-Security-Policy violations:\n" + "\n".join(csp_violations)
    serious = {page: found for page, found in journey.violations.items() if found}
    assert not serious, "axe-core found serious or critical violations:\n" + "\n".join(
        f"{page}: {v['impact']} {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']]}"
        for page, found in serious.items()
        for v in found
    )
