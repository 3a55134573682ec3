"""An SMTP sink for the benchmarks, in a process of its own: aiosmtpd accepts every message, counts it by
Message-ID and recipient, and throws the content away (so the sink's memory stays flat at 100,000 messages).

    sink = SinkProcess().start()      # listens on 127.0.0.1:<free port>
    ...                               # send mail to sink.host, sink.port
    stats = sink.stats()              # {"messages": ..., "distinct_ids": ..., "duplicate_ids": [...], ...}
    sink.reset(); sink.stop()

The parent talks to the sink over a pipe; the sink's clock is `time.monotonic()`, which is the same clock in
every process on Linux, so its first/last arrival times can be compared with the parent's.
"""

from __future__ import annotations

import multiprocessing
import re
import socket
import threading
import time
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller

_MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.ids: Counter[bytes] = Counter()
        self.recipients: Counter[str] = Counter()
        self.duplicate_ids: list[bytes] = []  # kept as they happen: a snapshot must not walk 100,000 ids
        self.duplicate_recipients: list[str] = []
        self.messages = 0
        self.without_id = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.cpu_at_reset = time.process_time()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "messages": self.messages,
                "distinct_ids": len(self.ids),
                "duplicate_ids": [i.decode() for i in self.duplicate_ids[:20]],
                "duplicate_recipients": self.duplicate_recipients[:20],
                "without_id": self.without_id,
                "first_at": self.first_at,
                "last_at": self.last_at,
                "cpu_seconds": time.process_time() - self.cpu_at_reset,  # the sink's own CPU time
            }


class _Handler:
    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        content: bytes = envelope.original_content or envelope.content
        head = content.split(b"\r\n\r\n", 1)[0]
        found = _MESSAGE_ID.search(head)
        now = time.monotonic()
        c = self.counts
        with c.lock:
            c.messages += 1
            if found:
                message_id = found.group(1)
                c.ids[message_id] += 1
                if c.ids[message_id] == 2:
                    c.duplicate_ids.append(message_id)
            else:
                c.without_id += 1
            for rcpt in envelope.rcpt_tos:
                c.recipients[rcpt] += 1
                if c.recipients[rcpt] == 2:
                    c.duplicate_recipients.append(rcpt)
            if c.first_at is None:
                c.first_at = now
            c.last_at = now
        return "250 OK"


def _serve(host: str, port: int, conn: Any) -> None:
    counts = _Counts()
    controller = Controller(_Handler(counts), hostname=host, port=port, data_size_limit=10 * 1024 * 1024)
    controller.start()
    conn.send("ready")
    try:
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send(counts.snapshot())
            elif command == "ids":
                with counts.lock:
                    conn.send([i.decode() for i in counts.ids])
            elif command == "reset":
                with counts.lock:
                    counts.reset()
                conn.send("ok")
            else:
                break
    finally:
        controller.stop()


class SinkProcess:
    """The sink in a child process; `stats()` and `reset()` ask it over a pipe."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host, self.port = host, port or free_port()
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(self.host, self.port, child), daemon=True)

    def start(self) -> SinkProcess:
        self._process.start()
        if not self._conn.poll(30) or self._conn.recv() != "ready":
            raise RuntimeError("SMTP sink did not start")
        return self

    def stats(self) -> dict[str, Any]:
        self._conn.send("stats")
        return self._conn.recv()

    def message_ids(self) -> list[str]:
        """Every distinct Message-ID received since the last reset."""
        self._conn.send("ids")
        return self._conn.recv()

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def wait_quiet(self, expected: int, timeout: float = 600.0, quiet: float = 1.0) -> dict[str, Any]:
        """Stats once `expected` messages arrived and nothing more came for `quiet` seconds (or timeout)."""
        deadline = time.monotonic() + timeout
        stats = self.stats()
        while time.monotonic() < deadline:
            if stats["messages"] >= expected and time.monotonic() - (stats["last_at"] or 0) >= quiet:
                break
            time.sleep(0.2)
            stats = self.stats()
        return stats

    def stop(self) -> None:
        if self._process.is_alive():
            self._conn.send("stop")
            self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)


if __name__ == "__main__":
    sink = SinkProcess().start()
    print(f"SMTP sink on {sink.host}:{sink.port}; Ctrl-C prints the counts and stops")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print(sink.stats())
        sink.stop()
