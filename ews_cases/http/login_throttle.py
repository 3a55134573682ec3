"""Failed logins counted in the shared store (Redis), per account and per client address, across every web
process: at a limit, that account (or that address) waits until the window is over, and the page says until
when. The login page, its second step and the password reset form use it; an unknown email address is
counted like a known one, so a lockout tells nothing about which accounts exist.

An attempt is counted before the password is checked, and taken back if it succeeds: one Lua script checks
every limit and counts (INCR, PEXPIRE on the first) in one step, so of any number of concurrent attempts in
any number of processes exactly `limit` get through. Each count is one Redis key that expires one window
after its first count. The keys carry an HMAC of the address or account (keyed with the secret key), never
the email address or IP itself.

The API's per-token rate limits (`ews_cases/api/rate_limit.py`) count requests with the same counter.

Redis unreachable: the counts go on in this process's memory (each web process counts on its own, so a
guesser gets at most processes × limit tries per window) and Redis is tried again after a few seconds. The
login page keeps working — failing closed would lock everybody out while Redis is down — and a guesser is
still slowed down.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

log = logging.getLogger(__name__)

#: How long to count in memory after Redis failed before trying it again.
REDIS_RETRY_SECONDS = 5.0
#: A login must not wait for a Redis that does not answer.
REDIS_TIMEOUT_SECONDS = 0.5

# An attempt: if any key's count has reached its limit (ARGV[i]), count nothing and return the milliseconds
# left of those keys; otherwise count one for every key (the first count starts a window of ARGV[n + i]
# milliseconds) and return an empty list. One script: of concurrent attempts, exactly `limit` get through.
_ATTEMPT = """
local n = #KEYS
local left = {}
for i = 1, n do
  if tonumber(redis.call('GET', KEYS[i]) or '0') >= tonumber(ARGV[i]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], ARGV[n + i])
      ttl = tonumber(ARGV[n + i])
    end
    left[#left + 1] = ttl
  end
end
if #left > 0 then
  return left
end
for i = 1, n do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 or redis.call('PTTL', KEYS[i]) < 0 then
    redis.call('PEXPIRE', KEYS[i], ARGV[n + i])
  end
end
return {}
"""
# Take back one count per key (an attempt that succeeded was no failure).
_TAKE_BACK = """
for i, key in ipairs(KEYS) do
  if redis.call('DECR', key) <= 0 then
    redis.call('DEL', key)
  end
end
return 0
"""


@dataclass(frozen=True, slots=True)
class Limit:
    """At most `maximum` failures per `scope` key within `window_seconds` of the first."""

    scope: str
    maximum: int
    window_seconds: int


@dataclass(frozen=True, slots=True)
class Counted:
    """A key to count under a limit: `Counted(ACCOUNT, "erika@example.org")`."""

    limit: Limit
    value: str


class _MemoryCounts:
    """The fallback while Redis is unreachable: the same counting, in this process only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}  # key -> (count, window ends, epoch seconds)

    def _live(self, key: str, now: float) -> tuple[int, float]:
        count, ends = self._counts.get(key, (0, 0.0))
        return (count, ends) if ends > now else (0, 0.0)

    def attempt(self, keys: Sequence[str], limits: Sequence[int], windows: Sequence[int]) -> float | None:
        """As the `_ATTEMPT` script: None if counted, else the latest end of a window whose limit is reached."""
        now = time.time()
        with self._lock:
            if len(self._counts) > 100_000:  # a flood of distinct keys: drop what has expired
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            live = [self._live(key, now) for key in keys]
            ends = [ends for (count, ends), limit in zip(live, limits, strict=True) if count >= limit]
            if ends:
                return max(ends)
            for key, (count, ends), window in zip(keys, live, windows, strict=True):
                self._counts[key] = (count + 1, ends if count else now + window)
            return None

    def take_back(self, keys: Sequence[str]) -> None:
        now = time.time()
        with self._lock:
            for key in keys:
                count, ends = self._live(key, now)
                if count > 1:
                    self._counts[key] = (count - 1, ends)
                else:
                    self._counts.pop(key, None)

    def clear(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._counts.pop(key, None)


class LoginThrottle:
    """Counts attempts under limits in Redis (or, while it is unreachable, in memory)."""

    def __init__(self, redis_url: str | None, secret_key: str, *, prefix: str = "ews:throttle") -> None:
        self._key_secret = hashlib.sha256(b"login-throttle|" + secret_key.encode("utf-8")).digest()
        self._prefix = prefix
        self._memory = _MemoryCounts()
        self._redis: redis.Redis | None = None
        self._retry_redis_at = 0.0
        if redis_url:
            self._redis = redis.Redis.from_url(
                redis_url,
                socket_timeout=REDIS_TIMEOUT_SECONDS,
                socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                health_check_interval=30,
            )
            self._attempt_script = self._redis.register_script(_ATTEMPT)
            self._take_back_script = self._redis.register_script(_TAKE_BACK)

    def key(self, counted: Counted) -> str:
        digest = hmac.new(self._key_secret, counted.value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        return f"{self._prefix}:{counted.limit.scope}:{digest}"

    def _use_redis(self) -> bool:
        return self._redis is not None and time.monotonic() >= self._retry_redis_at

    def _redis_failed(self, error: Exception) -> None:
        first = self._retry_redis_at == 0.0 or time.monotonic() - self._retry_redis_at > 60
        self._retry_redis_at = time.monotonic() + REDIS_RETRY_SECONDS
        if first:
            log.warning("%s: Redis unreachable (%s); counting in this process's memory", self._prefix, error)

    def attempt(self, counted: Sequence[Counted]) -> datetime | None:
        """Count an attempt under each limit, before it is checked; None if it may go ahead, else until when it
        must wait (a limit is reached; nothing is counted then). A successful attempt is taken back."""
        keys = [self.key(c) for c in counted]
        limits = [c.limit.maximum for c in counted]
        windows = [c.limit.window_seconds for c in counted]
        if self._use_redis():
            try:
                left = self._attempt_script(keys=keys, args=[*limits, *(w * 1000 for w in windows)])
            except (redis.RedisError, OSError) as error:
                self._redis_failed(error)
            else:
                return datetime.fromtimestamp(time.time() + max(left) / 1000, UTC) if left else None
        ends = self._memory.attempt(keys, limits, windows)
        return datetime.fromtimestamp(ends, UTC) if ends is not None else None

    def take_back(self, counted: Sequence[Counted]) -> None:
        """The attempt succeeded: it does not count as a failure."""
        keys = [self.key(c) for c in counted]
        if self._use_redis():
            try:
                self._take_back_script(keys=keys)
                return
            except (redis.RedisError, OSError) as error:
                self._redis_failed(error)
        self._memory.take_back(keys)

    def clear(self, counted: Sequence[Counted]) -> None:
        """Forget every failure (a successful login: the person's own account count starts again)."""
        keys = [self.key(c) for c in counted]
        self._memory.clear(keys)
        if self._use_redis():
            try:
                self._redis.delete(*keys)  # type: ignore[union-attr]
            except (redis.RedisError, OSError) as error:
                self._redis_failed(error)


def client_address(remote_addr: str | None) -> str:
    """The client's address as the limits count it: the request's (behind trusted proxies the visitor's,
    ews_cases/http/proxies.py), and IPv6 by its /64 network (one subscriber usually has a whole /64)."""
    address = remote_addr or ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)
