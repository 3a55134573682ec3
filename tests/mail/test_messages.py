"""Every letter as the message that goes over the wire, read back with the `email` package (policy default).

Issue 15, must hold 1 and 2: text and HTML from the same letter, `Auto-Submitted`, the programme office's
signature, the reader's salutation, no login links for people without an account, HTML that passes the
Nu HTML Checker; reminders that name the cohort's real deadline.
"""

from __future__ import annotations

import email
import json
import re
import subprocess
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

from sqlalchemy import select

from ews_cases.mail.delivery import render_message
from ews_cases.mail.letters import greeting
from ews_cases.models import Case, Contact, OutboxMessage, TeamMember, User
from ews_cases.services.contacts import add_contact
from ews_cases.services.password_reset import request_password_reset
from ews_cases.services.reminders import run_reminder_scan
from tests.mail.test_letter_texts import OFFICE, arrange, configure_office
from tests.mail.test_letters import KINDS
from workflows import State

VNU = Path(__file__).resolve().parents[2] / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
URL = re.compile(r"https?://[^\s<>\"“”„]+[^\s<>\"“”„.,;:!?)]")
#: Pages a person without an account can open: an invitation or access request, an unsubscribe link, a
#: certificate's verification, a password reset link (only ever sent to an account).
OPEN_PATHS = ("/zugang/", "/unsubscribe/", "/verify/")
#: Letters about an account (they greet the account's name; accounts have no salutation).
ACCOUNT_LETTERS = {"password_reset", "invitation", "access_declined"}


def _parsed(message: OutboxMessage, sender: str) -> EmailMessage:
    return email.message_from_bytes(render_message(message, sender).data, policy=default)


def _messages(session, settings) -> list[tuple[OutboxMessage, EmailMessage]]:
    rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.kind, OutboxMessage.id)).all()
    return [(row, _parsed(row, settings.mail_sender)) for row in rows]


def _people(session) -> dict[str, set[tuple[str, str]]]:
    """Every address a letter about a case or a reminder goes to, with the (name, salutation) it is known by."""
    known: dict[str, set[tuple[str, str]]] = {}
    rows = [
        *session.execute(select(Contact.email, Contact.name, Contact.salutation)),
        *session.execute(select(Case.contact_email, Case.contact_name, Case.contact_salutation)),
        *session.execute(select(TeamMember.email, TeamMember.name, TeamMember.salutation)),
    ]
    for address, name, salutation in rows:
        known.setdefault(address.lower(), set()).add((name, salutation))
    return known


