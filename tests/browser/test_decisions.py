"""Decisions in a real browser (issue 14): an applicant's withdrawal asks for confirmation and looks
dangerous; a withdrawal in a full cohort moves the waitlist (the dashboard proposes the top waitlisted case,
admitting it from there works, the coordinators' email names it); the office reads the reviews before it
decides. Every new page is checked with axe-core."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Case, Certificate, Cohort, OutboxMessage
from ews_cases.services import users
from ews_cases.services.reviews import record_review
from testkit.factories import ATTENDORN, DUESSELDORF, FINNENTROP, OLPE_KREIS, SYSTEM, Factory
from tests.browser.conftest import assert_accessible, login
from workflows import State

GOOD = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}  # mean 3,8
STRONG = {"need": 5, "strategy": 4, "leadership": 5, "capacity": 5, "network": 4}  # mean 4,6
DANGER = re.compile(r"\bbtn-(outline-)?danger\b")


def reviewed(factory: Factory, cohort: Cohort, ags: str, *reviews: tuple[str, dict[str, int], str]) -> Case:
    """A submitted case reviewed by named reviewers: (name, scores, recommendation)."""
    case = factory.case(cohort, ags, state=State.SUBMITTED)
    for name, scores, recommendation in reviews:
        expert = users.create_user(
            factory.session,
            SYSTEM,
            email=f"{name.split()[-1].lower()}.{case.id}@gutachten.example",
            name=name,
            role="reviewer",
        )
        record_review(factory.session, case, expert, scores=scores, recommendation=recommendation)
    return case


def state_of(session: Session, case: Case) -> str:
    session.commit()
    session.expire_all()
    return session.get(Case, case.id).state


def test_an_applicant_withdraws_only_after_confirming_a_step_shown_as_dangerous(
    page: Page, person, session: Session, factory: Factory
):
    case = factory.case(factory.cohort(title="7. Entwicklungswerkstatt"), FINNENTROP, state=State.SUBMITTED)
    session.commit()
    login(page, person("applicant", FINNENTROP).email)
    page.goto(f"/faelle/{case.id}")
    withdraw = page.get_by_role("button", name="Bewerbung zurückziehen")
    expect(withdraw).to_have_class(DANGER)
    expect(page.get_by_role("textbox")).to_have_count(0)  # no reason box where none is needed
    expect(page.locator("main")).not_to_contain_text("Version")
    withdraw.click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Bitte bestätigen: Bewerbung zurückziehen")
    expect(page.locator("[data-summary=final]")).to_have_text(
        "Dieser Schritt ist endgültig und kann nicht rückgängig gemacht werden."
    )
    expect(page.locator("[data-letter=confirm_withdrawal]")).to_contain_text("kontakt@example.org")
    confirm = page.get_by_role("button", name="Bewerbung zurückziehen")
    expect(confirm).to_have_class(re.compile(r"\bbtn-danger\b"))
    expect(page.get_by_role("textbox")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("Version")
    assert_accessible(page)
    assert state_of(session, case) == State.SUBMITTED  # opening the confirmation changed nothing

    page.get_by_role("link", name="Abbrechen").click()  # changing one's mind leads back, nothing happens
    expect(page.locator(".state-badge")).to_have_text("Eingereicht")
    page.get_by_role("button", name="Bewerbung zurückziehen").click()
    page.get_by_role("button", name="Bewerbung zurückziehen").click()
    expect(page.locator(".state-badge")).to_have_text("Zurückgezogen")
    expect(page.get_by_role("status")).to_have_text(
        f"Die Bewerbung {case.reference} wurde zurückgezogen. Die Ansprechperson erhält eine Bestätigung "
        "per E-Mail."
    )
    assert state_of(session, case) == State.WITHDRAWN


@pytest.fixture
def full_cohort(session: Session, factory: Factory) -> dict[str, Case]:
    """Capacity 2: Finnentrop and Attendorn admitted; Olpe (3,8) and Düsseldorf (4,6) on the waitlist."""
    cohort = factory.cohort(title="7. Entwicklungswerkstatt", capacity=2)
    finnentrop = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    factory.case(cohort, ATTENDORN, state=State.ADMITTED)
    olpe = reviewed(factory, cohort, OLPE_KREIS, ("Dr. A", GOOD, "waitlist"), ("Dr. B", GOOD, "waitlist"))
    top = reviewed(factory, cohort, DUESSELDORF, ("Dr. A", STRONG, "admit"), ("Dr. B", STRONG, "admit"))
    for case in (olpe, top):
        factory.fire(case, "waitlist")
    session.commit()
    return {"finnentrop": finnentrop, "olpe": olpe, "top": top}


def test_a_withdrawal_in_a_full_cohort_brings_the_top_of_the_waitlist_to_the_dashboard(
    page: Page, new_page, person, session: Session, full_cohort: dict[str, Case]
):
    finnentrop, top = full_cohort["finnentrop"], full_cohort["top"]
    office = new_page()
    login(office, person("coordinator", name="Claudia Koordination").email)
    expect(office.locator("#vorschlag")).to_have_count(0)  # full: nothing to propose

    # The municipality withdraws its admitted application (through the confirmation).
    login(page, person("applicant", FINNENTROP).email)
    page.goto(f"/faelle/{finnentrop.id}")
    page.get_by_role("button", name="Bewerbung zurückziehen").click()
    expect(page.locator("[data-summary=places]")).to_contain_text("Ein Platz des Durchgangs wird frei")
    expect(page.locator("main")).not_to_contain_text(top.reference)  # the ranking is the office's business
    page.get_by_role("button", name="Bewerbung zurückziehen").click()
    expect(page.locator(".state-badge")).to_have_text("Zurückgezogen")

    # The coordinators' email names the proposed case.
    session.commit()
    letters = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "announce_free_place")).all()
    assert letters
    for letter in letters:
        assert f"{top.reference}, Düsseldorf, mittlere Punktzahl 4,6" in letter.body

    # The dashboard proposes the top of the waitlist, with the rule; one action admits it.
    office.reload()
    proposal = office.get_by_role("region", name="Platz frei: Vorschlag von der Warteliste")
    expect(proposal).to_contain_text(f"{top.reference} · Düsseldorf · mittlere Punktzahl 4,6 · Rang 1")
    expect(proposal).to_contain_text("nach mittlerer Punktzahl, dann Eingangsreihenfolge")
    assert_accessible(office)
    proposal.get_by_role("button", name=f"{top.reference} zulassen").click()
    expect(office.get_by_role("heading", level=1)).to_have_text("Bitte bestätigen: Zulassen")
    expect(office.locator("[data-summary=places]")).to_contain_text("danach sind noch 0 frei")
    assert_accessible(office)
    office.get_by_role("button", name="Zulassen", exact=True).click()
    expect(office).to_have_url(re.compile(r"/programm\?durchgang=\d+$"))
    expect(office.get_by_role("status")).to_have_text(
        f"Die Bewerbung {top.reference} wurde zugelassen. Die Kommune wird per E-Mail benachrichtigt."
    )
    expect(office.locator("#vorschlag")).to_have_count(0)
    expect(office.locator("[data-figure=places-left]")).to_have_text("0")
    assert state_of(session, top) == State.ADMITTED
    assert state_of(session, full_cohort["olpe"]) == State.WAITLISTED


def test_the_office_reads_the_reviews_and_their_disagreement_before_rejecting(
    page: Page, person, session: Session, factory: Factory
):
    cohort = factory.cohort(title="7. Entwicklungswerkstatt", capacity=3)
    case = reviewed(
        factory,
        cohort,
        FINNENTROP,
        ("Dr. Jonas Gutachter", GOOD, "admit"),
        ("Prof. Lena Expertin", {**GOOD, "strategy": 1}, "reject"),
    )
    certified = factory.case(
        factory.cohort(title="6. Entwicklungswerkstatt"), ATTENDORN, state=State.CERTIFIED
    )
    session.commit()
    login(page, person("coordinator").email)
    page.goto(f"/faelle/{case.id}")
    table = page.get_by_role("table", name="Gutachten mit den Punktzahlen je Kriterium (0 bis 5)")
    expect(
        table.get_by_role("row").filter(has_text="Prof. Lena Expertin").locator("[data-score]")
    ).to_have_text(["4", "1", "5", "4", "3"])
    expect(page.locator("[data-figure=mean]")).to_have_text("3,6")  # (3,8 + 3,4) / 2
    disagreement = page.locator("[data-disagreement]")
    expect(disagreement).to_contain_text("Die Gutachten weichen voneinander ab:")
    expect(disagreement).to_contain_text("Empfehlungen: Zulassen, Ablehnen")
    expect(disagreement).to_contain_text("Strategie: 2 Punkte Abstand")
    expect(page.get_by_role("button", name="Ablehnen")).to_have_class(DANGER)
    expect(page.get_by_role("button", name="Zulassen")).not_to_have_class(DANGER)
    assert_accessible(page)

    page.get_by_role("button", name="Ablehnen").click()
    reason = page.get_by_label("Begründung")
    reason.evaluate("el => el.removeAttribute('required')")  # what a browser without validation sends
    page.get_by_role("button", name="Ablehnen").click()
    expect(page.locator("#reason-fehler")).to_have_text("Bitte geben Sie eine Begründung an.")
    expect(reason).to_have_attribute("aria-invalid", "true")
    assert_accessible(page)
    assert state_of(session, case) == State.REVIEWED
    page.get_by_label("Begründung").fill("Die Strategie ist noch nicht tragfähig.")
    page.get_by_role("button", name="Ablehnen").click()
    expect(page.locator(".state-badge")).to_have_text("Abgelehnt")

    # Revoking a certificate: a confirmation page in danger style, the reason asked there.
    serial = session.scalars(select(Certificate.serial).where(Certificate.case_id == certified.id)).first()
    page.goto(f"/programm/faelle/{certified.id}/zertifikate")
    page.get_by_role("link", name=f"Widerrufen {serial}").click()
    expect(page.get_by_role("button", name="Zertifikat widerrufen")).to_have_class(
        re.compile(r"\bbtn-danger\b")
    )
    assert_accessible(page)
    page.get_by_label("Begründung des Widerrufs").fill("Name falsch geschrieben")
    page.get_by_role("button", name="Zertifikat widerrufen").click()
    expect(page.get_by_role("status")).to_contain_text(f"Das Zertifikat {serial} von ")
    expect(page.get_by_role("row").filter(has_text=serial)).to_contain_text("Name falsch geschrieben")
