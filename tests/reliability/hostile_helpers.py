"""Shared pieces of the hostile-input suite (`test_hostile_*.py`, `test_fuzz_*.py`).

Who attacks: `stranger`, an applicant of Attendorn with a web password and an API token, against the data of
Finnentrop that `tests.api.test_role_matrix.World` arranges. What must hold after a refused attack: no audit
event, no changed case, no new outbox message, every table as it was (`Snapshot`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from flask import Flask, g
from flask import session as flask_session
from flask.testing import FlaskClient
from flask_login import login_user
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from ews_cases.api.errors import WEB_DETAILS
from ews_cases.db.engine import Database
from ews_cases.models import Base, Case, User
from ews_cases.services.users import issue_token
from ews_cases.web.extensions import start_session
from testkit.factories import ATTENDORN, SYSTEM, Factory
from tests.web.helpers import csrf_token, login

IGNORED_METHODS = frozenset({"HEAD", "OPTIONS"})
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Person:
    user: User
    email: str
    password: str | None
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def person(
    session: Session, factory: Factory, role: str, ags: str | None = None, *, password: str | None = None
) -> Person:
    """A user of `role` with an API token (and a web password if given: Argon2 costs time); committed."""
    user = factory.user(role, ags, password=password)
    token = issue_token(session, SYSTEM, user)
    session.commit()
    return Person(user, user.email, password, token)


@contextmanager
def arranging(app: Flask, db: Database) -> Iterator[tuple[Session, Factory]]:
    """A session and factory in an app context of their own, closed before the requests are sent.

    With the test's `session` fixture open, every request runs inside its app context and so shares one `g`:
    Flask-Login's cached user and Flask-Babel's locale would carry over from one request (and one client) to
    the next. Tests about sessions and logins arrange their data here instead.
    """
    with app.app_context(), db.sessionmaker() as session:
        yield session, Factory(session)
        session.commit()


def stranger(session: Session, factory: Factory) -> Person:
    """An applicant of Attendorn: everything of Finnentrop is another municipality's to them."""
    return person(session, factory, "applicant", ATTENDORN)


def sign_in(client: FlaskClient, who: Person) -> str:
    """Give `client` the session the login page gives `who` (the same `login_user` + `start_session`, without
    the Argon2 check); returns the session's CSRF token, valid for every form of the session."""
    if who.password is not None:
        login(client, who.email, who.password)
    else:
        with client.application.test_request_context():
            login_user(who.user)
            start_session(who.user)
            values = dict(flask_session)
            g.pop("_login_user", None)  # the requests must find the user in the cookie, not in a shared `g`
        with client.session_transaction() as stored:
            stored.update(values)
    return csrf_token(client.get("/passwort"))


# -- routes ------------------------------------------------------------------------------------------------


def rules_with_arguments(app: Flask, *, api: bool) -> list[Rule]:
    """The URL rules with path arguments (ids, serials, tokens, file names), of the API or of the pages."""
    return [
        rule for rule in app.url_map.iter_rules() if rule.arguments and rule.rule.startswith("/api/") == api
    ]


def methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - IGNORED_METHODS)


# -- what a refused request may not change -------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Row counts of every table and each case's (state, version): equal before and after a refusal."""

    rows: dict[str, int]
    cases: dict[int, tuple[str, int]]

    @classmethod
    def take(cls, db: Database) -> Snapshot:
        with db.engine.connect() as conn:
            rows = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in Base.metadata.sorted_tables
            }
            cases = {
                row.id: (row.state, row.version)
                for row in conn.execute(select(Case.id, Case.state, Case.version))
            }
        return cls(rows, cases)


def tables_answer(db: Database) -> None:
    """Every table still exists and can be read (nothing was dropped or locked away)."""
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            conn.execute(text(f"SELECT 1 FROM {table.name} LIMIT 1")).all()


# -- answers -------------------------------------------------------------------------------------------------


def assert_problem_json(response, statuses: Iterable[int]) -> dict:
    """An RFC 9457 problem with one of `statuses` (test-client or `requests` response)."""
    status = response.status_code
    body_text = response.get_data(as_text=True) if isinstance(response, TestResponse) else response.text
    assert status in set(statuses), f"{status}: {body_text[:500]}"
    content_type = response.headers.get("Content-Type", "").split(";")[0]
    assert content_type == PROBLEM_JSON, (content_type, body_text[:500])
    body = response.get_json() if isinstance(response, TestResponse) else response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body), body
    return body


def assert_german_error_page(response: TestResponse, statuses: Iterable[int]) -> str:
    """An HTML error page in German with the page's explanation for the status."""
    page = response.get_data(as_text=True)
    assert response.status_code in set(statuses), f"{response.status_code}: {page[:500]}"
    assert response.mimetype == "text/html", response.mimetype
    assert '<html lang="de">' in page
    detail = WEB_DETAILS.get(response.status_code)
    if detail is not None:
        assert detail in html.unescape(page), f"{response.status_code} without its German explanation"
    return page
