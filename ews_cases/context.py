"""Per-request (or per-task) context that services read without depending on Flask or Celery."""

from __future__ import annotations

from contextvars import ContextVar

#: The request id of the HTTP request or task being served; stored in the audit events it causes.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
#: The Celery task being run (for log lines; audit events of system actors name the task in `actor`).
current_task_id: ContextVar[str | None] = ContextVar("current_task_id", default=None)
