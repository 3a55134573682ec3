"""`ews` commands as child processes, with the environment that gives them the caller's settings."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from ews_cases.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to see the same settings."""
    env = dict(os.environ)
    env.update(
        {
            "EWS_ENV": settings.env,
            "EWS_DATABASE_URL": settings.sqlalchemy_url,
            "EWS_REDIS_URL": settings.redis_url or "",
            "EWS_SMTP_HOST": settings.smtp_host,
            "EWS_SMTP_PORT": str(settings.smtp_port),
            "EWS_OUTBOX_RETRY_BASE_SECONDS": str(settings.outbox_retry_base_seconds),
            "EWS_OUTBOX_RETRY_MAX_SECONDS": str(settings.outbox_retry_max_seconds),
            "EWS_OUTBOX_MAX_ATTEMPTS": str(settings.outbox_max_attempts),
            "EWS_OUTBOX_BATCH_SIZE": str(settings.outbox_batch_size),
            "EWS_DATA_DIR": str(settings.data_dir),
            "EWS_PUBLIC_URL": settings.public_url,
            "EWS_LOG_LEVEL": settings.log_level,
            "EWS_API_RATE_LIMIT": str(settings.api_rate_limit),
            "EWS_SECRET_KEY": settings.secret_key or "test",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class WorkerProcess:
    """`ews worker` (or another `ews` command) as a child process with its log captured to a file."""

    def __init__(
        self, settings: Settings, log_path: Path, args: tuple[str, ...] = ("worker", "--concurrency", "2")
    ) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ews_cases.cli", *args],
            cwd=ROOT,
            env=settings_env(settings),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, marker: str = "ready.", timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if marker in self.log():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"process exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"not ready after {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole process group (the pool children too): a worker dying mid-task."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@contextmanager
def web_process(
    settings: Settings,
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    workers: int = 1,
    threads: int = 2,
    timeout: float = 90.0,
) -> Iterator[str]:
    """`ews web` (gunicorn) on a free loopback port with `settings` (and `env` on top); yields its base URL
    once `/api/v1/health` answers, and stops it (SIGTERM, then SIGKILL) afterwards."""
    port = free_port()
    environment = settings_env(settings) | {"EWS_HOST": "127.0.0.1", "EWS_PORT": str(port)} | (env or {})
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ews_cases.cli",
                "web",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
            ],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert process.poll() is None, log_path.read_text(errors="replace")
                try:
                    if requests.get(f"{base}/api/v1/health", timeout=10).status_code == 200:
                        break
                except requests.RequestException:  # not listening yet, or still loading the app
                    pass
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                time.sleep(0.2)
            yield base
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
