"""The second factor on the pages (issue 13, must-hold 5): with `EWS_REQUIRE_2FA_ROLES=coordinator` a
coordinator without one is led through the setup before any page; the login asks for the code after the
password (not logged in before); a wrong code is refused; a recovery code works once; the step is throttled.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from ews_cases.app import create_app
from ews_cases.models import AuditEvent, User, utcnow
from tests.api.test_participation_api import bearer, token_for
from tests.conftest import OwnContextClient
from tests.web.helpers import csrf_token

PASSWORD = "Zwei-Faktoren-sind-besser"
SECRET = re.compile(r'<code class="fs-5" id="totp-schluessel">([A-Z2-7 ]+)</code>')
CODES = re.compile(r"<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>")
WRONG = "Der Code stimmt nicht oder wurde schon verwendet."
SETUP = "/konto/zweiter-faktor"


@pytest.fixture(scope="module")
def required_app(settings):
    """The app with EWS_REQUIRE_2FA_ROLES=coordinator."""
    app = create_app(settings.model_copy(update={"require_2fa_roles": "coordinator"}))
    app.test_client_class = OwnContextClient
    return app


@pytest.fixture
def coordinator(session, factory) -> User:
    user = factory.user("coordinator", password=PASSWORD)
    session.commit()
    return user


def post(client, path: str, data: dict, form_page: str | None = None):
    token = csrf_token(client.get(form_page or path))
    return client.post(path, data={**data, "csrf_token": token})


def password_step(client, email: str, password: str = PASSWORD):
    return post(client, "/anmelden", {"email": email, "password": password})


def logout(client) -> None:
    token = csrf_token(client.get("/hilfe"))
    client.post("/abmelden", data={"csrf_token": token})


def stored(session, user: User) -> User:
    """The user as the database holds it now (not as this session last saw it)."""
    session.expire_all()
    session.commit()
    return session.get(User, user.id)


def events(session, action: str) -> list[AuditEvent]:
    session.commit()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def enrol(client) -> tuple[pyotp.TOTP, list[str]]:
    """Set up the second factor through the setup page; returns the app's TOTP and the recovery codes."""
    page = client.get(SETUP)
    secret = SECRET.search(page.get_data(as_text=True)).group(1).replace(" ", "")
    totp = pyotp.TOTP(secret)
    done = client.post(SETUP, data={"code": totp.now(), "csrf_token": csrf_token(page)})
    assert done.status_code == 200, done.get_data(as_text=True)
    return totp, CODES.findall(done.get_data(as_text=True))


def test_a_coordinator_without_a_second_factor_sets_it_up_before_any_page(required_app, session, coordinator):
    client = required_app.test_client()
    assert password_step(client, coordinator.email).status_code == 302
    # Every page leads to the setup first, also form posts (which change nothing).
    for path in (
        "/programm",
        "/programm/faelle",
        "/hilfe",
        "/passwort",
        "/pruefung",
        "/",
        "/faelle/1",
        "/nirgends",
    ):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == SETUP, path
    form = csrf_token(client.get(SETUP))
    refused = client.post(
        "/passwort", data={"current": PASSWORD, "new": "x" * 20, "repeat": "x" * 20, "csrf_token": form}
    )
    assert (refused.status_code, refused.headers["Location"]) == (303, SETUP)
    assert events(session, "user.password_changed") == []

    page = client.get(SETUP)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.headers["Cache-Control"] == "no-store"
    assert "Für Ihre Rolle ist ein zweiter Faktor vorgeschrieben" in html
    assert '<svg role="img"' in html
    assert "<title>QR-Code zum Einrichten des zweiten Faktors</title>" in html
    secret = SECRET.search(html).group(1).replace(" ", "")
    assert len(secret) == 32
    # A wrong code is refused next to the field; nothing is stored.
    wrong = client.post(SETUP, data={"code": "123456", "csrf_token": csrf_token(page)})
    assert wrong.status_code == 422
    assert WRONG in wrong.get_data(as_text=True)
    assert SECRET.search(wrong.get_data(as_text=True)).group(1).replace(" ", "") == secret  # the same secret
    assert stored(session, coordinator).totp_secret is None

    done = client.post(SETUP, data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_token(page)})
    assert done.status_code == 200
    codes = CODES.findall(done.get_data(as_text=True))
    assert len(codes) == 10
    assert client.get("/programm").status_code == 200  # this session goes on
    [enrolled] = events(session, "user.second_factor_enrolled")
    assert enrolled.data == {"user": coordinator.id}


def test_the_api_with_a_bearer_token_is_not_gated(required_app, session, factory):
    token = token_for(session, factory, "coordinator")
    response = required_app.test_client().get("/api/v1/cases", headers=bearer(token))
    assert response.status_code == 200


def test_roles_not_named_are_not_led_to_the_setup(required_app, session, factory):
    reviewer = factory.user("reviewer", password=PASSWORD)
    session.commit()
    client = required_app.test_client()
    assert password_step(client, reviewer.email).status_code == 302
    assert client.get("/gutachten").status_code == 200


