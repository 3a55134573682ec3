"""Run and check Alembic migrations (used by `ews db upgrade`, the app's start-up check and the tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

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


#: How long a start-up check waits for the database server before calling it unreachable.
CONNECT_TIMEOUT_SECONDS = 5


class DatabaseNotMigrated(RuntimeError):
    """The database schema is older than the code (or missing: `missing_file` names an absent SQLite file)."""

    def __init__(self, current: str | None, head: str | None, missing_file: str | None = None) -> None:
        self.current, self.head, self.missing_file = current, head, missing_file
        state = (
            f"The database file {missing_file} does not exist"
            if missing_file
            else f"The database is at revision {current or 'none (empty)'}, the code needs {head}"
        )
        super().__init__(f"{state}. Run `ews db upgrade` first.")


class DatabaseUnreachable(RuntimeError):
    """No connection to the database server; `location` is its host and port (or the SQLite file)."""

    def __init__(self, location: str, reason: str) -> None:
        self.location, self.reason = location, reason
        super().__init__(f"The database at {location} is unreachable: {reason}")


class DatabaseUnreadable(RuntimeError):
    """Connected, but the schema's revision cannot be read (no privilege on it, not a database file)."""

    def __init__(self, location: str, reason: str) -> None:
        self.location, self.reason = location, reason
        super().__init__(f"The database at {location} cannot be read: {reason}")


def database_location(url: str) -> str:
    """Where the database is, for messages: `host:port` of a server, or the path of a SQLite file."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    host = parsed.host or str(parsed.query.get("host") or "localhost")
    port = parsed.port or {"postgresql": 5432}.get(parsed.get_backend_name())
    return f"{host}:{port}" if port else host


def _missing_sqlite_file(url: str) -> str | None:
    """The path of a SQLite database file that does not exist (connecting would create it empty)."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):  # a URI filename: SQLite decides; not used by our settings
        return None
    return None if Path(database).exists() else database


def _reason(error: DBAPIError) -> str:
    """The driver's reason on one line, e.g. "Connection refused" (psycopg puts it after the address)."""
    first_line = str(error.orig).strip().splitlines()[0] if str(error.orig).strip() else type(error).__name__
    return first_line.rsplit("failed: ", 1)[-1].strip()


def ensure_migrated(engine: Engine, url: str) -> None:
    """Refuse to run on a database that is not at the latest migration, saying what to run."""
    missing = _missing_sqlite_file(url)
    if missing is not None:  # connecting would create an empty file
        raise DatabaseNotMigrated(None, head_revision(url), missing_file=missing)
    current, head = current_revision(engine), head_revision(url)
    if current != head:
        raise DatabaseNotMigrated(current, head)


def check_database(url: str, *, migrated: bool = True) -> None:
    """Before starting: connect once (waiting at most `CONNECT_TIMEOUT_SECONDS`) and, with `migrated`, check
    the schema's revision; raises `DatabaseUnreachable`, `DatabaseUnreadable` or `DatabaseNotMigrated`. Never
    creates a SQLite file."""
    if not migrated and _missing_sqlite_file(url) is not None:
        return  # `ews db upgrade` creates it
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS} if url.startswith("postgresql") else {}
    engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
    try:
        if migrated:
            ensure_migrated(engine, url)
        else:
            engine.connect().close()
    except DBAPIError as error:
        # Raised while connecting (refused, unknown host, authentication, no such database) or by the query.
        if error.statement is None:
            raise DatabaseUnreachable(database_location(url), _reason(error)) from None
        raise DatabaseUnreadable(database_location(url), _reason(error)) from None
    finally:
        engine.dispose()
