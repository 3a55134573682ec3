"""Every page of the app, as each role that may see it, with a case in every state (issue 14, must-holds 3–5):
valid HTML (the Nu HTML Checker reports no error), axe-core without serious or critical violations, and no
horizontal scrolling on a 390 × 800 phone; and no Content-Security-Policy violation in Chromium (issue 19). The
sweep fails when a GET page route appears that it does not visit (`page_checks.page_endpoints`: the app's
url_map without the declared downloads)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyotp
from flask import Flask
from playwright.sync_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.models import Certificate, OutboxMessage
from ews_cases.services.access_requests import request_access
from ews_cases.services.accounts import new_token
from ews_cases.services.actors import actor_for
from ews_cases.services.contacts import add_contact
from ews_cases.services.invitations import invite, link_token
from ews_cases.services.password_reset import request_password_reset
from ews_cases.services.second_factor import enrol_second_factor, new_totp_secret
from testkit.factories import (
    ATTENDORN,
    BONN,
    DUESSELDORF,
    FINNENTROP,
    OLPE_KREIS,
    SYSTEM,
    Factory,
    complete_content,
)
from tests.browser.conftest import PASSWORD, TIMEOUT_MS, login
from tests.browser.page_checks import (
    PHONE,
    PageFindings,
    check_in_browser,
    endpoint_of,
    nu_errors,
    page_endpoints,
)
from workflows import State

#: Municipalities of the Kreis Olpe and beyond, one per case state (a municipality applies once per cohort).
DROLSHAGEN, KIRCHHUNDEM, LENNESTADT, OLPE, WENDEN = "05966008", "05966016", "05966020", "05966024", "05966028"
DUISBURG, ESSEN = "05112000", "05113000"


@dataclass
class Visitor:
    """Who looks (a role and municipality, or nobody) and the paths they open, with the status expected."""

    label: str
    role: str | None
    municipality: str | None
    paths: list[tuple[str, int]]


def _arrange(session: Session, factory: Factory, person) -> tuple[dict[State, int], list[Visitor]]:
    """A case in every state, a certificate, an API token, a contact and a password reset link; who visits
    what (and the case ids by state)."""
    open_cohort = factory.cohort(7, title="7. Entwicklungswerkstatt", capacity=3)
    workshop = factory.workshop(open_cohort)
    # Long addresses and names (a Stabsstelle's shared mailbox) must wrap on a phone, not widen the page.
    long = complete_content(tag=".stabsstelle-buergerschaftliches-engagement-und-ehrenamtsfoerderung")
    case = {
        state: factory.case(open_cohort, ags, state=state, content=long if state is State.ATTENDING else None)
        for state, ags in [
            (State.DRAFT, DROLSHAGEN),
            (State.SUBMITTED, ATTENDORN),
            (State.REVIEWED, KIRCHHUNDEM),
            (State.WAITLISTED, LENNESTADT),
            (State.REJECTED, OLPE),
            (State.WITHDRAWN, WENDEN),
            (State.ADMITTED, DUISBURG),
            (State.ATTENDING, FINNENTROP),
            (State.DROPPED_OUT, OLPE_KREIS),
            (State.PROJECT_DONE, ESSEN),
        ]
    }
    case[State.CERTIFIED] = factory.case(
        factory.cohort(6, title="6. Entwicklungswerkstatt"), BONN, state=State.CERTIFIED, content=long
    )
    certified = case[State.CERTIFIED]
    certificate = session.scalars(select(Certificate).where(Certificate.case_id == certified.id)).first()
    reviewer = factory.user("reviewer")
    new_token(session, SYSTEM, reviewer, name="Fachverfahren", expires=factory.now.date().replace(year=2099))
    contact = add_contact(session, SYSTEM, DUESSELDORF, "Anna Kontakt", "anna@duesseldorf.example")
    reset_for = person("applicant", DUESSELDORF)
    request_password_reset(session, reset_for.email)
    body = session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id.desc())).first()
    reset_path = re.search(r"(/passwort-vergessen/\S+)", body or "").group(1)
    invitation = invite(
        session, SYSTEM, email="ines@olpe.example", name="Ines Neu", role="applicant", municipality_ags=OLPE
    )
    request_access(
        session, name="Bernd Bonn", email="bernd@bonn.example", municipality_ags=BONN, position="Amt 51"
    )
    session.commit()
    invitation_path = f"/zugang/{link_token(invitation.token_salt)}"

    case_pages = [(f"/faelle/{c.id}", 200) for c in case.values()]
    c = {state: c.id for state, c in case.items()}
    return c, [
        Visitor(
            "anonymous",
            None,
            None,
            [
                ("/", 200),  # to the login page
                ("/anmelden", 200),
                ("/hilfe", 200),
                (f"/verify/{certificate.verification_code}", 200),
                ("/verify/unbekannt", 404),
                ("/verify", 200),
                ("/verify?code=+", 400),
                ("/impressum", 200),
                ("/datenschutz", 200),
                ("/barrierefreiheit", 200),
                ("/barrierefreiheit/rueckmeldung", 200),
                ("/passwort-vergessen", 200),
                (reset_path, 200),
                ("/passwort-vergessen/unbekannt", 404),
                (f"/unsubscribe/{contact.unsubscribe_token}", 200),
                (invitation_path, 200),
                ("/zugang/unbekannt", 404),
                ("/zugang/beantragen", 200),
            ],
        ),
        Visitor(
            "applicant with a case attending",
            "applicant",
            FINNENTROP,
            [
                ("/", 200),
                ("/bewerbungen", 200),
                (f"/faelle/{c[State.ATTENDING]}", 200),
                (f"/bewerbungen/{c[State.ATTENDING]}/praxisprojekt", 200),
                ("/passwort", 200),
                ("/konto/zweiter-faktor", 200),
                ("/hilfe", 200),
                ("/faelle/999999", 404),
            ],
        ),
        Visitor(
            "applicant with a draft",
            "applicant",
            DROLSHAGEN,
            [
                (f"/faelle/{c[State.DRAFT]}", 200),
                (f"/bewerbungen/{c[State.DRAFT]}/bearbeiten", 200),
                (f"/faelle/{c[State.DRAFT]}/aktion/withdraw/bestaetigen", 200),
            ],
        ),
        Visitor(
            "applicant with a submitted case",
            "applicant",
            ATTENDORN,
            [
                (f"/faelle/{c[State.SUBMITTED]}", 200),
                (f"/faelle/{c[State.SUBMITTED]}/aktion/withdraw/bestaetigen", 200),
            ],
        ),
        Visitor("applicant certified", "applicant", BONN, [(f"/faelle/{c[State.CERTIFIED]}", 200)]),
        Visitor("applicant without a case", "applicant", DUESSELDORF, [("/bewerbungen/neu", 200)]),
        Visitor(
            "reviewer",
            "reviewer",
            None,
            [("/", 200), ("/gutachten", 200), (f"/gutachten/{c[State.SUBMITTED]}", 200)],
        ),
        Visitor(
            "coordinator",
            "coordinator",
            None,
            [
                ("/", 200),
                ("/programm", 200),
                ("/programm/bewerbungen", 200),
                ("/programm/bewerbungen?seite=2", 200),
                ("/programm/e-mails", 200),
                ("/programm/e-mails?status=sent&status=cancelled", 200),
                ("/programm/durchgaenge/neu", 200),
                ("/programm/durchgaenge/7/bearbeiten", 200),
                ("/programm/durchgaenge/7/termine/neu", 200),
                (f"/programm/durchgaenge/7/termine/{workshop.id}", 200),
                ("/programm/zugaenge", 200),
                (f"/programm/faelle/{c[State.ATTENDING]}/anwesenheit", 200),
                (f"/programm/faelle/{c[State.ATTENDING]}/praxisprojekt", 200),
                (f"/programm/faelle/{c[State.CERTIFIED]}/zertifikate", 200),
                (
                    f"/programm/faelle/{c[State.CERTIFIED]}/zertifikate/{certificate.id}/widerrufen",
                    200,
                ),
                (
                    f"/programm/faelle/{c[State.CERTIFIED]}/zertifikate/{certificate.id}/ersetzen",
                    200,
                ),
                ("/programm/durchgaenge/6/zertifikate", 200),
                ("/programm/datenschutz", 200),
                (f"/programm/faelle/{c[State.CERTIFIED]}/aufbewahrungssperre", 200),
                ("/bewerbungen/neu?q=olpe", 200),
                *case_pages,
                (f"/faelle/{c[State.SUBMITTED]}/aktion/return_for_revision/bestaetigen", 200),
                (f"/faelle/{c[State.REVIEWED]}/aktion/admit/bestaetigen", 200),
                (f"/faelle/{c[State.REVIEWED]}/aktion/reject/bestaetigen", 200),
                (f"/faelle/{c[State.WAITLISTED]}/aktion/admit/bestaetigen", 200),
                (f"/faelle/{c[State.ADMITTED]}/aktion/withdraw/bestaetigen", 200),
                (f"/faelle/{c[State.ATTENDING]}/aktion/drop_out/bestaetigen", 200),
            ],
        ),
        Visitor(
            "auditor",
            "auditor",
            None,
            [
                ("/", 200),
                ("/pruefung", 200),
                ("/pruefung?order=newest", 200),
                *[(f"/pruefung/faelle/{c[state]}", 200) for state in (State.CERTIFIED, State.DROPPED_OUT)],
                (f"/pruefung/faelle/{c[State.ATTENDING]}?order=newest", 200),
                ("/pruefung/bewerbungen", 200),
                ("/pruefung/bewerbungen?q=Finnentrop", 200),
                ("/pruefung/pruefkette", 200),
                ("/konto/pruefpunkte", 200),
                ("/programm/zugaenge", 200),  # read only: no forms
            ],
        ),
        Visitor(
            "admin",
            "admin",
            None,
            [
                ("/", 200),
                ("/verwaltung", 200),
                ("/verwaltung?q=x&rolle=reviewer&status=inactive", 200),
                ("/verwaltung/zugaenge/neu", 200),
                (f"/verwaltung/zugaenge/{reviewer.id}", 200),
            ],
        ),
    ]


def test_every_page_is_valid_accessible_and_fits_a_phone(
    browser: Browser,
    live_url: str,
    app: Flask,
    session: Session,
    factory: Factory,
    person,
    csp_violations: list[str],
):
    case_ids, visitors = _arrange(session, factory, person)
    findings = PageFindings(csp_violations=csp_violations)
    visited: set[str] = set()

    def context():
        ctx = browser.new_context(
            base_url=live_url, locale="de-DE", timezone_id="Europe/Berlin", viewport=PHONE
        )
        ctx.set_default_timeout(TIMEOUT_MS)
        return ctx

    def visit(page, label: str, path: str, status: int) -> None:
        response = page.goto(path)
        assert response is not None
        visited.add(endpoint_of(app, path))
        name = f"{label} {path}"
        if response.status != status:
            findings.problems.append(f"{name}: status {response.status}, expected {status}")
        findings.html[name] = response.body()
        check_in_browser(page, name, findings)

    for visitor in visitors:
        ctx = context()
        page = ctx.new_page()
        if visitor.role is not None:
            login(page, person(visitor.role, visitor.municipality).email)
        for path, status in visitor.paths:
            visit(page, visitor.label, path, status)
        ctx.close()

    def sent(page, label: str, button: str, status: int) -> None:
        """The page a form's answer shows (refusals and one-time results are pages people see too)."""
        with page.expect_navigation() as navigation:
            page.get_by_role("button", name=button).click()
        response = navigation.value
        name = f"{label} {page.url.removeprefix(live_url)} after {button!r}"
        if response is None or response.status != status:
            findings.problems.append(f"{name}: status {response and response.status}, expected {status}")
        findings.html[name] = response.body() if response is not None else b""
        check_in_browser(page, name, findings)

    ctx = context()
    page = ctx.new_page()
    login(page, person("coordinator").email)
    page.goto(f"/faelle/{case_ids[State.REVIEWED]}/aktion/reject/bestaetigen")
    sent(page, "coordinator", "Ablehnen", 422)  # no reason given
    page.goto("/programm/durchgaenge/neu")
    sent(page, "coordinator", "Speichern", 422)
    page.goto("/programm/datenschutz")
    page.locator("#loeschung-email").fill("person1@example.org")
    sent(page, "coordinator", "Löschung prüfen", 200)  # the erasure preview: what is erased, what is kept
    page.goto("/konto/zweiter-faktor")
    secret = page.locator("#totp-schluessel").inner_text().replace(" ", "")
    page.get_by_label("Sechsstelliger Code aus Ihrer App").fill(pyotp.TOTP(secret).now())
    sent(page, "coordinator", "Einrichten", 200)  # the recovery codes, shown once
    ctx.close()
    ctx = context()
    page = ctx.new_page()
    login(page, person("admin").email)
    page.goto(f"/verwaltung/zugaenge/{person('reviewer').id}")
    page.get_by_label("Bezeichnung").fill("Fachverfahren")
    sent(page, "admin", "Token erstellen", 201)  # the token, shown once
    ctx.close()
    ctx = context()
    page = ctx.new_page()
    login(page, person("applicant", DUESSELDORF).email)
    page.goto("/bewerbungen/neu")
    sent(page, "applicant", "Entwurf speichern", 200)  # the saved draft, with what is missing
    ctx.close()

    # The login's second step and its way out, for a person with a second factor.
    secret = new_totp_secret()
    user = person("coordinator")
    enrol_second_factor(session, actor_for(user), user, secret, pyotp.TOTP(secret).now())
    session.commit()
    ctx = context()
    page = ctx.new_page()
    page.goto("/anmelden")
    page.get_by_label("E-Mail-Adresse").fill(user.email)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).to_have_url(re.compile(r"/anmelden/code$"))
    visit(page, "second factor", "/anmelden/code", 200)
    visit(page, "second factor", "/anmelden/wiederherstellungscode", 200)
    ctx.close()

    missing = page_endpoints(app) - visited
    assert not missing, (
        f"GET pages the sweep does not visit (add them, or to page_checks.NOT_PAGES): {missing}"
    )
    problems = findings.problems + nu_errors(findings.html)
    assert not problems, f"{len(problems)} problems on {len(findings.html)} pages:\n" + "\n".join(problems)
