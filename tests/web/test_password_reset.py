"""Password reset (issue 13, must-hold 3): `/passwort-vergessen` → email → a link that works once and expires →
new password. The answer is the same for known and unknown addresses (status, body, time); the reset ends
the person's other sessions; requesting and completing are audited once each, in their transaction.

The email goes through the outbox to a real SMTP server (aiosmtpd), as the worker sends it.
"""

from __future__ import annotations

import re
import statistics
import time
from datetime import timedelta
from email.header import decode_header, make_header
from email.message import Message

import pytest
from sqlalchemy import func, select

from ews_cases.mail.delivery import SmtpSender, deliver_batch
from ews_cases.models import AuditEvent, OutboxMessage, PasswordResetToken, User, utcnow
from ews_cases.services.password_reset import request_password_reset
from testkit.mail import plain_text
from tests.web.helpers import CSRF_FIELD, csrf_token, login
from tests.workers.conftest import smtp_sink  # noqa: F401 - a fixture, found by pytest by name

OLD, NEW = "Alter-Schluessel-2024", "Ein neuer Satz als Passwort"
LINK = re.compile(r"http://ews\.test(/passwort-vergessen/[A-Za-z0-9_\-]+)")
USED = "Dieser Link wurde bereits verwendet: Jeder Link zum Zurücksetzen des Passworts gilt nur einmal."


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def person(session, factory) -> User:
    user = factory.user("reviewer", password=OLD)
    session.commit()
    return user


def ask(client, email: str, address: str = "192.0.2.1"):
    """Post the form of /passwort-vergessen from `address`, like a browser (fetch the form, then post)."""
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client.get("/passwort-vergessen", environ_base=environ))
    return client.post(
        "/passwort-vergessen", data={"email": email, "csrf_token": token}, environ_base=environ
    )


def events(session, action: str) -> list[AuditEvent]:
    session.commit()  # a fresh look at what the app committed
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def deliver(settings, database, sink) -> list[Message]:
    """What the worker does: send the outbox over SMTP (here to the test's aiosmtpd server)."""
    to_sink = settings.model_copy(update={"smtp_host": sink.host, "smtp_port": sink.port})
    sender = SmtpSender(to_sink)
    try:
        with database.transaction() as session:
            deliver_batch(session, to_sink, sender)
    finally:
        sender.close()
    return sink.settle(quiet=0.3, timeout=10)


def mailed_link(message: Message) -> str:
    body = plain_text(message)
    found = LINK.search(body)
    assert found, body
    return found.group(1)


def test_the_emailed_link_sets_a_new_password_once(
    client,
    app,
    settings,
    database,
    session,
    person,
    smtp_sink,  # noqa: F811 - the fixture
):
    response = ask(client, person.email.upper())  # the address as typed, in any case
    assert response.status_code == 200
    [message] = deliver(settings, database, smtp_sink)
    assert message["To"] == person.email
    assert (
        str(make_header(decode_header(message["Subject"])))
        == "Neues Passwort für die Entwicklungswerkstatt festlegen"
    )
    path = mailed_link(message)
    body = plain_text(message)
    assert f"Guten Tag {person.name}," in body
    assert "Der Link gilt einmal und bis " in body
    # Only the hash of the token is stored.
    assert path.rsplit("/", 1)[1] not in {t.token_hash for t in session.scalars(select(PasswordResetToken))}

    page = client.get(path)
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "same-origin"  # the secret link goes to no other site
    assert page.headers["Cache-Control"] == "no-store"
    assert "Mindestens 12 Zeichen" in page.get_data(as_text=True)
    # A weak password is refused next to the field; the link still works.
    weak = client.post(
        path, data={"new": "passwort1234", "repeat": "passwort1234", "csrf_token": csrf_token(page)}
    )
    assert weak.status_code == 422
    assert "Dieses Passwort ist zu verbreitet" in weak.get_data(as_text=True)
    done = client.post(path, data={"new": NEW, "repeat": NEW, "csrf_token": csrf_token(page)})
    assert done.status_code == 303
    assert done.headers["Location"].endswith("/anmelden")

    # The second use is refused in German, for the page and for the form.
    again = client.get(path)
    assert again.status_code == 410
    assert USED in again.get_data(as_text=True)
    posted = client.post(path, data={"new": NEW + "!", "repeat": NEW + "!", "csrf_token": csrf_token(page)})
    assert posted.status_code == 410
    assert USED in posted.get_data(as_text=True)

    fresh = app.test_client()
    assert (
        fresh.post(
            "/anmelden",
            data={"email": person.email, "password": OLD, "csrf_token": csrf_token(fresh.get("/anmelden"))},
        ).status_code
        == 401
    )
    login(fresh, person.email, NEW)
    assert len(events(session, "user.password_reset_requested")) == 1
    [completed] = events(session, "user.password_reset")
    assert (completed.actor, completed.data) == (f"user:{person.id}", {"user": person.id})


