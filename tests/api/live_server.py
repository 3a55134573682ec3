"""The app behind a real HTTP socket, for tests that must go over the wire: the whole life of a case,
concurrent requests, schemathesis.

The server runs the test's own `app` object in a background thread (werkzeug, one thread per request), so
it uses the test database and settings. On SQLite the test's session must commit what it arranged before
a request: a writer holds the database's write lock until it commits.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from flask import Flask
from werkzeug.serving import WSGIRequestHandler, make_server

REQUEST_TIMEOUT_SECONDS = 30


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (schemathesis sends thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@contextmanager
def live_server(app: Flask) -> Iterator[str]:
    """Serve `app` on a free local port until the block ends; yields the base URL (no trailing slash)."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="ews-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class ApiClient:
    """A `requests` session against the live server's `/api/v1`, acting with one bearer token (or none)."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url
        self.http = requests.Session()
        if token is not None:
            self.http.headers["Authorization"] = f"Bearer {token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """`path` relative to `/api/v1` (e.g. `/cases/3`), or absolute when it starts with `/api/`."""
        url = self.base_url + (path if path.startswith("/api/") else "/api/v1" + path)
        kwargs.setdefault("timeout", REQUEST_TIMEOUT_SECONDS)
        return self.http.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def close(self) -> None:
        self.http.close()


def expect(response: requests.Response, status: int) -> dict[str, Any]:
    """The JSON body of a response that must have `status` (the body is shown when it has not)."""
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text}"
    return response.json() if response.content else {}


def expect_problem(response: requests.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An RFC 9457 problem with `status` (and, given, the `type` ending in `code`)."""
    body = expect(response, status)
    assert response.headers["Content-Type"].split(";")[0] == "application/problem+json", response.headers
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)
    if code is not None:
        assert body["type"].endswith(":" + code), body
    return body