def test_with_a_second_factor_the_login_asks_for_the_code_and_a_recovery_code_works_once(
    required_app, session, coordinator
):
    client = required_app.test_client()
    password_step(client, coordinator.email)
    totp, codes = enrol(client)
    logout(client)

    first = password_step(client, coordinator.email)
    assert (first.status_code, first.headers["Location"]) == (303, "/anmelden/code")
    # Not logged in between the steps.
    between = client.get("/programm")
    assert between.status_code == 302
    assert "/anmelden" in between.headers["Location"]
    wrong = post(client, "/anmelden/code", {"code": "000000"})
    assert wrong.status_code == 401
    assert WRONG in wrong.get_data(as_text=True)
    # The code used for the setup is spent; the next one works (30 s later, within the allowed drift).
    assert post(client, "/anmelden/code", {"code": totp.now()}).status_code == 401
    right = post(client, "/anmelden/code", {"code": totp.at(utcnow() + timedelta(seconds=30))})
    assert right.status_code == 302
    assert client.get("/programm").status_code == 200
    logout(client)

    password_step(client, coordinator.email)
    choice = client.get("/anmelden/code").get_data(as_text=True)
    assert 'href="/anmelden/wiederherstellungscode">Wiederherstellungscode verwenden</a>' in choice
    used = post(client, "/anmelden/wiederherstellungscode", {"code": codes[0]})
    assert used.status_code == 302
    assert "Sie haben sich mit einem Wiederherstellungscode angemeldet" in client.get("/programm").get_data(
        as_text=True
    )
    logout(client)

    password_step(client, coordinator.email)
    again = post(client, "/anmelden/wiederherstellungscode", {"code": codes[0]})
    assert again.status_code == 401
    assert "Dieser Wiederherstellungscode gilt nicht" in again.get_data(as_text=True)
    assert client.get("/programm").status_code == 302
    assert post(client, "/anmelden/wiederherstellungscode", {"code": codes[1]}).status_code == 302
    [first_use, second_use] = events(session, "user.recovery_code_used")
    assert (first_use.data["remaining"], second_use.data["remaining"]) == (9, 8)


def test_the_second_step_is_throttled_and_the_password_does_not_reset_its_count(
    required_app, session, coordinator
):
    client = required_app.test_client()
    password_step(client, coordinator.email)
    totp, _codes = enrol(client)
    logout(client)
    password_step(client, coordinator.email)
    assert [post(client, "/anmelden/code", {"code": "111111"}).status_code for _ in range(4)] == [401] * 4
    password_step(client, coordinator.email)  # the right password again: the count goes on
    assert post(client, "/anmelden/code", {"code": "222222"}).status_code == 401
    locked = post(client, "/anmelden/code", {"code": totp.at(utcnow() + timedelta(seconds=30))})
    assert locked.status_code == 429
    assert re.search(r"ist die Anmeldung bis \d\d:\d\d Uhr gesperrt", locked.get_data(as_text=True))
    assert client.get("/programm").status_code == 302


def test_a_second_step_without_a_recent_password_starts_over(required_app, session, coordinator):
    client = required_app.test_client()
    response = client.get("/anmelden/code")
    assert (response.status_code, response.headers["Location"]) == (303, "/anmelden")


def test_the_person_sees_renews_and_switches_off_the_second_factor(app, session, factory):
    """Where the role does not require it (the default outside production), the person may switch it off."""
    reviewer = factory.user("reviewer", password=PASSWORD)
    session.commit()
    client = app.test_client()
    password_step(client, reviewer.email)
    assert "Zweiten Faktor einrichten" in client.get(SETUP).get_data(as_text=True)
    _totp, codes = enrol(client)
    state = client.get(SETUP)
    assert "Unbenutzte Wiederherstellungscodes: 10 von 10." in state.get_data(as_text=True)

    wrong = client.post(f"{SETUP}/codes", data={"codes-password": "falsch", "csrf_token": csrf_token(state)})
    assert wrong.status_code == 422
    assert "Das Passwort stimmt nicht." in wrong.get_data(as_text=True)
    renewed = client.post(
        f"{SETUP}/codes", data={"codes-password": PASSWORD, "csrf_token": csrf_token(state)}
    )
    fresh = CODES.findall(renewed.get_data(as_text=True))
    assert len(fresh) == 10
    assert not set(fresh) & set(codes)
    assert len(events(session, "user.recovery_codes_renewed")) == 1

    off = client.post(f"{SETUP}/abschalten", data={"off-password": PASSWORD, "csrf_token": csrf_token(state)})
    assert (off.status_code, off.headers["Location"]) == (303, SETUP)
    assert stored(session, reviewer).totp_secret is None
    assert len(events(session, "user.second_factor_disabled")) == 1
    logout(client)
    assert password_step(client, reviewer.email).status_code == 302  # the password alone again


def test_where_the_role_requires_it_the_person_cannot_switch_it_off(required_app, session, coordinator):
    client = required_app.test_client()
    password_step(client, coordinator.email)
    enrol(client)
    state = client.get(SETUP)
    assert "Für Ihre Rolle ist der zweite Faktor vorgeschrieben." in state.get_data(as_text=True)
    refused = client.post(
        f"{SETUP}/abschalten", data={"off-password": PASSWORD, "csrf_token": csrf_token(state)}
    )
    assert refused.status_code == 409
    assert stored(session, coordinator).totp_secret is not None
    assert events(session, "user.second_factor_disabled") == []


def test_enrolling_ends_the_persons_other_sessions(app, session, factory):
    reviewer = factory.user("reviewer", password=PASSWORD)
    session.commit()
    elsewhere, here = app.test_client(), app.test_client()
    password_step(elsewhere, reviewer.email)
    assert elsewhere.get("/gutachten").status_code == 200
    password_step(here, reviewer.email)
    enrol(here)
    assert here.get("/gutachten").status_code == 200
    ended = elsewhere.get("/gutachten")
    assert ended.status_code == 303
    assert "/anmelden" in ended.headers["Location"]
