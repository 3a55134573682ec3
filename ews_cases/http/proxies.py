"""Trusting the reverse proxy in front of `ews web` (deploy/nginx/nginx.conf, docs/operations.md)."""

from __future__ import annotations

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from ews_cases.settings import Settings


def trust_proxies(app: Flask, settings: Settings) -> None:
    """Behind `EWS_TRUSTED_PROXIES` proxies, take the visitor's address, scheme and host from the
    X-Forwarded-For/-Proto/-Host entries those proxies wrote (the rightmost ones; entries further left are the
    client's own claims). `request.remote_addr` then counts for the login limits, and `request.is_secure` is
    true behind a TLS-terminating proxy. With 0 (no proxy) the headers are ignored."""
    hops = settings.trusted_proxies
    if hops:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
