"""Prometheus metrics: what happened in this process, plus what the database says about the whole system.

Counted in the process (web or worker) where it happens:
- `ews_http_requests_total` / `ews_http_request_duration_seconds` per route pattern (never the concrete path:
  unsubscribe and verification links carry secrets), method and status;
- `ews_transitions_total` per transition, counted once the transaction holding the audit event has committed;
- `ews_task_duration_seconds` per Celery task and outcome.
Read from the database when `/metrics` is scraped (true for every process and machine at once):
- `ews_outbox_messages` pending and failed, `ews_outbox_oldest_pending_seconds`;
- `ews_reminders_sent` per cohort and reminder offset.

Several processes on one machine (gunicorn workers, Celery pool processes, `ews run`) share their counters
through prometheus_client's multiprocess mode: set `PROMETHEUS_MULTIPROC_DIR` to an empty folder before they
start (docs/operations.md). Without it each process reports its own counters.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from ews_cases.audit import chain
from ews_cases.db.engine import Database
from ews_cases.models import Cohort, OutboxMessage, ReminderSent

__all__ = ["CONTENT_TYPE_LATEST", "render", "task_finished"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_TRANSITION_PREFIX = "transition."

HTTP_REQUESTS = Counter(
    "ews_http_requests",
    "HTTP requests answered, by route pattern, method and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "ews_http_request_duration_seconds",
    "Time to answer an HTTP request, by route pattern and method.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TRANSITIONS = Counter(
    "ews_transitions",
    "Committed workflow transitions, by transition name.",
    ["transition"],
)
TASK_DURATION = Histogram(
    "ews_task_duration_seconds",
    "Run time of Celery tasks, by task name and final state.",
    ["task", "state"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_DURATION.labels(method, route).observe(seconds)


def task_finished(task: str, state: str, seconds: float) -> None:
    TASK_DURATION.labels(task, state).observe(seconds)


# Transitions count when their audit event is committed; a rolled-back attempt never counts.
@chain.APPENDED.on_commit
def _count_transitions(actions: list[str]) -> None:
    for action in actions:
        if action.startswith(_TRANSITION_PREFIX):
            TRANSITIONS.labels(action.removeprefix(_TRANSITION_PREFIX)).inc()


class DatabaseCollector(Collector):
    """Gauges computed from the database at scrape time (cheap, index-backed counts)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.db.session() as session:
            by_status = dict(
                session.execute(
                    select(OutboxMessage.status, func.count())
                    .where(OutboxMessage.status.in_(("pending", "failed")))
                    .group_by(OutboxMessage.status)
                ).all()
            )
            oldest = session.scalar(
                select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending")
            )
            reminders = session.execute(
                select(Cohort.number, ReminderSent.offset_days, func.count())
                .join(Cohort, Cohort.id == ReminderSent.cohort_id)
                .group_by(Cohort.number, ReminderSent.offset_days)
                .order_by(Cohort.number, ReminderSent.offset_days)
            ).all()
        outbox = GaugeMetricFamily("ews_outbox_messages", "Outbox messages by status.", labels=["status"])
        for status in ("pending", "failed"):
            outbox.add_metric([status], by_status.get(status, 0))
        yield outbox
        age = GaugeMetricFamily(
            "ews_outbox_oldest_pending_seconds", "Age of the oldest message still waiting to be sent."
        )
        age.add_metric([], _age_seconds(oldest))
        yield age
        sent = GaugeMetricFamily(
            "ews_reminders_sent",
            "Deadline reminders queued (at most one per cohort, recipient and offset).",
            labels=["cohort", "offset_days"],
        )
        for cohort, offset, count in reminders:
            sent.add_metric([str(cohort), str(offset)], count)
        yield sent


def _age_seconds(moment: datetime | None) -> float:
    if moment is None:
        return 0.0
    if moment.tzinfo is None:  # SQLite returns naive UTC
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())


def registry(db: Database | None = None) -> CollectorRegistry:
    """This process's (or, in multiprocess mode, this machine's) metrics, plus the database gauges if `db`."""
    collected = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(collected)
    else:
        for collector in (HTTP_REQUESTS, HTTP_DURATION, TRANSITIONS, TASK_DURATION):
            collected.register(collector)
    if db is not None:
        collected.register(DatabaseCollector(db))
    return collected


def render(db: Database) -> bytes:
    """The text exposition served at `/metrics`."""
    return generate_latest(registry(db))


def mark_process_dead(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def serve_worker_metrics(host: str, port: int) -> None:
    """A worker's own `/metrics` (task durations, transitions it fired) on `port`, in a background thread."""
    start_http_server(port, addr=host, registry=registry())
