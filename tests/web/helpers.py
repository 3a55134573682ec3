"""Helpers for page tests: read the CSRF token from a form, log in through /anmelden, post a form."""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(page: str | TestResponse) -> str:
    """The CSRF token of the first form on `page` (HTML text or a response)."""
    html = page if isinstance(page, str) else page.get_data(as_text=True)
    found = CSRF_FIELD.search(html)
    assert found, "no csrf_token field on the page"
    return found.group(1)


def login(client: FlaskClient, email: str, password: str) -> TestResponse:
    """Log in like a browser: fetch the form, post it with its token; asserts the redirect of a success."""
    token = csrf_token(client.get("/anmelden"))
    response = client.post("/anmelden", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def post_form(
    client: FlaskClient, url: str, data: dict[str, Any], *, form_page: str | None = None
) -> TestResponse:
    """Post `data` to `url` with the token read from `form_page` (default: `url` itself)."""
    token = csrf_token(client.get(form_page or url))
    return client.post(url, data={**data, "csrf_token": token})
