"""Browser tests: the real pages in a real Chromium (Debian's, headless) driven by Playwright.

The test's own `app` is served over HTTP by werkzeug in a background thread (`served_app` may be overridden,
e.g. by an app wired to a real Celery worker). Each test gets a fresh browser context (no cookies shared).
Chromium is not optional: without it these tests fail and say how to install it (`scripts/dev test` does).
Accessibility is checked with axe-core from npm (`npm ci` installs it into `node_modules/`).
Every browser context reports what Chromium refuses under the Content-Security-Policy (issue 19): a browser
test fails on any violation (`csp_violations`).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from sqlalchemy.orm import Session

from ews_cases.models import User
from ews_cases.services import users
from testkit.factories import SYSTEM, Factory
from tests.api.live_server import live_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("EWS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "docs" / "screenshots"
PASSWORD = "Richtig-Passwort-2025"
_numbers = itertools.count(1)
#: Playwright's waits (ms): the pages are local, but a loaded CI machine may be slow.
TIMEOUT_MS = 15_000
#: Runs in every document before its own content: reports each Content-Security-Policy violation to the test
#: through a binding, which outlives navigations (a violation on a page left at once still counts).
CSP_WATCH = """
document.addEventListener('securitypolicyviolation', (e) => window.ewsCspViolation(
  `${e.effectiveDirective} refused ${e.blockedURI || 'inline code'} on ${e.documentURI} ` +
  `(line ${e.lineNumber}): ${e.sample}`));
"""


# -- the browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Module scope, not session: the sync API keeps an event loop marked as running in this thread while
    it lives, which other tests of the same (xdist) process must not see."""
    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def csp_log() -> list[str]:
    """The CSP violations Chromium reported in this module's browser contexts, not yet checked."""
    return []


def watch_csp(browser: Browser, log: list[str]) -> None:
    """Every context the tests open on `browser` reports its pages' CSP violations into `log`."""
    new_context = browser.new_context

    def watched(**options: Any) -> BrowserContext:
        context = new_context(**options)
        context.expose_binding("ewsCspViolation", lambda _source, text: log.append(text))
        context.add_init_script(CSP_WATCH)
        return context

    browser.new_context = watched  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def csp_violations(csp_log: list[str]) -> Iterator[list[str]]:
    """The CSP violations of this test so far; the test fails if any is left unchecked at its end (after its
    browser contexts closed). A test may take them out of the list to report them itself."""
    csp_log.clear()
    yield csp_log
    found, csp_log[:] = list(csp_log), []
    assert not found, "Chromium reported Content-Security-Policy violations:\n" + "\n".join(found)


@pytest.fixture(scope="module")
def browser(playwright: Playwright, csp_log: list[str]) -> Iterator[Browser]:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need it. Install it with "
            "`apt-get install chromium` (scripts/dev test does) or set EWS_TEST_CHROMIUM to its path. "
            "Do not run `playwright install`.",
            pytrace=False,
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    watch_csp(browser, csp_log)
    yield browser
    browser.close()


# -- the server ----------------------------------------------------------------------------------------


@pytest.fixture
def served_app(app: Flask) -> Flask:
    """The app behind the live server; a test module may override this fixture."""
    return app


@pytest.fixture
def live_url(served_app: Flask, db) -> Iterator[str]:
    """The base URL of the served app, on an emptied database (commit what you arrange before requests)."""
    with live_server(served_app) as url:
        yield url


@pytest.fixture
def context(browser: Browser, live_url: str) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=live_url,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def new_page(context: BrowserContext, browser: Browser, live_url: str) -> Iterator[Callable[[], Page]]:
    """Another person at another computer: a page in a context of its own (its own cookies)."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        other = browser.new_context(
            base_url=live_url, locale="de-DE", timezone_id="Europe/Berlin", accept_downloads=True
        )
        other.set_default_timeout(TIMEOUT_MS)
        contexts.append(other)
        return other.new_page()

    yield make
    for other in contexts:
        other.close()


# -- people --------------------------------------------------------------------------------------------


@pytest.fixture
def person(session: Session, factory: Factory) -> Callable[..., User]:
    """A committed user with the test password: `person("reviewer")`, `person("applicant", FINNENTROP)`,
    or with a name for the screenshots: `person("coordinator", name="Claudia Koordination")`."""

    def make(role: str, municipality_ags: str | None = None, *, name: str | None = None) -> User:
        if name is None:
            user = factory.user(role, municipality_ags, password=PASSWORD)
        else:
            email = f"{role}.{next(_numbers)}@example.org"
            user = users.create_user(
                session,
                SYSTEM,
                email=email,
                name=name,
                role=role,
                municipality_ags=municipality_ags,
                password=PASSWORD,
            )
        session.commit()
        return user

    return make


def login(page: Page, email: str, password: str = PASSWORD) -> None:
    """Log in through the login form and wait for the role's start page."""
    page.goto("/anmelden")
    page.get_by_label("E-Mail-Adresse").fill(email)
    page.get_by_label("Passwort").fill(password)
    page.get_by_role("button", name="Anmelden").click()
    expect(page).not_to_have_url(re.compile(r"/anmelden"))


def field(scope: Page | Locator, label: str) -> Locator:
    """The control labelled exactly `label` (a required field's label ends with an aria-hidden "*")."""
    return scope.get_by_label(re.compile("^" + re.escape(label) + r"( \*)?$"))


def logout(page: Page) -> None:
    page.get_by_role("button", name="Abmelden").click()
    expect(page).to_have_url(re.compile(r"/anmelden"))


def csrf_token(page: Page) -> str:
    """The CSRF token of the current page's forms (every logged-in page has the logout form)."""
    return page.locator("input[name=csrf_token]").first.input_value()


# -- accessibility and screenshots ----------------------------------------------------------------------


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """Run axe-core in the page; the violations of the given impacts, each with its failing elements."""
    if not AXE.is_file():
        pytest.fail(f"axe-core missing at {AXE}: run `npm ci` in the repository root.", pytrace=False)
    # Evaluated through the DevTools protocol, not as a <script> element, which the CSP would refuse.
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def assert_accessible(page: Page) -> None:
    violations = axe_violations(page)
    assert not violations, f"axe-core on {page.url}:\n" + "\n".join(
        f"- {v['impact']} {v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}\n"
        + "\n".join(f"    {n['summary']}" for n in v["nodes"])
        for v in violations
    )


def screenshot(page: Page, name: str, max_height: int = 2600) -> Path:
    """A PNG of the page (from the top, at most `max_height` pixels) in docs/screenshots/ (for the README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    size = page.viewport_size or {"width": 1280, "height": 900}
    height = min(page.evaluate("document.documentElement.scrollHeight"), max_height)
    page.screenshot(
        path=str(path),
        full_page=True,
        clip={"x": 0, "y": 0, "width": size["width"], "height": max(height, size["height"])},
        animations="disabled",
        caret="hide",
    )
    return path
