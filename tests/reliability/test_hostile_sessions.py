"""Web sessions end: after `session_idle_minutes` without a request, `session_lifetime_hours` after the login,
and when the person's password changes (ews_cases/web/extensions.py).

The session cookie is signed with the app's secret key; the tests move its time stamps into the past with
the test client's `session_transaction()`, which signs the changed session like the app does, so no clock is
patched. After expiry the person is logged out, sees "Ihre Sitzung ist abgelaufen…" on the login page and
is led back to the page they asked for after logging in again.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from ews_cases.app import create_app
from ews_cases.models import utcnow
from ews_cases.settings import Settings
from ews_cases.web.extensions import LAST_SEEN_AT, LOGGED_IN_AT, PASSWORD_MARK, SESSION_EXPIRED
from testkit.factories import FINNENTROP
from tests.reliability.hostile_helpers import Snapshot, arranging, person, sign_in
from tests.web.helpers import csrf_token, login, post_form

PASSWORD = "Sitzungs-Passwort-1"
HOME = "/bewerbungen"


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def applicant(app, db):
    with arranging(app, db) as (session, factory):
        return person(session, factory, "applicant", FINNENTROP, password=PASSWORD)


@pytest.fixture
def signed_in(client, applicant):
    login(client, applicant.email, PASSWORD)
    assert client.get(HOME).status_code == 200
    return client


def age(client, **minutes: float) -> None:
    """Move the session's stamps `minutes` into the past (keys: logged_in, last_seen)."""
    keys = {"logged_in": LOGGED_IN_AT, "last_seen": LAST_SEEN_AT}
    with client.session_transaction() as stored:
        for name, delta in minutes.items():
            stored[keys[name]] = utcnow().timestamp() - delta * 60


def assert_expired(client, url: str = HOME, method: str = "GET", **kwargs) -> None:
    """The request ends at the login page with the German message; afterwards the person is logged out."""
    response = client.open(url, method=method, **kwargs)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    location = urlsplit(response.headers["Location"])
    assert location.path == "/anmelden"
    assert parse_qs(location.query).get("next") == ([url] if method == "GET" else None)
    login_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert SESSION_EXPIRED in login_page
    after = client.get(HOME)
    assert after.status_code == 302
    assert "/anmelden" in after.headers["Location"]
    with client.session_transaction() as stored:
        assert "_user_id" not in stored
        assert LOGGED_IN_AT not in stored


def test_a_fresh_session_carries_its_stamps_and_an_expiring_cookie(app, client, applicant):
    response = login(client, applicant.email, PASSWORD)
    cookie = response.headers["Set-Cookie"]
    assert re.search(r"Expires=", cookie), cookie  # permanent: the browser drops it too
    assert app.permanent_session_lifetime.total_seconds() == 12 * 3600
    with client.session_transaction() as stored:
        assert stored[LOGGED_IN_AT] == stored[LAST_SEEN_AT]
        assert abs(utcnow().timestamp() - stored[LOGGED_IN_AT]) < 60
        assert len(stored[PASSWORD_MARK]) == 32


def test_activity_keeps_the_session_alive(signed_in):
    age(signed_in, last_seen=29)
    assert signed_in.get(HOME).status_code == 200
    with signed_in.session_transaction() as stored:
        assert utcnow().timestamp() - stored[LAST_SEEN_AT] < 60  # the request counted as activity
    age(signed_in, last_seen=29)
    assert signed_in.get(HOME).status_code == 200


def test_an_idle_session_expires(signed_in):
    age(signed_in, last_seen=31)
    assert_expired(signed_in)


def test_a_session_expires_after_its_lifetime_even_when_active(signed_in):
    age(signed_in, logged_in=11.9 * 60, last_seen=1)
    assert signed_in.get(HOME).status_code == 200
    age(signed_in, logged_in=12 * 60 + 1, last_seen=1)
    assert_expired(signed_in)


def test_logging_in_again_leads_back_to_the_page(signed_in, applicant):
    age(signed_in, last_seen=45)
    response = signed_in.get("/hilfe")
    assert response.status_code == 303
    token = csrf_token(signed_in.get(response.headers["Location"]))
    again = signed_in.post(
        response.headers["Location"],
        data={"email": applicant.email, "password": PASSWORD, "csrf_token": token},
    )
    assert again.status_code == 302
    assert again.headers["Location"] == "/hilfe"
    assert signed_in.get(HOME).status_code == 200


def test_an_expired_form_post_changes_nothing(app, db, client, applicant):
    with arranging(app, db) as (_session, factory):
        draft = factory.case(factory.cohort(), FINNENTROP)
    token = sign_in(client, applicant)
    age(client, last_seen=31)
    before = Snapshot.take(db)
    data = {"name": "withdraw", "version": draft.version, "csrf_token": token}
    assert_expired(client, f"/faelle/{draft.id}/aktion", method="POST", data=data)
    assert Snapshot.take(db) == before


def test_a_session_without_stamps_is_not_accepted(client, applicant):
    """A signed session that only names the user (e.g. from before the lifetime rule) is ended."""
    with client.session_transaction() as stored:
        stored["_user_id"] = str(applicant.user.id)
        stored["_fresh"] = True
    assert_expired(client)


def test_a_password_change_ends_the_other_sessions(app, applicant):
    phone, laptop = app.test_client(), app.test_client()
    login(phone, applicant.email, PASSWORD)
    login(laptop, applicant.email, PASSWORD)
    new_password = "Neues-Sitzungs-Passwort-2"
    changed = post_form(
        laptop, "/passwort", {"current": PASSWORD, "new": new_password, "repeat": new_password}
    )
    assert changed.status_code == 302, changed.get_data(as_text=True)[:500]
    assert laptop.get(HOME).status_code == 200  # the session that changed it goes on
    assert_expired(phone)
    assert (
        phone.post(
            "/anmelden",
            data={
                "email": applicant.email,
                "password": PASSWORD,
                "csrf_token": csrf_token(phone.get("/anmelden")),
            },
        ).status_code
        == 401
    )
    login(phone, applicant.email, new_password)
    assert phone.get(HOME).status_code == 200


def test_the_lifetimes_are_settings(settings, db, applicant):
    strict = create_app(
        Settings(**{**settings.model_dump(), "session_idle_minutes": 2, "session_lifetime_hours": 1})
    )
    client = strict.test_client()
    sign_in(client, applicant)
    age(client, last_seen=1.5)
    assert client.get(HOME).status_code == 200
    age(client, last_seen=2.5)
    assert_expired(client)
    sign_in(client, applicant)
    age(client, logged_in=61, last_seen=0)
    assert_expired(client)
    assert strict.permanent_session_lifetime.total_seconds() == 3600


def test_the_message_is_translated(signed_in):
    age(signed_in, last_seen=31)
    response = signed_in.get(HOME, headers={"Accept-Language": "en"})
    page = signed_in.get(response.headers["Location"], headers={"Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert "Your session has expired. Please log in again." in page


def test_the_api_never_takes_a_session_cookie(signed_in):
    response = signed_in.get("/api/v1/cases")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
