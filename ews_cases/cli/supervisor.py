"""`ews run`: web, worker and beat as child processes on the embedded defaults, stopped together.

Stopped together also when `ews run` itself is killed (`kill -9`, the OOM killer): every child, and every child of
theirs, gets a signal from the kernel when its parent ends (lifeline.py), so nothing keeps the port, the queue
or the beat lock for the next start.

What the person at the console reads (what runs where) is German, like every user-facing text; the log lines
(`ews.run`, and those of the children) are English, like every log.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from ews_cases.cli.lifeline import ending_with_this_process
from ews_cases.i18n.translate import _
from ews_cases.observability.logs import configure_logging
from ews_cases.settings import Settings

if TYPE_CHECKING:
    from ews_cases.cli.embedded_redis import EmbeddedRedis

log = logging.getLogger("ews.run")
STOP_TIMEOUT = 20.0


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own process group: Ctrl-C reaches only us, and we stop the children in order. If we end without stopping
    # them (killed), they are killed too, at once: a graceful stop of gunicorn's master waits for its workers
    # one after another, which takes seconds. Their own children follow them the same way (their workers
    # gracefully: server.py; Celery's pool at once), and the tasks are idempotent and acknowledged late.
    return subprocess.Popen(
        [sys.executable, "-m", "ews_cases.cli", *args],
        env=env,
        start_new_session=True,
        preexec_fn=ending_with_this_process(signal.SIGKILL),  # only prctl: safe between fork and exec
    )


def run_all(settings: Settings) -> int:
    """Start everything, wait until a signal or a child's death, then stop all; returns the exit code."""
    configure_logging(settings)
    env = dict(os.environ)
    # Web and worker count their metrics together, so the web's /metrics shows the worker's task durations.
    metrics_dir = (settings.data_dir / "metrics").resolve()
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    keep_alive: list[Any] = []
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    exit_code = 0
    try:
        if not (settings.redis_url or settings.broker_url):
            keep_alive.append(redis := _embedded_redis(settings))
            env["EWS_REDIS_URL"] = redis.url
            print(_("Redis (eingebettet): {url}", url=redis.url), flush=True)
        mail_folder = None
        if "EWS_SMTP_HOST" not in os.environ and settings.env == "development":
            mail_folder = (settings.mail_sink_dir or settings.data_dir / "mail").resolve()
            env["EWS_SMTP_HOST"], env["EWS_SMTP_PORT"] = "127.0.0.1", str(settings.smtp_port)

        # Started while this process has a single thread (the mail sink's comes next): their `preexec_fn`
        # runs between fork and exec, where another thread's held lock would never be released.
        children.update(
            web=_child(["web", "--workers", "2"], env),
            worker=_child(["worker", "--concurrency", "2"], env),
            beat=_child(["beat"], env),
        )
        if mail_folder is not None:
            from ews_cases.cli.mail_sink import start_mail_sink

            keep_alive.append(start_mail_sink(mail_folder, port=settings.smtp_port))
            print(
                _("E-Mail (lokale Ablage): jede Nachricht wird in {folder} gespeichert", folder=mail_folder),
                flush=True,
            )
        print(_("EWS Cases läuft: {url} (Strg-C beendet)", url=settings.public_url), flush=True)

        while not stopping:
            for name, process in children.items():
                if process.poll() is not None:
                    log.error("%s exited with %s; stopping everything", name, process.returncode)
                    stopping, exit_code = True, 1
            time.sleep(0.2)
    finally:
        _stop_children(children)
        for item in reversed(keep_alive):
            stop = getattr(item, "stop", None) or getattr(item, "shutdown", None)
            if stop is not None:
                stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(_("EWS Cases beendet."), flush=True)
    return exit_code


def _embedded_redis(settings: Settings) -> EmbeddedRedis:
    from ews_cases.cli.embedded_redis import EmbeddedRedis, EmbeddedRedisError

    try:
        return EmbeddedRedis(settings.data_dir)
    except EmbeddedRedisError as error:
        raise click.ClickException(_("Redis (eingebettet) startet nicht: {reason}", reason=error)) from None


def _stop_children(children: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGTERM to all (beat first, web last), then wait; whoever hangs gets SIGKILL."""
    for name in ("beat", "worker", "web"):
        process = children.get(name)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, process in children.items():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop in time; killing it", name)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
