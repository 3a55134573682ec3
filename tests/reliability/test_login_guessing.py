"""Guessing passwords against `ews web --workers 4` (issue 13, must-hold 4): the failures are counted in the
shared Redis, so twenty wrong passwords spread over the four worker processes lock the account after the
configured number of failures — not after workers × number — and ten accounts tried from one address are
limited by the address's count. Real processes, a real Redis (the test session's), the test database.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from testkit.processes import web_process
from tests.web.helpers import CSRF_FIELD

PASSWORD = "Das-richtige-Passwort-7"
PER_ACCOUNT, PER_ADDRESS = 5, 8


@dataclass
class WebProcess:
    base: str
    log_path: Path

    def workers_that_answered(self, route: str) -> Counter[int]:
        """How many requests to `route` each worker process answered (from the JSON access log)."""
        pids: Counter[int] = Counter()
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                if entry.get("logger") == "ews.access" and entry.get("route") == route:
                    pids[entry["pid"]] += 1
        return pids


@pytest.fixture
def web(settings, db, redis_url, tmp_path: Path) -> Iterator[WebProcess]:
    """`ews web --workers 4` (one thread each) against the test database and the test Redis."""
    env = {
        "EWS_REDIS_URL": redis_url,
        "EWS_LOG_FORMAT": "json",
        "EWS_LOGIN_MAX_FAILURES_PER_ACCOUNT": str(PER_ACCOUNT),
        "EWS_LOGIN_MAX_FAILURES_PER_ADDRESS": str(PER_ADDRESS),
        "EWS_LOGIN_FAILURE_WINDOW_MINUTES": "15",
    }
    log_path = tmp_path / "web.log"
    with web_process(settings, log_path, env=env, workers=4, threads=1) as base:
        yield WebProcess(base, log_path)


def try_login(base: str, email: str, password: str) -> int:
    """One login attempt as a new visitor (new connection, new session): fetch the form, post it."""
    with requests.Session() as browser:
        browser.headers["Connection"] = "close"  # each request on a new connection: any worker may take it
        page = browser.get(f"{base}/anmelden", timeout=30)
        token = CSRF_FIELD.search(page.text).group(1)
        answer = browser.post(
            f"{base}/anmelden",
            data={"email": email, "password": password, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        return answer.status_code


def test_twenty_wrong_passwords_over_four_workers_lock_after_the_configured_number(web, session, factory):
    email = factory.user("coordinator", password=PASSWORD).email
    session.commit()
    # Four at a time, so that the four single-threaded workers all take some.
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda n: try_login(web.base, email, f"falsch-{n}"), range(20)))
    answered_by = web.workers_that_answered("/anmelden")
    print(f"\nstatuses: {Counter(statuses)}; requests per worker pid: {dict(answered_by)}")
    # Spread over the processes (usually all four; a worker still loading the app takes none): with counts in
    # each process's memory, two processes alone would let through up to twice the limit.
    assert len(answered_by) >= 2, answered_by
    assert statuses.count(401) == PER_ACCOUNT
    assert statuses.count(429) == 20 - PER_ACCOUNT
    assert try_login(web.base, email, PASSWORD) == 429  # locked: the right password waits too


def test_ten_accounts_tried_from_one_address_are_limited_across_workers(web, session, factory):
    emails = [factory.user("reviewer", password=PASSWORD).email for _ in range(10)]
    session.commit()
    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(lambda email: try_login(web.base, email, "Sommer2025!"), emails))
    print(f"\nstatuses: {Counter(statuses)}; per worker: {dict(web.workers_that_answered('/anmelden'))}")
    assert statuses.count(401) == PER_ADDRESS
    assert statuses.count(429) == 10 - PER_ADDRESS
    assert try_login(web.base, emails[0], PASSWORD) == 429
