"""Run the app under gunicorn from Python (`ews web`), without a separate config file."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import tempfile
from typing import Any

from gunicorn.app.base import BaseApplication

from ews_cases.cli.lifeline import end_with_parent
from ews_cases.observability.logs import logging_config
from ews_cases.settings import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], settings: Settings) -> None:
        self.options = options
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from ews_cases.app import create_app

        return create_app(self.settings)


def _worker_started(server: Any, _worker: Any) -> None:
    # In the new worker: when the master ends without stopping it (killed), stop gracefully too — stop
    # accepting at once, finish the requests in hand — instead of serving on as an orphan.
    end_with_parent(server.pid, signal.SIGTERM)


def _worker_loaded(_worker: Any) -> None:
    # The app and the modules live as long as the worker: out of the collector's sight, they cost no time in
    # each collection nor at exit (about two seconds of a worker's stop go into collecting them otherwise).
    gc.freeze()


def _worker_exited(_server: Any, worker: Any) -> None:
    from ews_cases.observability.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def serve(settings: Settings, *, workers: int | None = None, threads: int = 4) -> None:
    """Start gunicorn in the foreground; the app (and its migration check) loads in each worker.

    The workers count their metrics together (multiprocess mode) and log through our logging configuration;
    the access log is the app's own (`ews.access`, with the request id), so gunicorn's is off.
    """
    share_metrics_between_processes()
    if settings.db_pool_size is None:
        # A connection for every thread (and the token-use note's short transaction): a smaller pool would
        # open and close connections (a new PostgreSQL backend each) under load.
        settings = settings.model_copy(update={"db_pool_size": threads + 2})
    gc.freeze()  # what the master has loaded stays: its workers share the pages, nobody collects them
    _Gunicorn(
        {
            "bind": f"{settings.host}:{settings.port}",
            "workers": workers or multiprocessing.cpu_count() * 2 + 1,
            "threads": threads,
            "worker_class": "gthread",
            "accesslog": None,
            "logconfig_dict": logging_config(settings),
            "post_fork": _worker_started,
            "post_worker_init": _worker_loaded,
            "child_exit": _worker_exited,
            # gunicorn's control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl), shared by every
            # instance on the machine; nothing here uses it.
            "control_socket_disable": True,
            "timeout": 60,
            "graceful_timeout": 20,
        },
        settings,
    ).run()


def share_metrics_between_processes() -> None:
    """Give forked processes (gunicorn workers, the Celery pool) a folder to count their metrics in together.

    prometheus_client reads the variable when it is imported, so this runs before the app is loaded; a folder
    set by the operator (or by `ews run` for all its processes) is kept.
    """
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ews-metrics-")
