"""Run and check Alembic migrations (used by `ews db upgrade`, the app's start-up check and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option(
        "file_template", "%%(year)d%%(month).2d%%(day).2d_%%(hour).2d%%(minute).2d_%%(rev)s_%%(slug)s"
    )
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def head_revision(url: str) -> str | None:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class DatabaseNotMigrated(RuntimeError):
    """The database schema is older than the code (or missing)."""


def ensure_migrated(engine: Engine, url: str) -> None:
    """Refuse to run on a database that is not at the latest migration, saying what to run."""
    current, head = current_revision(engine), head_revision(url)
    if current != head:
        raise DatabaseNotMigrated(
            f"The database is at revision {current or 'none (empty)'}, the code needs {head}. "
            "Run `ews db upgrade` first."
        )
