"""One database session per request, closed (and so rolled back if not committed) at its end."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session


def db_session(*, write: bool | None = None) -> Session:
    """The request's session; handlers commit after a service succeeded, never in between.

    Unsafe methods get a write session (see `Database.session`); a GET that writes (the unsubscribe
    link) asks for one explicitly.
    """
    if "db_session" not in g:
        if write is None:
            write = request.method not in ("GET", "HEAD", "OPTIONS")
        g.db_session = current_app.extensions["ews"].db.session(write=write)
    return g.db_session


def register_request_session(app: Flask) -> None:
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    app.teardown_request(_close_session)  # per request, even when an app context outlives it
    app.teardown_appcontext(_close_session)  # db_session() used outside a request
