"""Login that resists guessing (issue 13): failures counted per account and per client address in Redis,
shared by every app instance; the lockout page says until when; an unknown address is counted and costs the
same Argon2 verification as a wrong password; with Redis unreachable the counting goes on in memory.

The four-process check (`ews web --workers 4`) is tests/reliability/test_login_guessing.py.
"""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher

from ews_cases.app import create_app
from ews_cases.http.login_throttle import client_address
from ews_cases.services.users import authenticate
from testkit.processes import free_port
from tests.conftest import OwnContextClient
from tests.web.helpers import csrf_token
from tests.workers.conftest import redis_server, redis_url  # noqa: F401 - fixtures, found by pytest by name

PASSWORD = "richtig-und-lang-genug"
WRONG = "E-Mail-Adresse oder Passwort ist falsch."
UNTIL = re.compile(r"Zum Schutz Ihres Kontos ist die Anmeldung bis (\d\d:\d\d) Uhr gesperrt\.")


def attempt(client, email: str, password: str, address: str = "192.0.2.10"):
    environ = {"REMOTE_ADDR": address}
    token = csrf_token(client.get("/anmelden", environ_base=environ))
    return client.post(
        "/anmelden", data={"email": email, "password": password, "csrf_token": token}, environ_base=environ
    )


def test_login_with_redis_unreachable_falls_back_to_counting_in_memory(settings, db, session, factory):
    # Nothing listens on this port: every call to the throttle's Redis fails.
    app = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    email = factory.user("coordinator", password=PASSWORD).email
    session.commit()
    client = app.test_client()
    assert [attempt(client, email, "falsch").status_code for _ in range(6)] == [401] * 5 + [429]
    assert (
        attempt(client, email, PASSWORD).status_code == 429
    )  # throttled is throttled, even with the right one


@pytest.fixture
def shared_apps(settings, redis_url):  # noqa: F811 - the fixture
    """Two app instances on one Redis, as two `ews web` processes are."""
    apps = []
    for _ in range(2):
        app = create_app(settings.model_copy(update={"redis_url": redis_url}))
        app.test_client_class = OwnContextClient
        apps.append(app)
    return apps


def test_the_count_is_shared_and_the_lockout_page_says_until_when(shared_apps, session, factory):
    email = factory.user("reviewer", password=PASSWORD).email
    session.commit()
    first, second = (app.test_client() for app in shared_apps)
    answers = [attempt((first, second)[n % 2], email, f"falsch-{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    assert all(WRONG in a.get_data(as_text=True) for a in answers)
    locked = attempt(first, email, PASSWORD)
    assert locked.status_code == 429
    text = locked.get_data(as_text=True)
    assert UNTIL.search(text), text
    assert 1 <= int(locked.headers["Retry-After"]) <= 15 * 60 + 1
    assert 'href="/passwort-vergessen"' in text
    assert attempt(second, email, PASSWORD).status_code == 429
    # The same account from elsewhere is locked too (the account's count), an other account is not.
    assert attempt(second, email, PASSWORD, address="198.51.100.77").status_code == 429
    other = factory.user("reviewer", password=PASSWORD).email
    session.commit()
    assert attempt(second, other, PASSWORD, address="198.51.100.77").status_code == 302


def test_an_unknown_address_is_counted_like_a_known_one(shared_apps, session, factory):
    client = shared_apps[0].test_client()
    unknown = [attempt(client, "niemand@example.org", f"falsch-{n}") for n in range(6)]
    assert [a.status_code for a in unknown] == [401] * 5 + [429]
    assert WRONG in unknown[0].get_data(as_text=True)


def test_ten_accounts_tried_from_one_address_are_limited(shared_apps, session, factory):
    emails = [factory.user("applicant", "05966012", password=PASSWORD).email for _ in range(11)]
    session.commit()
    client = shared_apps[0].test_client()
    # One password tried against many accounts: each account sees one failure, the address ten.
    statuses = [attempt(client, email, "Sommer2025!").status_code for email in emails]
    assert statuses == [401] * 10 + [429]
    # Even the right password of an untouched account waits; from another address it works.
    assert attempt(client, emails[10], PASSWORD).status_code == 429
    assert attempt(client, emails[10], PASSWORD, address="192.0.2.99").status_code == 302


def test_a_successful_login_forgets_the_accounts_failures_not_the_addresss(shared_apps, session, factory):
    email = factory.user("auditor", password=PASSWORD).email
    session.commit()
    client = shared_apps[0].test_client()
    assert [attempt(client, email, "falsch").status_code for _ in range(4)] == [401] * 4
    assert attempt(client, email, PASSWORD).status_code == 302
    client.post("/abmelden", data={"csrf_token": csrf_token(client.get("/hilfe"))})
    assert [attempt(client, email, "falsch").status_code for _ in range(4)] == [401] * 4
    assert attempt(client, email, PASSWORD).status_code == 302
    # The address kept counting: 8 failures so far; two more and it waits, whichever account it tries.
    client.post("/abmelden", data={"csrf_token": csrf_token(client.get("/hilfe"))})
    assert [attempt(client, email, "falsch").status_code for _ in range(3)] == [401, 401, 429]


def test_an_unknown_or_deactivated_account_costs_one_argon2_verification(session, factory, monkeypatch):
    """The same work as a wrong password: one Argon2 verification (against a dummy hash), so the answer's time
    does not tell which addresses have accounts."""
    known = factory.user("reviewer", password=PASSWORD)
    gone = factory.user("reviewer", password=PASSWORD)
    gone.active = False
    session.commit()
    calls: list[str] = []
    real_verify = PasswordHasher.verify

    def counting_verify(self, hash_, password):
        calls.append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting_verify)
    for email in (known.email, "niemand@example.org", gone.email):
        calls.clear()
        assert authenticate(session, email, "falsch-geraten") is None
        assert len(calls) == 1, email
        assert calls[0].startswith("$argon2id$")
    assert authenticate(session, gone.email, PASSWORD) is None  # deactivated: the right password is no help
    assert authenticate(session, known.email.upper(), PASSWORD) is known


@pytest.mark.parametrize(
    ("remote", "counted"),
    [
        ("192.0.2.1", "192.0.2.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),  # IPv6: the /64 of one subscriber
        ("::ffff:192.0.2.5", "192.0.2.5"),
        (None, "unknown"),
    ],
)
def test_the_client_address_as_the_limits_count_it(remote, counted):
    # Behind a proxy the address is already the visitor's (X-Forwarded-For: tests/test_proxy.py).
    assert client_address(remote) == counted
