"""Security headers on every answer (issue 19, must-hold 1): pages, API answers, errors, public pages and
static files, in production and in development; and no inline script or style left in the page templates
(the browser tests check the same in Chromium: tests/browser/conftest.py collects CSP violations)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from ews_cases.services.actors import Actor
from ews_cases.services.users import issue_token
from tests.web.helpers import login

TEMPLATES = Path(__file__).resolve().parents[1] / "ews_cases" / "templates"
PASSWORD = "Richtig-Passwort-2025"
#: Inline code in a page: a <script> without src, a <style> element, a style="…" attribute, an on…= handler
#: or a javascript: URL. HTML letters (templates/mail/) are not pages and keep their inline styles.
INLINE = re.compile(
    r"<script(?![^>]*\bsrc=)[^>]*>|<style\b|<[a-z][^>]*\s(?:style|on[a-z]+)\s*=|javascript:", re.IGNORECASE
)


def https_client(app: Flask) -> FlaskClient:
    """A browser on the service's HTTPS address: production cookies are `Secure`, and Flask-WTF's CSRF
    check wants a same-origin Referer on HTTPS."""
    client = app.test_client()
    client.environ_base.update({"wsgi.url_scheme": "https", "HTTP_REFERER": "https://localhost/anmelden"})
    return client


def csp_directives(response: TestResponse) -> dict[str, list[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def assert_security_headers(response: TestResponse, *, production: bool, cached: bool = False) -> None:
    label = f"{response.request.method} {response.request.path} ({response.status_code})"
    csp = csp_directives(response)
    assert csp["default-src"] == ["'self'"], label
    assert csp["script-src"] == ["'self'"], label
    assert csp["style-src"] == ["'self'"], label
    assert csp["img-src"] == ["'self'", "data:"], label
    assert csp["object-src"] == ["'none'"], label
    assert csp["base-uri"] == ["'none'"], label
    assert csp["form-action"] == ["'self'"], label
    assert csp["frame-ancestors"] == ["'none'"], label
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"], label
    assert "unsafe-eval" not in response.headers["Content-Security-Policy"], label
    assert response.headers["X-Content-Type-Options"] == "nosniff", label
    assert response.headers["Referrer-Policy"] == "same-origin", label
    permissions = response.headers["Permissions-Policy"]
    for feature in ("camera", "microphone", "geolocation", "payment", "usb"):
        assert f"{feature}=()" in permissions, label
    if cached:
        assert "no-store" not in response.headers.get("Cache-Control", ""), label
    else:
        assert response.headers["Cache-Control"] == "no-store", label
    if production:
        assert response.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains", label
    else:
        assert "Strict-Transport-Security" not in response.headers, label


def answers(client: FlaskClient, token: str) -> list[tuple[TestResponse, bool]]:
    """One of each kind of answer (and whether it may be cached), for a client signed in as a coordinator
    with an API `token`."""
    bearer = {"Authorization": f"Bearer {token}"}
    expected = [  # path, headers, status, type, may be cached
        ("/programm", {}, 200, "text/html", False),  # a signed-in page
        ("/api/v1/cohorts", bearer, 200, "application/json", False),
        ("/api/v1/health", {}, 200, "application/json", False),
        ("/gibt-es-nicht", {}, 404, "text/html", False),
        ("/api/v1/cases/999999", bearer, 404, "application/problem+json", False),
        ("/api/v1/cohorts", {}, 401, "application/problem+json", False),
        ("/verify", {}, 200, "text/html", False),  # public pages
        ("/impressum", {}, 200, "text/html", False),
        ("/static/ews.css", {}, 200, "text/css", True),
        ("/bootstrap/static/css/bootstrap.min.css", {}, 200, "text/css", True),
    ]
    found = []
    for path, headers, status, mimetype, cached in expected:
        response = client.get(path, headers=headers)
        assert (response.status_code, response.mimetype) == (status, mimetype), path
        found.append((response, cached))
    assert b"Abmelden" in found[0][0].data  # signed in indeed
    return found


def sign_in(client: FlaskClient, session, factory) -> str:
    """Log `client` in as a coordinator; an API token of the same person."""
    user = factory.user("coordinator", password=PASSWORD)
    token = issue_token(session, Actor.system("tests"), user)
    session.commit()
    login(client, user.email, PASSWORD)
    return token


def test_every_kind_of_answer_carries_the_headers_in_production(production_app, session, factory):
    client = https_client(production_app)
    token = sign_in(client, session, factory)
    for response, cached in answers(client, token):
        assert_security_headers(response, production=True, cached=cached)


def test_development_sends_the_same_headers_without_hsts(app, session, factory):
    client = app.test_client()
    token = sign_in(client, session, factory)
    for response, cached in answers(client, token):
        assert_security_headers(response, production=False, cached=cached)


def test_answers_made_before_any_view_carry_them_too(app, db):
    client = app.test_client()
    # A redirect from a before_request hook (not signed in), a 405, and a 413 refused before any view.
    redirect = client.get("/programm")
    assert redirect.status_code in (302, 303)
    not_allowed = client.delete("/api/v1/health")
    assert not_allowed.status_code == 405
    too_big = client.post("/api/v1/cohorts", data=b"x" * (300 * 1024), content_type="application/json")
    assert too_big.status_code == 413
    for response in (redirect, not_allowed, too_big):
        assert_security_headers(response, production=False)


def test_the_page_templates_have_no_inline_script_or_style():
    pages = [p for p in TEMPLATES.rglob("*.html") if "mail" not in p.relative_to(TEMPLATES).parts]
    assert len(pages) > 50
    found = [
        f"{path.relative_to(TEMPLATES)}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)[:120]}"
        for path in pages
        for text in [path.read_text(encoding="utf-8")]
        for match in INLINE.finditer(text)
    ]
    assert not found, "inline code the Content-Security-Policy blocks:\n" + "\n".join(found)
