"""The long-running commands: `ews web`, `ews worker`, `ews beat` and `ews run`.

Each checks first what it needs (preflight.py): a database that answers and is migrated, and for the worker and
beat the broker. A failed check is one line and exit code 1, before any process or port is taken.
"""

from __future__ import annotations

import fcntl
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ews_cases.cli.commands import main
from ews_cases.cli.preflight import require_database
from ews_cases.i18n.translate import _
from ews_cases.settings import get_settings

if TYPE_CHECKING:
    from celery import Celery


@main.command()
@click.option("--workers", type=int, default=None, help="gunicorn worker processes (default: 2 × cores + 1)")
@click.option("--threads", type=int, default=4, show_default=True)
def web(workers: int | None, threads: int) -> None:
    """Serve the web pages and the API with gunicorn on EWS_HOST:EWS_PORT."""
    from ews_cases.cli.server import serve

    settings = get_settings()
    require_database(settings.sqlalchemy_url)  # here, before gunicorn: its workers would boot and die
    serve(settings, workers=workers, threads=threads)


def _celery() -> Celery:
    """The app's Celery, once the database and the broker answer."""
    from ews_cases.app import create_app
    from workers.broker import check_broker

    settings = get_settings()
    require_database(settings.sqlalchemy_url)
    check_broker(settings)
    app = create_app(settings, check_migrations=False)
    if "celery" not in app.extensions:
        raise click.ClickException(
            _("Kein Broker eingerichtet: EWS_REDIS_URL setzen (oder `ews run` verwenden).")
        )
    return app.extensions["celery"]


@main.command()
@click.option("--concurrency", type=int, default=2, show_default=True)
def worker(concurrency: int) -> None:
    """Run a Celery worker (any number may run, on any machine)."""
    from ews_cases.cli.server import share_metrics_between_processes

    settings = get_settings()
    share_metrics_between_processes()  # the pool processes count their task durations together
    celery = _celery()
    if settings.worker_metrics_port:
        from ews_cases.observability.metrics import serve_worker_metrics

        serve_worker_metrics(settings.host, settings.worker_metrics_port)
    # What is loaded now lives as long as the worker: out of the collector's sight, it costs no time in each
    # collection nor at exit, and the forked pool processes share its memory pages (server.py does the same).
    gc.freeze()
    celery.worker_main(
        ["worker", f"--loglevel={settings.log_level}", f"--concurrency={concurrency}", "--queues=ews"]
    )


@contextmanager
def only_beat(data_dir: Path) -> Iterator[None]:
    """Hold the beat lock of `data_dir` (beat keeps its schedule file there; two beats would corrupt it).

    The lock is an advisory lock the kernel drops with the process that held it: a beat that died, even by
    SIGKILL, leaves no lock behind, only its pid in the file, which the next beat overwrites.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / "celerybeat.lock").open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise click.ClickException(
                _(
                    "Mit dem Datenordner {folder} läuft bereits ein `ews beat` (PID {pid}). "
                    "Es darf genau ein Beat laufen (docs/operations.md).",
                    folder=data_dir.resolve(),
                    pid=lock.read().strip() or "?",
                )
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


@main.command()
def beat() -> None:
    """Run Celery beat, which triggers the periodic scans (run exactly one)."""
    settings = get_settings()
    require_database(settings.sqlalchemy_url)  # before the lock: a refused start leaves the data folder alone
    with only_beat(settings.data_dir):
        _celery().start(["beat", f"--loglevel={settings.log_level}"])


@main.command()
def run() -> None:
    """Web, worker and beat together on the embedded defaults (Ctrl-C stops all cleanly)."""
    from ews_cases.cli.supervisor import run_all
    from workers.broker import check_broker

    settings = get_settings()
    require_database(settings.sqlalchemy_url)
    check_broker(settings)  # a configured broker; without one, `ews run` starts its own
    sys.exit(run_all(settings))
