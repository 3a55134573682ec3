"""Logging for the processes we start: one JSON object per line (production) or readable text (development).

Every record carries the request id of the HTTP request (the `X-Request-ID` the client sent or we assigned, the
same id the audit events store) or the id of the Celery task being run, so one request can be followed from the
access log through the services to its audit events.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from ews_cases.context import current_request_id, current_task_id
from ews_cases.settings import Settings

#: Attributes every LogRecord has; anything else was passed with `extra=` and goes into the JSON object.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "task_id"}


class ContextFilter(logging.Filter):
    """Adds `request_id` and `task_id` from the current context to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        record.task_id = current_task_id.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key in ("request_id", "task_id"):
            if getattr(record, key, None):
                entry[key] = getattr(record, key)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class Demote(logging.Filter):
    """Makes INFO records whose message starts with one of `prefixes` DEBUG records (shown only at DEBUG).

    For a library's routine lines that say nothing happened: its logger's other INFO lines still come.
    """

    def __init__(self, prefixes: list[str]) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not record.getMessage().startswith(self.prefixes):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


#: Routine lines of the libraries, demoted to DEBUG: Alembic's, on every start-up check of the schema; beat's,
#: each time it sends the outbox delivery (every 15 s, workers/schedule.py).
ROUTINE_LINES = {
    "alembic.runtime.migration": ["Context impl ", "Will assume "],
    "celery.beat": ["Scheduler: Sending due task deliver-outbox "],
}

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def logging_config(settings: Settings) -> dict[str, Any]:
    """The `logging.config.dictConfig` for our processes (also handed to gunicorn for its own loggers)."""
    json_logs = settings.log_format == "json"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": ContextFilter},
            **{f"routine:{name}": {"()": Demote, "prefixes": p} for name, p in ROUTINE_LINES.items()},
        },
        "formatters": {
            "main": {"()": JsonFormatter} if json_logs else {"format": TEXT_FORMAT},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["context"],
            }
        },
        "root": {"level": settings.log_level, "handlers": ["stderr"]},
        "loggers": {
            # gunicorn's access log is replaced by ours (ews.access), which knows the request id.
            "gunicorn.error": {"level": settings.log_level, "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            # The state machine library logs every state entered and left at INFO: twice per transition,
            # without case or actor. The audit trail records each transition; its warnings still come.
            "transitions": {"level": "WARNING"},
            # Alembic announces each of its plugins at INFO whenever it loads (every command, every process).
            "alembic.runtime.plugins": {"level": "WARNING"},
            # Celery logs every task received and finished; workers/celery_app.py logs each finished task once,
            # with its duration and result (and failures at ERROR: Celery's own error lines still come).
            "celery.worker.strategy": {"level": "WARNING"},
            "celery.app.trace": {"level": "WARNING"},
            # aiosmtpd, the development mail sink of `ews run`: five lines per connection.
            "mail.log": {"level": "WARNING"},
            **{name: {"filters": [f"routine:{name}"]} for name in ROUTINE_LINES},
        },
    }


def configure_logging(settings: Settings) -> None:
    logging.config.dictConfig(logging_config(settings))
