"""Engine and sessions: the one place that knows how to talk to SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

WRITE_OPTION = "ews_write"


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, **kwargs: Any) -> Engine:
    """An engine with our rules: SQLite in WAL, with a busy timeout and write-locking transactions."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1]
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000}, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (see `_on_begin`) instead of pysqlite's implicit transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers BEGIN IMMEDIATE: they take the write lock at once and queue behind the busy timeout,
        # instead of failing with SQLITE_BUSY when a read snapshot is upgraded after another commit. This
        # is what makes the row-lock rules (optimistic version, audit chain heads) hold as on PostgreSQL.
        # Readers stay deferred: in WAL mode they never block anyone.
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Database:
    """An engine plus its session factory."""

    def __init__(
        self, url: str, *, busy_timeout_ms: int = 30_000, pool_size: int | None = None, **engine_kwargs: Any
    ) -> None:
        self.url = url
        if pool_size is not None and not url.startswith("sqlite"):
            engine_kwargs.setdefault("pool_size", pool_size)
        self.engine = make_engine(url, busy_timeout_ms=busy_timeout_ms, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self, *, write: bool = False) -> Session:
        """A new session; `write=True` for units of work that change data (see `_on_begin`)."""
        session = self.sessionmaker()
        if write and self.is_sqlite:
            session.connection(execution_options={WRITE_OPTION: True})
        return session

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write session whose work commits at the end of the block, or rolls back entirely on an exception."""
        with self.session(write=True) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def innermost_transaction(session: Session) -> SessionTransaction | None:
    """The savepoint (or else the transaction) that what the session does now belongs to."""
    return session.get_nested_transaction() or session.get_transaction()


def inside(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    """Whether `transaction` is `outer` or a savepoint within it (so rolling back `outer` undid it)."""
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def show_stored(instance: object, values: Mapping[str, Any]) -> None:
    """Give a loaded object the values a plain UPDATE has just written, without marking it changed (the unit
    of work would write them again). Pair it with `TransactionNotes` where a savepoint may undo the UPDATE."""
    for key, value in values.items():
        set_committed_value(instance, key, value)


class TransactionNotes:
    """Values a session notes during its transaction, e.g. "this event was appended", "this case was written
    with a plain UPDATE".

    A note belongs to the savepoint (or transaction) open when it was made: when that rolls back, the note is
    forgotten and `undo(session, value)` runs for it. When the transaction commits, the callbacks registered
    with `on_commit` get the values, then the notes are gone.
    """

    def __init__(self, key: str, *, undo: Callable[[Session, Any], None] | None = None) -> None:
        self.key = key
        self.undo = undo
        self._on_commit: list[Callable[[list[Any]], None]] = []
        event.listen(Session, "after_commit", self._committed)
        event.listen(Session, "after_soft_rollback", self._rolled_back)

    def add(self, session: Session, value: Any) -> None:
        session.info.setdefault(self.key, []).append((innermost_transaction(session), value))

    def on_commit(self, callback: Callable[[list[Any]], None]) -> Callable[[list[Any]], None]:
        self._on_commit.append(callback)
        return callback

    def _committed(self, session: Session) -> None:
        values = [value for _transaction, value in session.info.pop(self.key, ())]
        if values:
            for callback in self._on_commit:
                callback(values)

    def _rolled_back(self, session: Session, rolled_back: SessionTransaction) -> None:
        noted = session.info.get(self.key)
        if not noted:
            return
        kept = []
        for transaction, value in noted:
            if not inside(transaction, rolled_back):
                kept.append((transaction, value))
            elif self.undo is not None:
                self.undo(session, value)
        noted[:] = kept
