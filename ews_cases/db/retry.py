"""Run a request's unit of work again when PostgreSQL chose it as a deadlock or serialisation victim.

PostgreSQL resolves a deadlock by aborting one of the transactions (SQLSTATE 40P01) and expects the
application to retry it; the same holds for serialisation failures (40001). A request's work is one
transaction that commits at its end and sends nothing before the commit (mail goes through the outbox,
workers are woken after the commit), so running the handler again on a fresh session is safe. After
`ATTEMPTS` tries the request is answered 503 with `Retry-After`: the client may send it again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from apiflask import abort
from flask import Flask, g
from sqlalchemy.exc import DBAPIError

from ews_cases.i18n.translate import N_

log = logging.getLogger(__name__)

TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
ATTEMPTS = 3
RETRY_AFTER_SECONDS = 2
BUSY = N_("Der Dienst ist gerade stark ausgelastet. Bitte versuchen Sie es in wenigen Sekunden erneut.")


def is_transient(exc: BaseException) -> bool:
    """Whether the database aborted the transaction only because of a concurrent one (retry it)."""
    if not isinstance(exc, DBAPIError):
        return False
    return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


def retry_transient_failures(app: Flask) -> None:
    """Wrap the app's view dispatch: a deadlock victim's request runs again on a new session."""
    dispatch: Callable[[], Any] = app.dispatch_request

    def dispatch_with_retry() -> Any:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return dispatch()
            except DBAPIError as exc:
                if not is_transient(exc):
                    raise
                session = g.pop("db_session", None)
                if session is not None:
                    session.close()  # rolls back what is left of the aborted transaction
                log.warning(
                    "transaction aborted by the database (%s), attempt %d of %d",
                    getattr(exc.orig, "sqlstate", "?"),
                    attempt,
                    ATTEMPTS,
                )
                if attempt < ATTEMPTS:
                    time.sleep(random.uniform(0.01, 0.05) * attempt)  # jitter, not security
        abort(503, message=BUSY, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    app.dispatch_request = dispatch_with_retry  # type: ignore[method-assign]
