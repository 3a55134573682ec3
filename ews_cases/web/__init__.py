"""Server-rendered pages (German); they call the same services and permission rules as the API."""

from __future__ import annotations

from flask import Flask

from ews_cases.settings import Settings


def register_web(app: Flask, settings: Settings) -> None:
    from ews_cases.api.blueprint import api

    # Modules that add their pages to the `web` blueprint (login, password, second factor, checkpoint mail,
    # invitations).
    from ews_cases.web import (  # noqa: F401
        checkpoint_mail_pages,
        invitation_pages,
        pages,
        password_pages,
        second_factor_pages,
        signin,
    )
    from ews_cases.web.extensions import csrf, init_web_extensions
    from ews_cases.web.layout import register_layout
    from ews_cases.web.legal import legal
    from ews_cases.web.public import public, unsubscribe_page, verify_certificate
    from ews_cases.web.views import web

    init_web_extensions(app, settings.redis_url or settings.broker_url)
    csrf.exempt(api)  # the API authenticates with bearer tokens, not cookies
    csrf.exempt(
        unsubscribe_page
    )  # checks CSRF itself, except for the RFC 8058 one-click body of mail clients
    csrf.exempt(verify_certificate)  # an uploaded PDF is compared with the issued one; nothing changes
    register_layout(app)
    app.register_blueprint(web)
    for blueprint in pages.BLUEPRINTS:
        app.register_blueprint(blueprint)
    app.register_blueprint(public)
    app.register_blueprint(legal)
