"""Migrations: the migrated schema equals the models, downgrade/upgrade round-trips, start-up refuses old schemas."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, func, select, text

from ews_cases.app import create_app
from ews_cases.db.migrate import DatabaseNotMigrated, downgrade, upgrade
from ews_cases.models import Base, Municipality
from ews_cases.settings import Settings
from tests.conftest import BACKEND, _postgres_database


@pytest.fixture
def empty_url(tmp_path) -> Iterator[str]:
    """An empty database of the backend under test, separate from the shared test database."""
    if BACKEND == "postgresql":
        yield from _postgres_database(f"ews_mig_{uuid.uuid4().hex[:8]}")
    else:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"


def _diff(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
    finally:
        engine.dispose()


def _count_municipalities(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(Municipality)).scalar_one()
    finally:
        engine.dispose()


def test_upgrade_head_on_an_empty_database_matches_the_models(empty_url):
    upgrade(empty_url)
    assert _diff(empty_url) == []
    assert _count_municipalities(empty_url) == 427


def test_downgrade_to_base_and_upgrade_again(empty_url):
    upgrade(empty_url)
    downgrade(empty_url, "base")
    engine = create_engine(empty_url)
    with engine.connect() as conn:
        tables = set(conn.dialect.get_table_names(conn)) - {"alembic_version"}
    engine.dispose()
    assert tables == set()
    upgrade(empty_url)
    assert _diff(empty_url) == []
    assert _count_municipalities(empty_url) == 427


def test_app_refuses_to_start_on_an_unmigrated_database_and_says_what_to_run(empty_url, tmp_path):
    settings = Settings(env="test", database_url=empty_url, data_dir=tmp_path, secret_key="x")
    with pytest.raises(DatabaseNotMigrated, match="ews db upgrade"):
        create_app(settings)
    upgrade(empty_url)
    assert create_app(settings) is not None


def test_reference_list_covers_every_regierungsbezirk(session):
    rows = dict(
        session.execute(
            select(Municipality.regierungsbezirk, func.count()).group_by(Municipality.regierungsbezirk)
        ).all()
    )
    assert rows == {"Düsseldorf": 71, "Köln": 107, "Münster": 83, "Detmold": 76, "Arnsberg": 90}
    finnentrop = session.get(Municipality, "05966012")
    assert (finnentrop.name, finnentrop.kreis_name) == ("Finnentrop", "Kreis Olpe")


@pytest.mark.sqlite
def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db):
    with db.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() == 30000
