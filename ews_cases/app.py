"""The Flask application factory."""

from __future__ import annotations

import hmac
import logging
import time
import uuid
from dataclasses import dataclass

from apiflask import APIFlask
from flask import Flask, Response, abort, g, request
from flask_babel import Babel, get_locale

from ews_cases.context import current_request_id
from ews_cases.db.engine import Database
from ews_cases.db.migrate import ensure_migrated
from ews_cases.http.headers import register_security_headers
from ews_cases.http.proxies import trust_proxies
from ews_cases.i18n.build import compile_catalogues
from ews_cases.i18n.formatting import register_filters
from ews_cases.i18n.translate import _, select_locale
from ews_cases.observability import metrics
from ews_cases.settings import Settings, get_settings

log = logging.getLogger(__name__)
access_log = logging.getLogger("ews.access")


@dataclass
class EwsExtension:
    """What the app holds for us: `app.extensions["ews"]`."""

    settings: Settings
    db: Database


def create_app(settings: Settings | None = None, *, check_migrations: bool = True) -> Flask:
    """Build the app; refuses to start on a database that is not migrated to the latest revision."""
    settings = settings or get_settings()
    app = APIFlask(
        __name__,
        title="EWS Cases API",
        version="1",
        spec_path="/api/v1/openapi.json",
        docs_path=None,  # the bundled docs UIs load scripts from CDNs; the JSON document is enough
    )
    app.config.update(
        OPENAPI_VERSION="3.0.3",
        INFO={"description": "Fallverwaltung der Entwicklungswerkstatt für kommunale Engagementstrategien"},
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer"}},
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
    )
    db = Database(
        settings.sqlalchemy_url,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        pool_size=settings.db_pool_size,
    )
    if check_migrations:
        ensure_migrated(db.engine, db.url)
    app.extensions["ews"] = EwsExtension(settings=settings, db=db)
    trust_proxies(app, settings)
    compile_catalogues()  # .mo files are build output, not committed; cheap when current
    Babel(app, locale_selector=select_locale)
    # Templates use the same `_` as the code: German msgids with `{placeholders}`.
    app.jinja_env.globals.update(_=_, get_locale=get_locale)
    register_filters(app)

    _register_request_hooks(app)
    register_security_headers(app, production=settings.env == "production")

    from ews_cases.api import register_api
    from ews_cases.db.request_session import register_request_session

    register_request_session(app)
    register_api(app)

    from ews_cases.http.input_guard import register_input_guard

    register_input_guard(app)

    from ews_cases.web import register_web

    register_web(app, settings)

    from ews_cases.db.retry import retry_transient_failures

    retry_transient_failures(app)

    from workers.celery_app import broker_url, celery_init_app

    if broker_url(settings):
        celery_init_app(app)  # also lets committed changes wake the workers (ews_cases.db.after_commit)

    return app


def _register_request_hooks(app: Flask) -> None:
    """Request id, access log and metrics; registered first, so they also see requests refused early."""
    settings = ews(app).settings

    @app.before_request
    def _assign_request_id() -> None:
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        rid = given if given and len(given) <= 100 and given.isprintable() else uuid.uuid4().hex
        g.request_id = rid
        g.request_id_token = current_request_id.set(rid)

    @app.after_request
    def _finish(response: Response) -> Response:
        if "request_id" in g:
            response.headers["X-Request-ID"] = g.request_id
        if "started" in g:
            # The route pattern, never the path: unsubscribe and verification links carry secrets.
            route = request.url_rule.rule if request.url_rule else "<unmatched>"
            seconds = time.perf_counter() - g.started
            metrics.observe_request(request.method, route, response.status_code, seconds)
            access_log.info(
                "%s %s %s",
                request.method,
                route,
                response.status_code,
                extra={
                    "method": request.method,
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )
        return response

    @app.teardown_request
    def _reset_request_id(_exc: BaseException | None) -> None:
        token = g.pop("request_id_token", None)
        if token is not None:
            current_request_id.reset(token)

    @app.get("/metrics")
    @app.doc(hide=True)
    def prometheus_metrics() -> Response:
        if not settings.metrics_token:
            if settings.env == "production":
                abort(404)  # not public in production: scraping needs EWS_METRICS_TOKEN
        elif not _bearer_matches(settings.metrics_token):
            return Response(
                "Unauthorized\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"'},
                mimetype="text/plain",
            )
        return Response(metrics.render(ews(app).db), mimetype=metrics.CONTENT_TYPE_LATEST)


def _bearer_matches(token: str) -> bool:
    """Whether the request's `Authorization: Bearer <token>` names `token` (compared in constant time)."""
    scheme, _space, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def ews(app: Flask) -> EwsExtension:
    return app.extensions["ews"]
