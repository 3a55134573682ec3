"""Lists that grow (issue 14): a reviewer's past reviews and the email delivery page come page by page; the
delivery page shows what needs attention (waiting, failed) unless other states are asked for."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from ews_cases.mail.delivery import SmtpSender, cancel_pending, deliver_batch
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import OutboxMessage, utcnow
from ews_cases.services.reviews import record_review
from ews_cases.web import office, reviewer
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, SYSTEM
from tests.web.helpers import login
from tests.workers.conftest import smtp_sink  # noqa: F401 - the real SMTP server the emails go to
from workflows import State

PASSWORD = "Listen-Passwort-1"
SCORES = {"need": 3, "strategy": 3, "leadership": 3, "capacity": 3, "network": 3}


def rows(page: str, attribute: str) -> list[str]:
    return re.findall(rf'<(?:tr|li)\b[^>]* {attribute}="([^"]+)"', page)


def next_link(page: str) -> str | None:
    found = re.search(r'<a class="page-link" rel="next" href="([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def follow(client, url: str, attribute: str) -> tuple[list[str], int]:
    """Every row over all pages, following "Nächste Seite"; and how many pages there were."""
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        seen += rows(page, attribute)
        pages += 1
        url = next_link(page)
        assert pages < 50
    return seen, pages


# -- the reviewer's history -----------------------------------------------------------------------------------


@pytest.fixture
def reviewer_with_history(session, factory):
    """A reviewer who reviewed five cases (in two cohorts) and has one still waiting."""
    user = factory.user("reviewer", password=PASSWORD)
    first, second = factory.cohort(), factory.cohort()
    reviewed = []
    for cohort, ags in (
        (first, FINNENTROP),
        (first, ATTENDORN),
        (first, DUESSELDORF),
        (second, BONN),
        (second, FINNENTROP),
    ):
        case = factory.case(cohort, ags, state=State.SUBMITTED)
        reviewed.append(record_review(session, case, user, scores=SCORES, recommendation="admit"))
    factory.case(second, ATTENDORN, state=State.SUBMITTED)
    session.commit()
    return user, reviewed


def test_a_reviewers_history_comes_page_by_page_newest_first(app, reviewer_with_history, monkeypatch):
    user, reviewed = reviewer_with_history
    monkeypatch.setattr(reviewer, "HISTORY_PER_PAGE", 2)
    client = app.test_client()
    login(client, user.email, PASSWORD)

    first = client.get("/gutachten").get_data(as_text=True)
    assert "Einträge 1–2 von 5 · Seite 1 von 3" in first
    assert next_link(first) == "/gutachten?seite=2#abgegebene-gutachten"
    assert len(rows(first, "data-case")) == 1  # the waiting case is on every page, not paginated
    seen, pages = follow(client, "/gutachten", "data-review")
    assert pages == 3
    assert seen == [str(r.id) for r in reversed(reviewed)]  # newest first, each once

    last = client.get("/gutachten?seite=3").get_data(as_text=True)
    assert "Einträge 5–5 von 5 · Seite 3 von 3" in last
    assert 'rel="prev" href="/gutachten?seite=2#abgegebene-gutachten"' in last
    assert len(rows(last, "data-case")) == 1


def test_a_short_history_has_no_page_links(app, reviewer_with_history):
    user, _reviewed = reviewer_with_history
    client = app.test_client()
    login(client, user.email, PASSWORD)
    page = client.get("/gutachten").get_data(as_text=True)
    assert len(rows(page, "data-review")) == 5
    assert "Einträge 1–5 von 5" in page
    assert "page-link" not in page


# -- the delivery page ----------------------------------------------------------------------------------------


@pytest.fixture
def mailbox(session, settings, smtp_sink):  # noqa: F811
    """Delivered over SMTP: 3 sent, 2 refused for good (failed); then 2 cancelled and 3 still waiting."""
    smtp_sink.decide = lambda m: "550 mailbox unavailable" if m["To"].startswith("weg") else None

    def queue(*recipients: str) -> list[int]:
        return enqueue_emails(
            session,
            [
                Email(
                    dedup_key=f"test:{to}",
                    kind="deadline_reminder",
                    recipient=to,
                    subject=f"An {to}",
                    body="…",
                )
                for to in recipients
            ],
        )

    queue("a1@example.org", "a2@example.org", "a3@example.org", "weg1@example.org", "weg2@example.org")
    session.commit()
    mail = settings.model_copy(update={"smtp_host": smtp_sink.host, "smtp_port": smtp_sink.port})
    sender = SmtpSender(mail)
    try:
        deliver_batch(session, mail, sender, now=utcnow() + timedelta(minutes=1))
    finally:
        sender.close()
    cancel_pending(session, SYSTEM, queue("storno1@example.org", "storno2@example.org"), "Versehentlich.")
    queue("wartet1@example.org", "wartet2@example.org", "wartet3@example.org")
    session.commit()
    statuses = dict(session.execute(select(OutboxMessage.recipient, OutboxMessage.status)).all())
    session.commit()
    return statuses


@pytest.fixture
def office_client(app, session, factory):
    coordinator = factory.user("coordinator", password=PASSWORD)
    session.commit()
    client = app.test_client()
    login(client, coordinator.email, PASSWORD)
    return client


def statuses_on(client, **params) -> list[str]:
    response = client.get("/programm/e-mails", query_string=params)
    assert response.status_code == 200
    return rows(response.get_data(as_text=True), "data-status")


def test_the_delivery_page_shows_waiting_and_failed_unless_asked(office_client, mailbox):
    assert sorted(mailbox.values()) == ["cancelled"] * 2 + ["failed"] * 2 + ["pending"] * 3 + ["sent"] * 3
    page = office_client.get("/programm/e-mails").get_data(as_text=True)
    assert sorted(rows(page, "data-status")) == ["failed"] * 2 + ["pending"] * 3
    assert "Wartende und fehlgeschlagene E-Mails" in page
    # The form says what is shown, with the count of each state.
    assert re.findall(
        r'<input class="form-check-input" type="checkbox" name="status" value="(\w+)"[^>]* checked>', page
    ) == [
        "pending",
        "failed",
    ]
    assert dict(re.findall(r'data-total="(\w+)">(\d+)<', page)) == {
        "pending": "3",
        "sent": "3",
        "failed": "2",
        "cancelled": "2",
    }
    assert "550 mailbox unavailable" in page

    assert statuses_on(office_client, status="cancelled") == ["cancelled"] * 2
    assert (
        sorted(statuses_on(office_client, status=["sent", "cancelled"])) == ["cancelled"] * 2 + ["sent"] * 3
    )
    assert statuses_on(office_client, status="failed") == ["failed"] * 2  # the dashboard's link
    assert len(statuses_on(office_client, status=["pending", "sent", "failed", "cancelled"])) == 10
    assert sorted(statuses_on(office_client, status="unbekannt")) == ["failed"] * 2 + ["pending"] * 3
    asked = office_client.get("/programm/e-mails?status=cancelled").get_data(as_text=True)
    assert "E-Mails: abgebrochen" in asked


def test_the_delivery_page_finds_a_recipient(office_client, mailbox):
    page = office_client.get("/programm/e-mails", query_string={"q": "WEG1"}).get_data(as_text=True)
    assert re.findall(r"<td class=\"text-break\">([^<]+)</td>", page) == ["weg1@example.org"]
    assert statuses_on(office_client, q="storno") == []  # cancelled ones only when asked
    assert statuses_on(office_client, q="storno", status="cancelled") == ["cancelled"] * 2


def test_the_delivery_page_comes_page_by_page_and_keeps_its_filters(office_client, mailbox, monkeypatch):
    monkeypatch.setattr(office, "OUTBOX_PER_PAGE", 2)
    first = office_client.get("/programm/e-mails").get_data(as_text=True)
    assert "Einträge 1–2 von 5 · Seite 1 von 3" in first
    seen, pages = follow(office_client, "/programm/e-mails", "data-message")
    assert pages == 3
    assert len(set(seen)) == 5

    asked = office_client.get("/programm/e-mails?status=sent&status=cancelled").get_data(as_text=True)
    link = next_link(asked)
    assert link == "/programm/e-mails?seite=2&status=sent&status=cancelled"
    seen, pages = follow(office_client, "/programm/e-mails?status=sent&status=cancelled", "data-status")
    assert (sorted(seen), pages) == (["cancelled"] * 2 + ["sent"] * 3, 3)
