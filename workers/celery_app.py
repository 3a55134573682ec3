"""The Celery app, integrated with Flask as in Flask's documentation: every task runs in the app context."""

from __future__ import annotations

import logging
import time
from contextvars import Token
from typing import Any

from celery import Celery, Task
from celery.signals import task_failure, task_postrun, task_prerun, worker_process_init
from flask import Flask

from ews_cases.context import current_task_id
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.observability import metrics
from ews_cases.settings import Settings
from workers.schedule import beat_schedule

log = logging.getLogger("workers")
#: Longer than any retry countdown, so Redis never re-delivers a task that is merely waiting.
VISIBILITY_TIMEOUT = 2 * 3600


def broker_url(settings: Settings) -> str | None:
    """The configured broker as kombu wants it (`unix://` sockets become `redis+socket://`)."""
    url = settings.broker_url or settings.redis_url
    if url and url.startswith("unix://"):
        return "redis+socket://" + url.removeprefix("unix://")
    return url


def celery_init_app(app: Flask) -> Celery:
    settings: Settings = app.extensions["ews"].settings

    class FlaskTask(Task):  # type: ignore[misc]
        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            with app.app_context():
                return self.run(*args, **kwargs)

    celery = Celery(app.name, task_cls=FlaskTask)
    schedule_file = (settings.data_dir / "celerybeat-schedule").resolve()
    schedule_file.parent.mkdir(parents=True, exist_ok=True)
    celery.conf.update(
        broker_url=broker_url(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT,
            "socket_timeout": 5,
            "socket_connect_timeout": 3,
        },
        task_ignore_result=True,
        task_acks_late=True,  # the tasks are idempotent: a task lost with its worker runs again
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="ews",
        # A request must not hang on a dead broker: the change is committed, the periodic scans catch up.
        task_publish_retry_policy={
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        timezone="Europe/Berlin",
        enable_utc=True,
        beat_schedule=beat_schedule(settings),
        beat_schedule_filename=str(schedule_file),
        worker_hijack_root_logger=False,
    )
    celery.set_default()
    app.extensions["celery"] = celery
    import workers.tasks  # noqa: F401 - registers the tasks with this app

    set_dispatcher(_dispatcher)

    @worker_process_init.connect(weak=False, dispatch_uid="ews-fresh-database-pool")
    def _fresh_database_pool(**_: Any) -> None:
        # A forked pool process must not share the parent's database connections (the parent connected
        # while checking migrations): drop the inherited pool without closing the parent's sockets.
        app.extensions["ews"].db.engine.dispose(close=False)

    return celery


def _dispatcher(topic: str, payload: dict[str, Any]) -> None:
    from workers import tasks

    if topic == "outbox":
        tasks.deliver_outbox.delay()
    elif topic == "certificates":
        tasks.issue_certificates.delay(payload["case_id"])


_running: dict[str, tuple[float, Token[str | None]]] = {}


@task_prerun.connect
def _task_started(task_id: str, **_: Any) -> None:
    _running[task_id] = (time.monotonic(), current_task_id.set(task_id))


@task_postrun.connect
def _task_finished(task_id: str, task: Task, retval: Any = None, state: str | None = None, **_: Any) -> None:
    started, token = _running.pop(task_id, (time.monotonic(), None))
    elapsed = time.monotonic() - started
    metrics.task_finished(task.name, state or "UNKNOWN", elapsed)
    log.info(
        "task %s %s in %.3fs: %s",
        task.name,
        state,
        elapsed,
        retval,
        extra={"task": task.name, "state": state, "duration_ms": round(elapsed * 1000, 2)},
    )
    if token is not None:
        current_task_id.reset(token)


@task_failure.connect
def _task_failed(task_id: str, exception: BaseException, sender: Task | None = None, **_: Any) -> None:
    log.error("task %s failed: %r", sender.name if sender else task_id, exception)
