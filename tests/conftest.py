"""Fixtures: a real, migrated database per test run and xdist worker (SQLite file or PostgreSQL).

`EWS_TEST_DATABASE=postgresql` runs the suite against the PostgreSQL server at `EWS_TEST_POSTGRES_URL`
(default: the local server's `test` database, used only to create and drop our own databases).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from ews_cases.app import create_app
from ews_cases.audit.merkle import EMPTY_ROOT
from ews_cases.db.engine import Database
from ews_cases.db.migrate import upgrade
from ews_cases.models import Base
from ews_cases.settings import Settings
from testkit.factories import Factory

BACKEND = os.environ.get("EWS_TEST_DATABASE", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "EWS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
KEEP_TABLES = {"municipalities", "alembic_version"}


def pytest_report_header(config: pytest.Config) -> str:
    return f"EWS test database backend: {BACKEND}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Backend-specific checks run in their own pass of `.ci/run` (SQLite first, then PostgreSQL)."""
    other = "sqlite" if BACKEND == "postgresql" else "postgres"
    for item in items:
        if other in item.keywords:
            item.add_marker(
                pytest.mark.skip(reason=f"{other}-only check; runs in the {other} pass of .ci/run")
            )


def _postgres_database(name: str) -> Iterator[str]:
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    """A freshly migrated database for this test run and worker."""
    if BACKEND == "postgresql":
        name = f"ews_test_{uuid.uuid4().hex[:8]}_{worker_id}"
        for url in _postgres_database(name):
            upgrade(url)
            yield url
    else:
        path: Path = tmp_path_factory.mktemp("db") / "ews.sqlite3"
        url = f"sqlite:///{path}"
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        env="test",
        database_url=database_url,
        data_dir=tmp_path_factory.mktemp("var"),
        secret_key="test-secret-key",
        public_url="http://ews.test",
        # schemathesis and the load tests send thousands of requests a minute with one token; the limit itself
        # is tested with a low one (tests/api/test_rate_limit.py)
        api_rate_limit=1_000_000,
    )


@pytest.fixture(scope="session")
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.sqlalchemy_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    yield db
    db.dispose()


class OwnContextClient(FlaskClient):
    """Each request runs in an app context of its own, as in production.

    The `session` fixture keeps an app context open for arranging and inspecting; Flask would reuse it for
    the test's requests, sharing `g` (Flask-Babel's locale, the request's database session) between the
    arranging code and every request. While a request is sent, no app context is current, so the request
    pushes its own (Flask's context variable, set back afterwards). The body is read inside that window
    (`buffered`): a streamed body keeps the request's contexts until it ends. A test that reads a stream
    itself (`buffered=False`) shares the outer context as Flask would.
    """

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        if not kwargs.setdefault("buffered", True):
            return super().open(*args, **kwargs)
        outside = _cv_app.set(None)  # type: ignore[arg-type]
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(outside)


@pytest.fixture(scope="session")
def app(settings: Settings):
    app = create_app(settings)
    app.test_client_class = OwnContextClient
    return app


@pytest.fixture(scope="session")
def production_app(settings: Settings):
    """The app as `EWS_ENV=production` builds it (HSTS, `Secure` cookies, /metrics not public), on the same
    test database."""
    production = Settings(**{**settings.model_dump(), "env": "production", "secret_key": "s" * 48})
    app = create_app(production)
    app.test_client_class = OwnContextClient
    return app


def reset_database(db: Database) -> None:
    """Empty every table but the reference list; the audit table's triggers are bypassed only here."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in KEEP_TABLES]
    with db.engine.begin() as conn:
        if db.is_sqlite:
            triggers = conn.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name LIKE 'audit%'")
            ).all()
            for name, _sql in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            for table in tables:
                conn.execute(text(f"DELETE FROM {table}"))
            for _name, sql in triggers:
                conn.execute(text(sql))
        else:
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.execute(
            text("INSERT INTO audit_chain_heads (chain, position, hash) VALUES ('global', 0, :h)"),
            {"h": "0" * 64},
        )
        conn.execute(
            text(
                "INSERT INTO audit_log_state (id, size, root, max_event_id, updated_at) "
                "VALUES (1, 0, :root, 0, CURRENT_TIMESTAMP)"
            ),
            {"root": EMPTY_ROOT.hex()},
        )


@pytest.fixture
def db(database: Database) -> Database:
    """The test database, emptied before the test."""
    reset_database(database)
    return database


@pytest.fixture
def session(db: Database, app) -> Iterator[Session]:
    """A session for arranging and inspecting, inside the app's context (so services see the test
    settings: public URL, storage folder); commit explicitly (services never commit)."""
    with app.app_context(), db.sessionmaker() as s:
        yield s


@pytest.fixture
def factory(session: Session) -> Factory:
    return Factory(session)
