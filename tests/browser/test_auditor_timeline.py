"""The auditor's timeline in a real browser (issue 14, must-hold 6): what a reader sees holds no English
action code or data key, the raw JSON is one click away and equal to what the hash covers; the case list
leads there; on a 390 px phone the content of the auditor's pages stays within the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit.chain import canonical_json, event_record
from ews_cases.models import AuditEvent
from tests.browser.conftest import axe_violations, login
from tests.web.audit_world import PASSWORD, REFUSED, History, build_history
from tests.web.test_auditor_timeline import codes_of, english_codes_in
from tests.workers.conftest import smtp_sink  # noqa: F401 - the real SMTP server of the world's emails


@pytest.fixture
def history(session, factory, settings, smtp_sink) -> History:  # noqa: F811
    smtp_sink.decide = lambda message: "550 mailbox unavailable" if message["To"] == REFUSED else None
    return build_history(session, factory, settings, smtp_sink.host, smtp_sink.port)


def case_events(session: Session, history: History) -> list[AuditEvent]:
    events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.case_id == history.case.id).order_by(AuditEvent.position)
        )
    )
    session.commit()
    return events


def test_the_timeline_reads_in_german_and_the_raw_json_is_one_click_away(page: Page, session, history):
    login(page, history.auditor.email, PASSWORD)
    page.get_by_role("link", name="Bewerbungen").click()
    page.get_by_label("Aktenzeichen oder Kommune").fill("Finnentrop")
    page.get_by_role("button", name="Suchen").click()
    page.get_by_role("link", name=history.case.reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Verlauf: {history.case.reference}")

    events = case_events(session, history)
    expect(page.locator("li.event")).to_have_count(len(events))
    expect(page.locator("details.raw-json[open]")).to_have_count(0)
    seen = page.locator("main").inner_text()
    assert "Gutachten abgegeben von Dr. Beispiel: Bedarf 4, Strategie 3" in seen
    assert english_codes_in(seen, codes_of(events)) == set()

    # One click opens the bytes the hash covers, exactly as stored.
    review = next(e for e in events if e.action == "review.recorded")
    item = page.locator(f"#ereignis-{review.id}")
    item.get_by_text("Rohdaten zum Nachrechnen (kanonisches JSON)").click()
    canonical = item.locator("pre.canonical")
    expect(canonical).to_be_visible()
    assert canonical.inner_text() == canonical_json(event_record(review)).decode("utf-8")
    expect(item).to_contain_text(review.hash)
    assert axe_violations(page) == []


def test_newest_first_is_one_click_away(page: Page, session, history):
    login(page, history.auditor.email, PASSWORD)
    page.goto(f"/pruefung/faelle/{history.case.id}")
    page.get_by_role("link", name="neueste zuerst").click()
    positions = page.locator("li.event").evaluate_all("els => els.map(e => Number(e.dataset.position))")
    assert positions == sorted(positions, reverse=True)
    assert len(positions) == len(case_events(session, history))
    expect(page.get_by_role("heading", name="Ereignisse (neueste zuerst, Ortszeit Berlin)")).to_be_visible()


#: Elements of the content that reach past the right edge, but for those inside a table's own scroll box.
TOO_WIDE = """() => [...document.querySelectorAll('main, main *')]
    .filter(e => e.getBoundingClientRect().right > window.innerWidth && !e.closest('.table-scroll'))
    .map(e => e.tagName.toLowerCase() + '.' + e.className)"""


def test_the_auditors_pages_fit_a_phone(page: Page, history):
    """The content of each page stays within 390 px, the raw JSON opened too (the header and its menu are
    the layout's, tested with every page of the journeys)."""
    login(page, history.auditor.email, PASSWORD)
    page.set_viewport_size({"width": 390, "height": 800})
    for path in (
        f"/pruefung/faelle/{history.case.id}",
        "/pruefung/bewerbungen",
        "/pruefung?limit=50",
    ):
        page.goto(path)
        for summary in page.locator("details.raw-json > summary").all()[:10]:
            summary.click()  # the opened raw JSON wraps instead of widening the page
        assert page.evaluate(TOO_WIDE) == [], path
