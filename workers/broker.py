"""Is the broker there? Checked by `ews worker`, `ews beat` and `ews run` before they start.

Kept apart from celery_app.py, which imports the metrics: the CLI imports this before it has told
prometheus_client where the processes count together (`share_metrics_between_processes`).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ews_cases.settings import Settings


class BrokerUnreachable(RuntimeError):
    """No answer from the broker; `location` is its host and port (or socket)."""

    def __init__(self, location: str, reason: str) -> None:
        self.location, self.reason = location, reason
        super().__init__(f"The broker at {location} is unreachable: {reason}")


def check_broker(settings: Settings, timeout: float = 3.0) -> None:
    """Before a worker or beat starts: one PING to the broker (Redis), or `BrokerUnreachable`."""
    import redis  # here: importing it costs a third of a second, which `ews web` need not pay
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    url = settings.broker_url or settings.redis_url
    if not url or not url.startswith(("redis://", "rediss://", "unix://")):
        return
    parsed = urlsplit(url)
    location = parsed.path if parsed.scheme == "unix" else f"{parsed.hostname}:{parsed.port or 6379}"
    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0)
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as error:
        # "Error 111 connecting to host:port. Connection refused." → "Connection refused"
        text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        reason = re.sub(r"^Error -?\d+ connecting to \S+?\.? ", "", text).rstrip(".")
        raise BrokerUnreachable(location, reason) from None
    finally:
        client.close()
