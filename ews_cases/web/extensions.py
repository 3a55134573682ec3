"""Login, CSRF protection, login throttling and local Bootstrap for the web pages."""

from __future__ import annotations

from flask import Flask
from flask_bootstrap import Bootstrap5
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect

from ews_cases.i18n import N_
from ews_cases.models import User
from ews_cases.requestdb import db_session

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = N_("Bitte melden Sie sich an.")
login_manager.login_message_category = "info"
csrf = CSRFProtect()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
bootstrap = Bootstrap5()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    return user if user is not None and user.active else None


def init_web_extensions(app: Flask, redis_url: str | None) -> None:
    app.config.setdefault("BOOTSTRAP_SERVE_LOCAL", True)  # assets from the package, never from a CDN
    if redis_url and redis_url.startswith("unix://"):
        redis_url = "redis+unix://" + redis_url.removeprefix("unix://")
    app.config.setdefault("RATELIMIT_STORAGE_URI", redis_url or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)
