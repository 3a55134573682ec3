"""Accessibility beyond the four documented pages: axe-core on every page of every role, and the login and
the main navigation with the keyboard alone (SPEC §7: labels, keyboard, works without JavaScript)."""

from __future__ import annotations

import re
from datetime import date

from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Certificate
from ews_cases.services.accounts import new_token
from testkit.factories import ATTENDORN, BONN, FINNENTROP, SYSTEM, Factory
from tests.browser.conftest import PASSWORD, axe_violations, login
from workflows import State


def test_no_page_of_any_role_has_a_serious_accessibility_violation(
    person, new_page, session: Session, factory: Factory
):
    cohort = factory.cohort(7, title="7. Entwicklungswerkstatt")
    factory.workshop(cohort)
    attending = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    submitted = factory.case(cohort, ATTENDORN, state=State.SUBMITTED)
    certified = factory.case(factory.cohort(6, title="6. Entwicklungswerkstatt"), BONN, state=State.CERTIFIED)
    reviewer = factory.user("reviewer", FINNENTROP)  # whose account page the admin opens
    new_token(session, SYSTEM, reviewer, name="Fachverfahren", expires=date(2099, 12, 31))
    session.commit()
    code, certificate_id = session.execute(
        select(Certificate.verification_code, Certificate.id).where(Certificate.case_id == certified.id)
    ).first()
    pages: dict[tuple[str, str | None] | None, list[str]] = {
        None: [
            "/anmelden",
            "/hilfe",
            f"/verify/{code}",
            "/verify/unbekannt",
            "/passwort-vergessen",
            "/passwort-vergessen/unbekannt",
        ],
        ("applicant", FINNENTROP): [
            "/bewerbungen",
            f"/faelle/{attending.id}",
            f"/bewerbungen/{attending.id}/praxisprojekt",
            "/passwort",
            "/konto/zweiter-faktor",
        ],
        ("applicant", "05966008"): ["/bewerbungen/neu"],  # Drolshagen: no case yet
        ("reviewer", None): ["/gutachten", f"/gutachten/{submitted.id}"],
        ("coordinator", None): [
            "/programm",
            "/programm/bewerbungen",
            "/programm/e-mails",
            "/programm/e-mails?status=sent&status=cancelled",
            "/programm/durchgaenge/neu",
            "/programm/durchgaenge/7/bearbeiten",
            "/programm/durchgaenge/7/termine/neu",
            f"/programm/faelle/{attending.id}/anwesenheit",
            f"/programm/faelle/{attending.id}/praxisprojekt",
            f"/programm/faelle/{certified.id}/zertifikate",
            f"/programm/faelle/{certified.id}/zertifikate/{certificate_id}/ersetzen",
            "/programm/durchgaenge/6/zertifikate",
            "/bewerbungen/neu?q=olpe",
            f"/faelle/{submitted.id}",
        ],
        ("admin", None): [
            "/verwaltung",
            "/verwaltung?q=x&rolle=reviewer&status=inactive",
            "/verwaltung/zugaenge/neu",
            f"/verwaltung/zugaenge/{reviewer.id}",
        ],
        ("auditor", None): [
            "/pruefung",
            "/pruefung?order=newest",
            f"/pruefung/faelle/{attending.id}",
            f"/pruefung/faelle/{attending.id}?order=newest",
            f"/pruefung/faelle/{certified.id}",
            "/pruefung/bewerbungen",
            "/pruefung/bewerbungen?q=Finnentrop",
            "/pruefung/pruefkette",
            "/programm",
        ],
    }
    found = []
    for who, paths in pages.items():
        page = new_page()
        if who is not None:
            login(page, person(*who).email)
        for path in paths:
            page.goto(path)
            for v in axe_violations(page):
                targets = [n["target"] for n in v["nodes"]][:5]
                found.append(f"{who and who[0]} {path}: {v['impact']} {v['id']} ({v['help']}) at {targets}")
    assert not found, "axe-core found serious or critical violations:\n" + "\n".join(found)


def test_login_and_navigation_work_with_the_keyboard_alone(page: Page, person):
    user = person("coordinator")
    page.goto("/anmelden")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Zum Inhalt springen")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # from the main landmark into the form
    while not page.get_by_label("E-Mail-Adresse").evaluate("el => el === document.activeElement"):
        page.keyboard.press("Tab")
    page.keyboard.type(user.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Passwort")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/programm(#inhalt)?$"))  # the skip link's fragment stays

    # Every link of the main navigation is reached with Tab, and the focus is visible (outline or shadow).
    nav_links = (
        page.get_by_role("navigation", name="Hauptnavigation").locator("ul.navbar-nav a").all_inner_texts()
    )
    reached: dict[str, str] = {}
    for _ in range(40):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const el = document.activeElement;
                       return [el.closest('ul.navbar-nav') ? el.textContent.trim() : '',
                               getComputedStyle(el).outlineStyle + ' / ' + getComputedStyle(el).boxShadow]; }"""
        )
        if focused[0]:
            reached[focused[0]] = focused[1]
        if len(reached) == len(nav_links):
            break
    assert sorted(reached) == sorted(text.strip() for text in nav_links)
    assert all(style != "none / none" for style in reached.values()), reached
