"""Work to start once a transaction has committed (wake the mail worker, issue certificates).

Services call `after_commit(session, topic, **payload)`; the Celery app registers a dispatcher that turns
topics into tasks. Without a dispatcher (tests, CLI) nothing happens, and the periodic scans pick the work
up anyway, so a lost signal — Redis down at that moment — delays work but never loses it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)
_KEY = "ews_after_commit"
Dispatcher = Callable[[str, dict[str, Any]], None]
_dispatcher: Dispatcher | None = None


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    global _dispatcher
    _dispatcher = dispatcher


def after_commit(session: Session, topic: str, **payload: Any) -> None:
    """Run `topic` with `payload` after the session's current transaction commits (once per pair)."""
    pending: dict[tuple[str, tuple[tuple[str, Any], ...]], dict[str, Any]] = session.info.setdefault(_KEY, {})
    pending[(topic, tuple(sorted(payload.items())))] = payload


@event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    pending = session.info.pop(_KEY, None)
    if not pending or _dispatcher is None:
        return
    for (topic, _key), payload in pending.items():
        try:
            _dispatcher(topic, payload)
        except Exception:  # the change is committed; the periodic scan will do the work later
            log.warning(
                "could not dispatch %s %s after commit; the periodic scan will pick it up",
                topic,
                payload,
                exc_info=True,
            )


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