def test_an_expired_or_unknown_link_is_refused_in_german(client, session, person):
    for minutes in (61, 59):
        request_password_reset(session, person.email, now=utcnow() - timedelta(minutes=minutes))
    session.commit()
    expired, recent = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    old = client.get(LINK.search(expired.body).group(1))
    assert old.status_code == 410
    assert "Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an." in old.get_data(as_text=True)
    assert client.get(LINK.search(recent.body).group(1)).status_code == 200
    unknown = client.get("/passwort-vergessen/das-gibt-es-nicht-0123456789abcdefghijklmnop")
    assert unknown.status_code == 404
    assert "Dieser Link zum Zurücksetzen des Passworts ist ungültig." in unknown.get_data(as_text=True)


def test_a_new_password_voids_the_other_open_links(client, session, person):
    for _ in range(2):
        request_password_reset(session, person.email)
    session.commit()
    first, second = (
        LINK.search(m.body).group(1)
        for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
    )
    page = client.get(second)
    assert (
        client.post(second, data={"new": NEW, "repeat": NEW, "csrf_token": csrf_token(page)}).status_code
        == 303
    )
    assert client.get(first).status_code == 410


def test_the_reset_ends_the_persons_other_sessions(app, session, person):
    elsewhere = app.test_client()
    login(elsewhere, person.email, OLD)
    assert elsewhere.get("/gutachten").status_code == 200
    request_password_reset(session, person.email)
    session.commit()
    path = LINK.search(session.scalars(select(OutboxMessage)).one().body).group(1)
    here = app.test_client()
    page = here.get(path)
    assert (
        here.post(path, data={"new": NEW, "repeat": NEW, "csrf_token": csrf_token(page)}).status_code == 303
    )
    ended = elsewhere.get("/gutachten")
    assert ended.status_code == 303
    assert "/anmelden" in ended.headers["Location"]


def without_csrf(response) -> str:
    return CSRF_FIELD.sub('name="csrf_token" value=""', response.get_data(as_text=True))


def test_known_and_unknown_addresses_get_the_same_answer_in_the_same_time(app, session, factory):
    """Same status and body (but the CSRF token), and medians of 20 tries each within 20 % of each other.

    Each try comes from its own client address and asks for its own address (20 known accounts, 20 unknown
    ones), so the limits per address and per account never cut a try short: every known try writes a link,
    an email and an audit event.
    """
    known = [factory.user("applicant", "05966012").email for _ in range(20)]
    session.commit()
    unknown = [f"niemand{n}@example.org" for n in range(20)]
    client = app.test_client()
    ask(client, "aufwaermen@example.org", "198.51.100.250")  # templates compiled, caches warm
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    bodies: dict[str, set[str]] = {"known": set(), "unknown": set()}
    statuses: set[int] = set()
    for n in range(20):
        for kind, email in (("known", known[n]), ("unknown", unknown[n])):
            environ = {"REMOTE_ADDR": f"198.51.100.{2 * n + (kind == 'unknown')}"}
            token = csrf_token(client.get("/passwort-vergessen", environ_base=environ))
            started = time.perf_counter()
            response = client.post(
                "/passwort-vergessen", data={"email": email, "csrf_token": token}, environ_base=environ
            )
            timings[kind].append(time.perf_counter() - started)
            statuses.add(response.status_code)
            bodies[kind].add(without_csrf(response))
    known_median, unknown_median = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    print(f"\nmedian answer: known {known_median * 1000:.1f} ms, unknown {unknown_median * 1000:.1f} ms")
    assert statuses == {200}
    assert len(bodies["known"]) == 1
    assert bodies["known"] == bodies["unknown"]
    assert abs(known_median - unknown_median) / min(known_median, unknown_median) < 0.20
    # The known tries did their work: a link and an email each, and one audit event each.
    session.commit()
    assert session.scalar(select(func.count()).select_from(PasswordResetToken)) == 20
    assert len(events(session, "user.password_reset_requested")) == 20
    assert {m.recipient for m in session.scalars(select(OutboxMessage))} == set(known)


def test_requests_are_limited_per_address_and_emails_per_account(client, session, person):
    statuses = [ask(client, person.email, "203.0.113.7").status_code for _ in range(10)]
    assert statuses == [200] * 10
    session.commit()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 3  # 3 emails an hour at most
    locked = ask(client, "jemand@example.org", "203.0.113.7")
    assert locked.status_code == 429
    text = locked.get_data(as_text=True)
    assert "zu viele Anfragen für neue Passwörter" in text
    assert re.search(r"Weitere sind bis \d\d:\d\d Uhr möglich\.", text)
    assert ask(client, "jemand@example.org", "203.0.113.8").status_code == 200  # another address is not


def test_an_invalid_form_is_refused_next_to_the_field(client, session):
    response = ask(client, "")
    assert response.status_code == 422
    assert "Bitte geben Sie Ihre E-Mail-Adresse an." in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_the_login_page_links_to_the_reset(client):
    page = client.get("/anmelden").get_data(as_text=True)
    assert 'href="/passwort-vergessen">Passwort vergessen?</a>' in page
