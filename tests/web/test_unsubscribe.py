"""/unsubscribe/<token>: opening the link (a person, or a mail system's link scanner) changes nothing; only the
page's form POST or the RFC 8058 one-click POST opts out, and the same page opts back in."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select, update

from ews_cases.models import AuditEvent, Contact, User
from ews_cases.services.contacts import add_contact
from testkit.factories import FINNENTROP, SYSTEM
from tests.web.helpers import csrf_token

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def contact(session, factory) -> Contact:
    contact = add_contact(session, SYSTEM, FINNENTROP, "Anna Kontakt", "anna@finnentrop.example")
    session.commit()
    return contact


@pytest.fixture
def applicant(session, factory) -> User:
    user = factory.user("applicant", FINNENTROP)
    session.commit()
    return user


def audit_count(session, *actions: str) -> int:
    session.commit()  # a fresh snapshot: the request committed in its own session
    query = select(func.count()).select_from(AuditEvent).where(AuditEvent.action.in_(actions))
    return session.scalar(query)


def opted_out_at(session, subscriber: Contact | User):
    session.commit()  # a fresh snapshot: the request committed in its own session
    session.expire_all()
    if isinstance(subscriber, Contact):
        return session.get(Contact, subscriber.id).opted_out_at
    return session.get(User, subscriber.id).reminders_opted_out_at


def post_choice(client, token: str, choice: str):
    """What the page's button does: fetch the page, post its form with its CSRF token."""
    form = client.get(f"/unsubscribe/{token}")
    return client.post(f"/unsubscribe/{token}", data={"choice": choice, "csrf_token": csrf_token(form)})


ALL_ACTIONS = ("contact.opted_out", "contact.opted_in", "user.opted_out", "user.opted_in")


@pytest.mark.parametrize("who", ["contact", "applicant"])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_opening_the_link_changes_nothing(client, session, request, who, method):
    subscriber = request.getfixturevalue(who)
    for _ in range(3):
        response = client.open(f"/unsubscribe/{subscriber.unsubscribe_token}", method=method)
        assert response.status_code == 200
    assert opted_out_at(session, subscriber) is None
    assert audit_count(session, *ALL_ACTIONS) == 0
    page = client.get(f"/unsubscribe/{subscriber.unsubscribe_token}").get_data(as_text=True)
    assert 'method="post"' in page
    assert 'value="unsubscribe"' in page
    assert "Erinnerungen abbestellen" in page
    assert "erhält keine Erinnerungen" not in page


@pytest.mark.parametrize(
    ("who", "action"), [("contact", "contact.opted_out"), ("applicant", "user.opted_out")]
)
def test_the_form_post_opts_out_once_and_is_audited(client, session, request, who, action):
    subscriber = request.getfixturevalue(who)
    for _ in range(2):
        response = post_choice(client, subscriber.unsubscribe_token, "unsubscribe")
        assert response.status_code == 200
        assert f"{subscriber.email} erhält keine Erinnerungen" in response.get_data(as_text=True)
    assert opted_out_at(session, subscriber) is not None
    assert audit_count(session, action) == 1
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == action))
    assert event.actor == "system:unsubscribe"
    # Opening the link afterwards shows the state and offers to resubscribe, still changing nothing.
    page = client.get(f"/unsubscribe/{subscriber.unsubscribe_token}").get_data(as_text=True)
    assert "erhält keine Erinnerungen" in page
    assert 'value="resubscribe"' in page
    assert audit_count(session, *ALL_ACTIONS) == 1


def test_a_form_post_without_the_csrf_token_is_refused_in_german(client, session, contact):
    response = client.post(f"/unsubscribe/{contact.unsubscribe_token}", data={"choice": "unsubscribe"})
    assert response.status_code == 400
    assert "Das Formular ist abgelaufen." in response.get_data(as_text=True)
    assert opted_out_at(session, contact) is None
    assert audit_count(session, *ALL_ACTIONS) == 0


@pytest.mark.parametrize(
    "body",
    [
        {"List-Unsubscribe": "One-Click", "choice": "resubscribe"},  # not exactly the one-click body
        {"List-Unsubscribe": "Yes"},
        {"choice": "unsubscribe"},
    ],
)
def test_only_the_exact_one_click_body_skips_the_csrf_check(client, session, contact, body):
    response = client.post(f"/unsubscribe/{contact.unsubscribe_token}", data=body)
    assert response.status_code == 400
    assert opted_out_at(session, contact) is None
    assert audit_count(session, *ALL_ACTIONS) == 0


@pytest.mark.parametrize(
    ("who", "action"), [("contact", "contact.opted_out"), ("applicant", "user.opted_out")]
)
def test_one_click_post_needs_no_session_and_no_csrf_token(app, session, request, who, action):
    """RFC 8058: mail programs POST `List-Unsubscribe=One-Click` to the link, with no cookie and no token."""
    subscriber = request.getfixturevalue(who)
    for _ in range(2):
        response = app.test_client().post(
            f"/unsubscribe/{subscriber.unsubscribe_token}",
            data=ONE_CLICK,
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200
    assert opted_out_at(session, subscriber) is not None
    assert audit_count(session, action) == 1


@pytest.mark.parametrize(("who", "action"), [("contact", "contact.opted_in"), ("applicant", "user.opted_in")])
def test_resubscribing_from_the_same_page_is_audited(client, session, request, who, action):
    subscriber = request.getfixturevalue(who)
    post_choice(client, subscriber.unsubscribe_token, "unsubscribe")
    assert opted_out_at(session, subscriber) is not None
    for _ in range(2):
        response = post_choice(client, subscriber.unsubscribe_token, "resubscribe")
        assert response.status_code == 200
    assert f"{subscriber.email} erhält wieder Erinnerungen" in response.get_data(as_text=True)
    assert opted_out_at(session, subscriber) is None
    assert audit_count(session, action) == 1


@pytest.mark.parametrize("method", ["GET", "HEAD", "POST"])
@pytest.mark.parametrize("token", ["ungueltig", "x" * 300])
def test_an_unknown_token_is_a_german_404_and_changes_nothing(
    client, session, contact, applicant, method, token
):
    data = ONE_CLICK if method == "POST" else None
    response = client.open(f"/unsubscribe/{token}", method=method, data=data)
    assert response.status_code == 404
    if method != "HEAD":
        page = response.get_data(as_text=True)
        assert '<html lang="de"' in page
        assert "Dieser Abmeldelink ist ungültig." in page
    assert audit_count(session, *ALL_ACTIONS) == 0
    assert opted_out_at(session, contact) is None
    assert opted_out_at(session, applicant) is None


def test_unsubscribing_works_while_another_transaction_writes(client, session, database, contact):
    """A worker delivering mail holds the write lock now and then; a click on the button must still work."""
    other = add_contact(session, SYSTEM, "05966004", "Bernd", "bernd@attendorn.example")
    session.commit()
    writing = threading.Event()

    def worker_writes() -> None:
        with database.transaction() as s:
            s.execute(update(Contact).where(Contact.id == other.id).values(name="Bernd B."))
            writing.set()
            time.sleep(0.5)

    thread = threading.Thread(target=worker_writes)
    thread.start()
    writing.wait(5)
    response = client.post(f"/unsubscribe/{contact.unsubscribe_token}", data=ONE_CLICK)
    thread.join()
    assert response.status_code == 200
    assert opted_out_at(session, contact) is not None
