"""Per-token rate limits of the API (issue 19): at most `EWS_API_RATE_LIMIT` requests a minute per API token,
and per client address for requests without a token, counted in the shared store (Redis) across all web
processes by the login throttle's counter (`ews_cases.http.login_throttle`). At the limit the API answers 429
problem+json with `Retry-After` until the minute, counted from the window's first request, is over.

The count comes before anything else of the request (authentication included): a flood costs one Redis round
trip per request, not a database query. A token is counted as presented, valid or not; guessing tokens is
hopeless (256 bits), and each guess is counted against itself only, so floods of made-up tokens are the
reverse proxy's to limit.
"""

from __future__ import annotations

import math
import time
from typing import Any

from apiflask import APIFlask, abort
from flask import request

from ews_cases.http.login_throttle import Counted, Limit, LoginThrottle, client_address
from ews_cases.settings import Settings

WINDOW_SECONDS = 60
#: Where the API's counts live in Redis (the login counts are under `ews:throttle`).
REDIS_PREFIX = "ews:api-rate"


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer <token>`, if the request carries one."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def register_rate_limit(app: APIFlask, settings: Settings) -> None:
    """Count every request to `/api/` (0 requests a minute: no limit)."""
    maximum = settings.api_rate_limit
    if not maximum:
        return
    throttle = LoginThrottle(
        settings.redis_url or settings.broker_url, str(app.config["SECRET_KEY"]), prefix=REDIS_PREFIX
    )
    per_token = Limit("token", maximum, WINDOW_SECONDS)
    per_address = Limit("address", maximum, WINDOW_SECONDS)

    @app.before_request
    def _count_api_request() -> None:
        if not request.path.startswith("/api/"):
            return
        token = bearer_token()
        if token is not None:
            counted = Counted(per_token, token)
        else:
            counted = Counted(
                per_address, client_address(request.remote_addr)
            )  # behind proxies: the visitor's
        until = throttle.attempt([counted])
        if until is not None:
            wait = max(1, math.ceil(until.timestamp() - time.time()))
            abort(
                429,
                headers={
                    "Retry-After": str(wait),
                    "RateLimit-Limit": str(maximum),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(wait),
                },
            )


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "required": True, "schema": {"type": "integer", "minimum": 0}}


#: The 429 answer as the OpenAPI document describes it (`components.responses.TooManyRequests`).
TOO_MANY_REQUESTS: dict[str, Any] = {
    "description": "Rate limit reached: `EWS_API_RATE_LIMIT` requests a minute per API token (per client "
    "address without a token). Wait `Retry-After` seconds.",
    "headers": {
        "Retry-After": _header("Seconds until the window is over and requests are accepted again"),
        "RateLimit-Limit": _header("Requests allowed per window of 60 seconds"),
        "RateLimit-Remaining": _header("Requests left in this window (0)"),
        "RateLimit-Reset": _header("Seconds until the window is over"),
    },
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def document_rate_limit(spec: dict[str, Any]) -> dict[str, Any]:
    """A 429 on every operation (an OpenAPI spec processor)."""
    spec.setdefault("components", {}).setdefault("responses", {})["TooManyRequests"] = TOO_MANY_REQUESTS
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "responses" in operation:
                operation["responses"]["429"] = {"$ref": "#/components/responses/TooManyRequests"}
    return spec
