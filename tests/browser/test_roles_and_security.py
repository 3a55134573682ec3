"""Roles and security in the browser: each role's navigation and actions, the auditor's read-only pages,
forged requests, CSRF protection and login throttling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.models import ApiToken, Case, Certificate, User
from testkit.factories import FINNENTROP, Factory
from tests.browser.conftest import PASSWORD, csrf_token, login
from workflows import State

#: What each role finds in the main navigation, in order (SPEC §7; ews_cases/web/layout.py).
NAVIGATION = {
    "applicant": ["Meine Bewerbungen", "Neue Bewerbung", "Hilfe"],
    "reviewer": ["Zu begutachten", "Hilfe"],
    "coordinator": ["Übersicht", "Bewerbungen", "E-Mail-Versand", "Zugänge", "Datenschutz", "Hilfe"],
    "auditor": ["Protokoll", "Bewerbungen", "Prüfkette", "Prüfpunkte", "Hilfe"],
    "admin": ["Zugänge", "Hilfe"],
}
#: The start page of each role's own area; every other role is refused there.
AREAS = {
    "applicant": "/bewerbungen",
    "reviewer": "/gutachten",
    "coordinator": "/programm",
    "auditor": "/pruefung",
    "admin": "/verwaltung",
}
#: Besides its own: the programme office may read the audit pages, as it may use the audit API.
ALSO_ALLOWED = {"coordinator": {"auditor"}}
ROLE_LABELS = {
    "applicant": "Kommune",
    "reviewer": "Gutachten",
    "coordinator": "Programmbüro",
    "auditor": "Prüfung",
    "admin": "Administration",
}


def navigation(page: Page) -> list[str]:
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    return [text.strip() for text in nav.locator("ul.navbar-nav a").all_inner_texts()]


def transitions(page: Page) -> set[str]:
    """The actions offered on a case page (`button[data-transition]`)."""
    return {
        button.get_attribute("data-transition") or ""
        for button in page.locator("button[data-transition]").all()
    }


def changing_controls(page: Page) -> list[str]:
    """Every control on the page that could change something: buttons, submit inputs and forms that POST —
    all but the logout form (which changes nothing on record)."""
    return page.evaluate(
        """() => {
            const found = [];
            for (const form of document.querySelectorAll('form')) {
                const method = (form.getAttribute('method') || 'get').toLowerCase();
                const action = form.getAttribute('action') || '';
                if (method !== 'get' && !action.endsWith('/abmelden')) found.push('form ' + method + ' ' + action);
            }
            for (const el of document.querySelectorAll('button, input[type=submit], input[type=button]')) {
                const form = el.form;
                const method = form ? (form.getAttribute('method') || 'get').toLowerCase() : 'script';
                const action = form ? (form.getAttribute('action') || '') : '';
                if (method !== 'get' && !action.endsWith('/abmelden'))
                    found.push(el.tagName.toLowerCase() + ' "' + el.textContent.trim() + '" (' + method + ')');
            }
            return found;
        }"""
    )


@pytest.fixture
def submitted_case(session: Session, factory: Factory) -> Case:
    case = factory.case(factory.cohort(title="7. Entwicklungswerkstatt"), FINNENTROP, state=State.SUBMITTED)
    session.commit()
    return case


@pytest.fixture
def reviewed_case(session: Session, factory: Factory) -> Case:
    case = factory.case(factory.cohort(title="7. Entwicklungswerkstatt"), FINNENTROP, state=State.REVIEWED)
    session.commit()
    return case


# -- navigation and actions per role ---------------------------------------------------------------------


@pytest.mark.parametrize("role", list(NAVIGATION))
def test_each_role_sees_its_own_navigation_only(page: Page, person, role):
    user = person(role, FINNENTROP if role == "applicant" else None)
    login(page, user.email)
    assert navigation(page) == NAVIGATION[role]
    expect(page.get_by_text(f"{user.name} · {ROLE_LABELS[role]}")).to_be_visible()
    for other, path in AREAS.items():
        response = page.goto(path)
        assert response is not None
        if other == role or other in ALSO_ALLOWED.get(role, set()):
            assert response.status == 200, f"{role} at its own {path}: {response.status}"
        else:
            assert response.status == 403, f"{role} at {path} of {other}: {response.status}"
            expect(page.get_by_role("heading", level=1)).to_be_visible()
            expect(page.get_by_text("Diese Seite ist für Ihre Rolle nicht freigegeben.")).to_be_visible()


def test_the_case_page_offers_each_role_only_its_own_actions(page: Page, person, reviewed_case: Case):
    applicant = person("applicant", FINNENTROP)
    coordinator = person("coordinator")
    reviewer = person("reviewer")
    url = f"/faelle/{reviewed_case.id}"

    login(page, applicant.email)
    page.goto(url)
    expect(page.locator(".state-badge")).to_have_text("Begutachtet")
    assert transitions(page) == {"withdraw"}
    page.context.clear_cookies()

    login(page, coordinator.email)
    page.goto(url)
    assert transitions(page) == {"admit", "waitlist", "reject", "withdraw"}
    page.context.clear_cookies()

    login(page, reviewer.email)
    page.goto(url)
    assert transitions(page) == set()


def test_an_applicant_never_sees_another_municipalitys_case(page: Page, person, submitted_case: Case):
    other = person("applicant", "05966004")  # Attendorn
    login(page, other.email)
    response = page.goto(f"/faelle/{submitted_case.id}")
    assert response is not None
    assert response.status == 404


# -- the auditor reads everything and changes nothing ------------------------------------------------------


def test_an_auditors_pages_have_no_control_that_changes_anything(page: Page, person, reviewed_case: Case):
    auditor = person("auditor")
    login(page, auditor.email)
    page.goto(f"/faelle/{reviewed_case.id}")
    assert transitions(page) == set()
    expect(page.get_by_text("Für Sie ist derzeit keine Aktion möglich.")).to_be_visible()
    # The case's timeline from its page, then every page of the auditor's navigation (and the log filtered).
    page.get_by_role("link", name="Verlauf (Prüfprotokoll)").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Verlauf: {reviewed_case.reference}")
    paths = [
        f"/faelle/{reviewed_case.id}",
        page.url,
        *navigation_links(page),
        f"/pruefung?case={reviewed_case.reference}&action=transition.submit",
    ]
    for path in paths:
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert changing_controls(page) == CHECKS_ONLY.get(path, []), path
        assert transitions(page) == set(), path
    # What the auditor can use are links and GET forms: filters and exports.
    page.goto("/pruefung")
    expect(page.get_by_role("link", name="Als CSV für Excel herunterladen")).to_be_visible()
    expect(page.get_by_role("button", name="Anzeigen")).to_be_visible()


#: The one POST an auditor's page offers: checking a held checkpoint against the log (a POST because the
#: checkpoint may be uploaded as a file). It stores nothing (tests/web/test_auditing_checkpoints.py).
CHECKS_ONLY = {"/pruefung/pruefpunkte": ["form post /pruefung/pruefpunkte", 'button "Prüfen" (post)']}


def navigation_links(page: Page) -> list[str]:
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    return [a.get_attribute("href") or "" for a in nav.locator("ul.navbar-nav a").all()]


def test_a_forged_post_by_an_auditor_is_refused(page: Page, person, reviewed_case: Case, session: Session):
    auditor = person("auditor")
    login(page, auditor.email)
    page.goto(f"/faelle/{reviewed_case.id}")
    token = csrf_token(page)  # a valid token of the auditor's own session: only the role may refuse this
    for name in ("admit", "reject", "withdraw"):
        response = page.request.post(
            f"/faelle/{reviewed_case.id}/aktion",
            form={"csrf_token": token, "name": name, "version": str(reviewed_case.version), "reason": "x"},
            max_redirects=0,
        )
        assert response.status == 403, (name, response.status, response.text()[:500])
    # Nor can the auditor post any other page's form.
    for path, form in [
        ("/bewerbungen/neu", {"cohort": str(reviewed_case.cohort.number), "municipality": FINNENTROP}),
        (f"/gutachten/{reviewed_case.id}", {"recommendation": "admit"}),
        (f"/programm/faelle/{reviewed_case.id}/praxisprojekt", {"decision": "approve"}),
        ("/programm/durchgaenge/neu", {"number": "99", "title": "Gefälscht"}),
        ("/verwaltung/zugaenge/neu", {"name": "Gefälscht", "email": "x@example.org", "role": "admin"}),
        (f"/verwaltung/zugaenge/{auditor.id}/rolle", {"role": "admin"}),
        (f"/verwaltung/zugaenge/{auditor.id}/deaktivieren", {}),
        (f"/verwaltung/zugaenge/{auditor.id}/tokens", {"name": "Hintertür"}),
    ]:
        response = page.request.post(path, form={"csrf_token": token, **form}, max_redirects=0)
        assert response.status == 403, (path, response.status)
    session.expire_all()
    session.commit()
    assert session.get(Case, reviewed_case.id).state == State.REVIEWED.value
    assert session.get(Case, reviewed_case.id).version == reviewed_case.version
    assert session.get(User, auditor.id).role == "auditor"
    assert session.scalar(select(func.count(ApiToken.id)).where(ApiToken.user_id == auditor.id)) == 0
    assert session.scalar(select(func.count(User.id)).where(User.name == "Gefälscht")) == 0


# -- CSRF ---------------------------------------------------------------------------------------------------


def test_a_form_posted_without_csrf_token_is_refused(
    page: Page, person, reviewed_case: Case, session: Session
):
    coordinator = person("coordinator")
    login(page, coordinator.email)
    page.goto(f"/faelle/{reviewed_case.id}")
    form = page.locator("form", has=page.locator("button[data-transition=waitlist]"))
    form.locator("input[name=csrf_token]").evaluate("input => input.remove()")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        form.locator("button[data-transition=waitlist]").click()
    assert answer.value.status == 400
    expect(page.get_by_text("Die Anfrage ist ungültig.", exact=False)).to_be_visible()
    session.expire_all()
    session.commit()
    assert session.get(Case, reviewed_case.id).state == State.REVIEWED.value

    # With its token the same form works.
    page.goto(f"/faelle/{reviewed_case.id}")
    page.locator("button[data-transition=waitlist]").click()
    expect(page.locator(".state-badge")).to_have_text("Warteliste")


def test_a_forged_token_or_a_login_without_token_is_refused(page: Page, person):
    user = person("coordinator")
    page.goto("/anmelden")
    page.locator("input[name=csrf_token]").evaluate("input => input.value = 'gefälscht'")
    page.get_by_label("E-Mail-Adresse").fill(user.email)
    page.get_by_label("Passwort").fill(PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Anmelden").click()
    assert answer.value.status == 400
    # Another site's form (no token at all) cannot log anybody in either.
    response = page.request.post(
        "/anmelden", form={"email": user.email, "password": PASSWORD}, max_redirects=0
    )
    assert response.status == 400
    page.goto("/hilfe")
    expect(page.get_by_role("button", name="Abmelden")).to_have_count(0)


# -- login throttling ----------------------------------------------------------------------------------------


def test_five_wrong_passwords_throttle_the_login(page: Page, person):
    user = person("applicant", FINNENTROP)
    page.goto("/anmelden")
    for attempt in range(1, 6):
        page.get_by_label("E-Mail-Adresse").fill(user.email)
        page.get_by_label("Passwort").fill(f"falsch-{attempt}")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.get_by_role("button", name="Anmelden").click()
        assert answer.value.status == 401, attempt
        expect(page.get_by_role("alert")).to_have_text("E-Mail-Adresse oder Passwort ist falsch.")
    # The sixth attempt is refused before the password is even looked at: the right one does not help now.
    page.get_by_label("E-Mail-Adresse").fill(user.email)
    page.get_by_label("Passwort").fill(PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name="Anmelden").click()
    assert answer.value.status == 429
    expect(page.get_by_role("heading", level=1)).to_have_text("Zu viele Versuche")
    # Until when, in German time (Europe/Berlin, as the browser's clock shows it).
    expect(page.get_by_text(re.compile(r"ist die Anmeldung bis \d\d:\d\d Uhr gesperrt\."))).to_be_visible()
    expect(page.get_by_role("link", name="Passwort vergessen?")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/anmelden$"))
    expect(page.get_by_role("button", name="Abmelden")).to_have_count(0)


# -- the confirmation pages (issue 14) ------------------------------------------------------------------------


def test_the_confirmation_pages_open_only_for_those_who_may_act(
    page: Page, person, reviewed_case: Case, session: Session, factory: Factory
):
    certified = factory.case(factory.cohort(), "05966004", state=State.CERTIFIED)  # Attendorn
    certificate_id = session.scalars(
        select(Certificate.id).where(Certificate.case_id == certified.id)
    ).first()
    session.commit()
    withdraw = f"/faelle/{reviewed_case.id}/aktion/withdraw/bestaetigen"
    reject = f"/faelle/{reviewed_case.id}/aktion/reject/bestaetigen"
    revoke = f"/programm/faelle/{certified.id}/zertifikate/{certificate_id}/widerrufen"
    expected = {
        ("applicant", FINNENTROP): {withdraw: 200, reject: 403, revoke: 403},
        ("applicant", "05966004"): {withdraw: 404, reject: 404, revoke: 403},  # not their case
        ("reviewer", None): {withdraw: 403, reject: 403, revoke: 403},
        ("auditor", None): {withdraw: 403, reject: 403, revoke: 403},
        ("admin", None): {withdraw: 404, reject: 404, revoke: 403},
        ("coordinator", None): {withdraw: 200, reject: 200, revoke: 200},
    }
    for (role, ags), statuses in expected.items():
        page.context.clear_cookies()
        login(page, person(role, ags).email)
        for path, status in statuses.items():
            response = page.goto(path)
            assert response is not None
            assert response.status == status, (role, ags, path, response.status)
            if status == 200:
                expect(page.get_by_role("heading", level=1)).to_contain_text("Bitte bestätigen")
    session.expire_all()
    session.commit()
    assert session.get(Case, reviewed_case.id).state == State.REVIEWED.value
    assert session.scalar(select(Certificate.revoked_at).where(Certificate.id == certificate_id)) is None


# -- one's own account: password and second factor ------------------------------------------------------------

#: Every role's own account pages (issue 13); the login's and the password reset's pages are public.
ACCOUNT_PAGES = {"/passwort": "Passwort ändern", "/konto/zweiter-faktor": "Zweiten Faktor einrichten"}
PUBLIC_PAGES = {"/anmelden": "Anmelden", "/passwort-vergessen": "Passwort vergessen"}


@pytest.mark.parametrize("role", [*NAVIGATION, "admin"])
def test_every_role_reaches_its_own_account_pages_from_the_header(page: Page, person, role):
    user = person(role, FINNENTROP if role == "applicant" else None)
    login(page, user.email)
    for path, heading in ACCOUNT_PAGES.items():
        link = page.get_by_role("banner").locator(f'a[href="{path}"]')
        expect(link).to_have_count(1)
        link.click()
        expect(page).to_have_url(re.compile(re.escape(path) + "$"))
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    for path in PUBLIC_PAGES:
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path


def test_anonymous_visitors_reach_the_login_and_reset_pages_only(page: Page):
    for path, heading in PUBLIC_PAGES.items():
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    for path in [*ACCOUNT_PAGES, "/anmelden/code", "/anmelden/wiederherstellungscode"]:
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/anmelden(\?next=.*)?$"))
    page.goto("/anmelden")
    token = page.locator("input[name=csrf_token]").input_value()  # a valid token: only the login may refuse
    for path in ("/konto/zweiter-faktor/codes", "/konto/zweiter-faktor/abschalten", "/abmelden"):
        form = {"csrf_token": token, "off-password": "x", "codes-password": "x"}
        response = page.request.post(path, form=form, max_redirects=0)
        assert response.status == 302, (path, response.status)
        assert "/anmelden" in response.headers["location"], path
