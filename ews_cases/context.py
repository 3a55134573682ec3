"""Per-request (or per-task) context that services read without depending on Flask or Celery."""

from __future__ import annotations

from contextvars import ContextVar

#: The request id of the HTTP request or task being served; stored in the audit events it causes.
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
