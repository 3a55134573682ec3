"""A request whose transaction PostgreSQL aborts as a deadlock victim runs again; then 503 + Retry-After."""

from __future__ import annotations

import psycopg.errors
import pytest
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from ews_cases.app import create_app
from ews_cases.db.request_session import db_session
from ews_cases.db.retry import ATTEMPTS, is_transient
from ews_cases.models import AuditEvent
from ews_cases.settings import Settings
from ews_cases.web.extensions import csrf


def victim(sqlstate_error: type[Exception]) -> OperationalError:
    return OperationalError("SELECT 1", {}, sqlstate_error("chosen as the victim"))


@pytest.fixture
def flaky_app(settings: Settings, db) -> tuple[Flask, list[int]]:
    """An app with one extra route that fails `fail` times before it writes one row."""
    app = create_app(settings)
    attempts: list[int] = []

    @app.post("/api/v1/test-flaky/<int:fail>/<kind>")
    def flaky(fail: int, kind: str) -> dict[str, int]:
        attempts.append(1)
        session = db_session()
        session.execute(text("SELECT 1"))
        if len(attempts) <= fail:
            error = psycopg.errors.DeadlockDetected if kind == "deadlock" else psycopg.errors.UndefinedTable
            raise victim(error)
        session.execute(
            text("INSERT INTO audit_chain_heads (chain, position, hash) VALUES ('test:retry', 0, :h)"),
            {"h": "1" * 64},
        )
        session.commit()
        return {"attempts": len(attempts)}

    csrf.exempt(flaky)  # an API-style route (the API blueprint is exempt as a whole)
    return app, attempts


def heads(db) -> int:
    with db.engine.connect() as conn:
        return conn.execute(
            text("SELECT count(*) FROM audit_chain_heads WHERE chain = 'test:retry'")
        ).scalar_one()


def test_the_sqlstates_that_are_retried() -> None:
    assert is_transient(victim(psycopg.errors.DeadlockDetected))
    assert is_transient(victim(psycopg.errors.SerializationFailure))
    assert not is_transient(victim(psycopg.errors.UniqueViolation))
    assert not is_transient(ValueError())


def test_a_deadlock_victim_is_run_again_and_commits_once(flaky_app, db) -> None:
    app, _attempts = flaky_app
    answer = app.test_client().post(f"/api/v1/test-flaky/{ATTEMPTS - 1}/deadlock", json={})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json == {"attempts": ATTEMPTS}
    assert heads(db) == 1


def test_after_the_last_attempt_the_api_answers_503_with_retry_after(flaky_app, db) -> None:
    app, attempts = flaky_app
    answer = app.test_client().post("/api/v1/test-flaky/99/deadlock", json={})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "2"
    assert answer.mimetype == "application/problem+json"
    assert "erneut" in answer.json["detail"]
    assert len(attempts) == ATTEMPTS
    assert heads(db) == 0


def test_other_database_errors_are_not_retried(flaky_app, db) -> None:
    app, attempts = flaky_app
    app.testing = False  # answer the error as production does instead of raising it into the test
    answer = app.test_client().post("/api/v1/test-flaky/1/other", json={})
    assert answer.status_code == 500
    assert len(attempts) == 1
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AuditEvent)).scalar_one() == 0
