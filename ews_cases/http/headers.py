"""Security headers on every answer: pages, API, public pages, errors and static files (issue 19).

The pages load nothing inline: scripts and styles come from static files (`ews_cases/static/`, Bootstrap from
the package), so the Content-Security-Policy needs neither `unsafe-inline` nor nonces. HTML letters
(templates/mail/) are not web pages and keep their inline styles.
"""

from __future__ import annotations

from flask import Flask, Response, request

#: Only our own origin; images may also be `data:` URLs (Bootstrap's form controls draw their arrows so).
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
#: Features the service never uses, denied to every page (only names Chromium knows: it logs a warning
#: for each unknown one; tests/browser/test_content_security_policy.py checks the console).
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)
#: Sent in production only (behind TLS): a browser that saw it uses HTTPS for a year.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    # Not `no-referrer`: Flask-WTF's CSRF check over HTTPS requires a same-origin Referer on every form post.
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _is_static_file() -> bool:
    """Our stylesheet and Bootstrap's files (the endpoints `static` and `bootstrap.static`)."""
    return (request.endpoint or "").endswith("static")


def register_security_headers(app: Flask, *, production: bool) -> None:
    """Add the headers to every answer of `app`, whatever view, error handler or hook made it."""
    headers = dict(HEADERS)
    if production:
        headers["Strict-Transport-Security"] = STRICT_TRANSPORT_SECURITY

    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers[name] = value
        if not _is_static_file():
            # Pages and API answers carry personal data, links with secrets or a signed-in view: no copy is
            # kept by the browser or a proxy. Static files keep Flask's revalidating `no-cache`.
            response.headers["Cache-Control"] = "no-store"
        return response
