"""What every page must pass (issue 14): the Nu HTML Checker without errors, axe-core without serious or
critical violations (`conftest.axe_violations`), no horizontal scrolling on a 390 px wide phone, and (issue 19)
no Content-Security-Policy violation reported by Chromium (`conftest.csp_violations`).

The Nu HTML Checker is `vnu.jar` from npm (`vnu-jar`, installed by `npm ci`) run with the system's Java; all
collected pages go to one Java process, as starting it costs more than checking a page.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page

from tests.browser.conftest import ROOT, axe_violations

VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
#: A phone held upright (issue 14): every page fits this width without scrolling sideways.
PHONE = {"width": 390, "height": 800}
#: The blueprints whose GET routes are pages for people (not the API, its OpenAPI document, the metrics
#: or static files).
PAGE_BLUEPRINTS = frozenset({"web", "applicant", "reviewer", "office", "auditing", "admin", "public"})
#: GET routes of those blueprints that are not HTML pages, so no sweep visits them.
NOT_PAGES: Mapping[str, str] = {
    "applicant.certificate": "a certificate PDF download (tests/browser/test_journey.py opens it)",
    "auditing.export": "the audit export as a CSV or JSON Lines download (tests/test_cli_audit.py and "
    "tests/web check its content)",
    "office.case_list_export": "the case list as a CSV or XLSX download (tests/web/test_office_exports.py)",
    "office.attendance_export": "a cohort's attendance register as a CSV or XLSX download "
    "(tests/web/test_office_exports.py)",
}


def page_endpoints(app: Flask) -> set[str]:
    """The endpoints of every GET page of the app (from its url_map), without the declared downloads."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in (rule.methods or ())
        and rule.endpoint.partition(".")[0] in PAGE_BLUEPRINTS
        and rule.endpoint not in NOT_PAGES
    }


def endpoint_of(app: Flask, path: str) -> str:
    """The endpoint that answers a GET of `path` (query string ignored)."""
    adapter = app.url_map.bind("ews.test")
    endpoint, _args = adapter.match(path.partition("?")[0], method="GET")
    return endpoint


@dataclass
class PageFindings:
    """What the checks found on the pages of one sweep, as readable lines."""

    html: dict[str, bytes] = field(default_factory=dict)  # label → the HTML the server sent
    problems: list[str] = field(default_factory=list)
    #: The test's `csp_violations`: what arrived since the last page is reported under that page's label.
    csp_violations: list[str] = field(default_factory=list)


def check_in_browser(page: Page, label: str, findings: PageFindings) -> None:
    """Width and axe-core on the page the browser shows now (already loaded at the phone's width)."""
    menu = page.locator("details.nav-menu > summary")
    if menu.count() and menu.is_visible():
        _check_width(page, f"{label} (menu closed)", findings)
        menu.click()  # the open menu must fit too, and axe-core checks its links
        # The button's hover colours fade in (Bootstrap's transition): check the colours it ends with.
        page.evaluate("Promise.all(document.getAnimations().map(a => a.finished))")
        label = f"{label} (menu open)"
    _check_width(page, label, findings)
    for v in axe_violations(page):
        targets = [n["target"] for n in v["nodes"]][:5]
        findings.problems.append(f"{label}: axe {v['impact']} {v['id']} ({v['help']}) at {targets}")
    findings.problems.extend(f"{label}: CSP {violation}" for violation in findings.csp_violations)
    findings.csp_violations.clear()


def _check_width(page: Page, label: str, findings: PageFindings) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        wide = page.evaluate(
            """(limit) => [...document.querySelectorAll('body *')]
                 .filter(el => el.checkVisibility() && el.getBoundingClientRect().right > limit + 0.5
                               && !el.parentElement.closest('.table-scroll'))
                 .slice(0, 4).map(el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : ''))""",
            PHONE["width"],
        )
        findings.problems.append(f"{label}: {width} px wide at {PHONE['width']} px (widest: {wide})")


def nu_errors(documents: Mapping[str, bytes]) -> list[str]:
    """The Nu HTML Checker's errors for each document (label → HTML), in one Java process."""
    java = shutil.which("java")
    if java is None or not VNU.is_file():
        pytest.fail(
            f"The Nu HTML Checker needs Java and {VNU.relative_to(ROOT)}: run `npm ci` and install Java "
            "(`apt-get install default-jre-headless`; scripts/dev test does both).",
            pytrace=False,
        )
    with tempfile.TemporaryDirectory(prefix="ews-vnu-") as folder:
        files: dict[str, str] = {}  # file name → label
        for number, (label, html) in enumerate(documents.items()):
            path = Path(folder) / f"page{number:04d}.html"
            path.write_bytes(html)
            files[path.name] = label
        result = subprocess.run(
            [java, "-jar", str(VNU), "--format", "json", "--stdout", "--errors-only", folder],
            capture_output=True,
            timeout=300,
            check=False,
        )
    report = json.loads(result.stdout or b"{}")
    if "messages" not in report:
        pytest.fail(f"vnu.jar gave no report (exit {result.returncode}): {result.stderr[-2000:]!r}")
    found = []
    for message in report["messages"]:
        if message.get("type") not in ("error", "non-document-error"):
            continue
        url = message.get("url", "?")
        label = files.get(url.rpartition("/")[2], url)
        extract = (message.get("extract") or "").replace("\n", " ")
        found.append(f"{label}: Nu line {message.get('lastLine')}: {message['message']} [{extract}]")
    return found