def test_every_letter_is_a_multipart_message_with_text_html_signature_and_no_login_link_without_account(
    session, factory, app, monkeypatch, tmp_path
):
    settings = app.extensions["ews"].settings
    configure_office(settings, monkeypatch)
    arrange(session, factory)
    request_password_reset(session, "heide@kommune.example", now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    session.commit()
    messages = _messages(session, settings)
    assert {row.kind for row, _ in messages} == KINDS
    accounts = {address.lower() for address in session.scalars(select(User.email).where(User.active))}
    people = _people(session)
    html_files = []
    for number, (row, mail) in enumerate(messages):
        where = f"{row.kind} → {row.recipient}"
        assert mail["Auto-Submitted"] == "auto-generated", where
        assert mail["Subject"] == row.subject, where
        alternative = next(part for part in mail.walk() if part.get_content_type() == "multipart/alternative")
        assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"], where
        assert mail.get_content_type() == ("multipart/mixed" if row.attachments else "multipart/alternative")
        plain = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
        html = mail.get_body(("html",)).get_content().replace("\r\n", "\n")
        assert plain == row.body, where
        assert f"<title>{row.subject}</title>" in html.replace("&#39;", "'"), where

        # The signature block: the office as configured, in both parts.
        for value in OFFICE.values():
            assert (
                f"\n{value}\n" in plain or f"Telefon: {value}\n" in plain or f"E-Mail: {value}\n" in plain
            ), where
            assert value in html, where

        # The salutation: formal where it is known.
        first_line = plain.split("\n", 1)[0]
        if row.recipient in people and row.kind not in ACCOUNT_LETTERS:
            assert first_line in {greeting(name, salutation) for name, salutation in people[row.recipient]}, (
                where
            )
        formal = {"heide@kommune.example", "berg@kommune.example", "olaf@kommune.example"}
        if row.recipient in formal and row.kind not in ACCOUNT_LETTERS:
            assert first_line.startswith(("Sehr geehrte Frau ", "Sehr geehrter Herr ")), where

        # No link into the application for whoever cannot log in there.
        if row.recipient not in accounts:
            links = URL.findall(plain) + re.findall(r'href="([^"]+)"', html)
            assert links == [] or all(any(p in link for p in OPEN_PATHS) for link in links), (where, links)
            assert "/faelle/" not in plain, where
            assert "/faelle/" not in html, where
        html_file = tmp_path / f"{number:03d}-{row.kind}.html"
        html_file.write_text(html, encoding="utf-8")
        html_files.append(html_file)

    by_kind = {(row.kind, row.recipient): row.body for row, _ in messages}
    # The contact person has an account: her letters link to the case; her team is told whom to ask.
    assert "/faelle/" in by_kind["explain_revision", "heide@kommune.example"]
    assert (
        "In der Anwendung hat Dr. Anna von der Heide (heide@kommune.example) einen Zugang für Halver"
        in by_kind["explain_revision", "berg@kommune.example"]
    )
    assert by_kind["explain_revision", "sommer@kommune.example"].startswith("Guten Tag Kim Sommer,\n")

    # The HTML parts pass the Nu HTML Checker (one run over all of them).
    assert VNU.is_file(), f"{VNU} is missing: run `npm ci` (package.json lists vnu-jar)"
    checked = subprocess.run(
        ["java", "-jar", str(VNU), "--format", "json", "--stdout", *map(str, html_files)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    reported = json.loads(checked.stdout)["messages"]
    assert reported == [], json.dumps(reported, ensure_ascii=False, indent=1)


def test_a_cohort_with_a_deadline_of_15_july_gets_reminders_that_name_15_july(session, factory, app):
    """Issue 15, must hold 2: never "Ende Juni" (the text once hard-coded), on every reminder day."""
    factory.now = datetime(2027, 6, 1, 9, 0, tzinfo=UTC)
    cohort = factory.cohort(
        number=7,
        title="7. Entwicklungswerkstatt",
        applications_open_at=factory.now,
        application_deadline=date(2027, 7, 15),
        starts_on=date(2027, 9, 1),
        ends_on=date(2028, 9, 30),
    )
    factory.case(cohort, "05962004", state=State.DRAFT)  # its contact person is reminded of the draft
    factory.user("applicant", "05962004")
    add_contact(session, factory.coordinator(), "05962008", "Petra Pohl", "pohl@balve.example", "Frau")
    add_contact(session, factory.coordinator(), "05962012", "Kim Sommer", "sommer@halver.example")
    session.commit()
    for offset in cohort.reminder_days:
        day = cohort.application_deadline - timedelta(days=offset)
        run_reminder_scan(session, datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=8))
    session.commit()
    messages = [(row, mail) for row, mail in _messages(session, app.extensions["ews"].settings)]
    reminders = [(row, mail) for row, mail in messages if row.kind == "deadline_reminder"]
    assert {row.dedup_key.split(":")[2] for row, _ in reminders} == {f"d{d}" for d in cohort.reminder_days}
    assert {row.recipient for row, _ in reminders} >= {"pohl@balve.example", "sommer@halver.example"}
    for row, mail in reminders:
        plain = mail.get_body(("plain",)).get_content()
        html = mail.get_body(("html",)).get_content()
        assert row.subject == "Die Bewerbungsfrist für die 7. Entwicklungswerkstatt endet am 15. Juli 2027"
        assert mail["Subject"] == row.subject
        assert "15. Juli 2027" in plain
        assert "15. Juli 2027" in html
        for text in (row.subject, plain, html):
            assert "Ende Juni" not in text
            assert "Juni" not in text
    openings = {row.recipient: row.body.split("\n", 1)[0] for row, _ in reminders}
    assert openings["pohl@balve.example"] == "Sehr geehrte Frau Pohl,"
    assert openings["sommer@halver.example"] == "Guten Tag Kim Sommer,"
