"""Login, session lifetime, CSRF protection, login throttling and local Bootstrap for the web pages."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from flask import Flask, current_app, flash, redirect, request, session, url_for
from flask_bootstrap import Bootstrap5
from flask_login import LoginManager, current_user, logout_user
from flask_wtf import CSRFProtect
from werkzeug.wrappers import Response

from ews_cases.db.request_session import db_session
from ews_cases.http.login_throttle import LoginThrottle
from ews_cases.i18n.translate import N_, _
from ews_cases.models import User, utcnow
from ews_cases.settings import current_settings

login_manager = LoginManager()
login_manager.login_view = "web.login"
login_manager.login_message = N_("Bitte melden Sie sich an.")
login_manager.login_message_category = "info"
csrf = CSRFProtect()
bootstrap = Bootstrap5()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    if not user_id.isdigit():
        return None
    user = db_session().get(User, int(user_id))
    return user if user is not None and user.active else None


#: What a web session carries besides Flask-Login's user id (seconds since the epoch, and a fingerprint of
#: the password and second factor the session was opened with).
LOGGED_IN_AT, LAST_SEEN_AT, PASSWORD_MARK = "ews_logged_in_at", "ews_last_seen_at", "ews_password_mark"
SESSION_EXPIRED = N_("Ihre Sitzung ist abgelaufen. Bitte melden Sie sich erneut an.")


def password_mark(user: User) -> str:
    """Changes with the password and with the second factor: changing or resetting the password, enrolling,
    disabling or an admin's reset of the second factor end the person's other sessions. The session cookie
    is signed but readable, so the mark is keyed with the secret key and reveals nothing about either."""
    key = str(current_app.config["SECRET_KEY"]).encode("utf-8")
    credentials = f"{user.password_hash or ''}|{user.totp_secret or ''}"
    return hmac.new(key, credentials.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def start_session(user: User) -> None:
    """Stamp a session right after `login_user` (or a password change) for the lifetime checks."""
    now = utcnow().timestamp()
    session.permanent = True  # the cookie expires too (PERMANENT_SESSION_LIFETIME)
    session[LOGGED_IN_AT] = now
    session[LAST_SEEN_AT] = now
    session[PASSWORD_MARK] = password_mark(user)


def _session_expired(user: User) -> bool:
    settings = current_settings()
    now = utcnow().timestamp()
    logged_in_at, last_seen_at = session.get(LOGGED_IN_AT), session.get(LAST_SEEN_AT)
    if not isinstance(logged_in_at, int | float) or not isinstance(last_seen_at, int | float):
        return True  # a session without the stamps was not opened by the login page
    ended = user.sessions_ended_at  # a deactivation ends sessions for good, a reactivation revives none
    return (
        (ended is not None and logged_in_at <= ended.timestamp())
        or now - logged_in_at > settings.session_lifetime_hours * 3600
        or now - last_seen_at > settings.session_idle_minutes * 60
        or not hmac.compare_digest(str(session.get(PASSWORD_MARK, "")), password_mark(user))
    )


def _end_expired_session() -> Response | None:
    """Before every page: a session idle too long, too old or opened with a changed password ends here."""
    if request.path.startswith("/api/") or (request.endpoint or "").endswith("static"):
        return None  # the API authenticates with tokens; assets need no user
    if "_user_id" not in session or not current_user.is_authenticated:
        return None
    if not _session_expired(current_user):
        session[LAST_SEEN_AT] = utcnow().timestamp()
        return None
    logout_user()
    for key in (LOGGED_IN_AT, LAST_SEEN_AT, PASSWORD_MARK):
        session.pop(key, None)
    flash(_(SESSION_EXPIRED), "warning")
    back = request.method == "GET" and request.endpoint != "web.login"
    target = request.full_path.rstrip("?") if back else None
    return redirect(url_for("web.login", next=target), 303)


def login_throttle() -> LoginThrottle:
    """The app's failed-login counter (ews_cases/http/login_throttle.py)."""
    return current_app.extensions["ews_login_throttle"]


def init_web_extensions(app: Flask, redis_url: str | None) -> None:
    from ews_cases.web.second_factor_pages import require_second_factor

    app.config.setdefault("BOOTSTRAP_SERVE_LOCAL", True)  # assets from the package, never from a CDN
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    settings = app.extensions["ews"].settings
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=settings.session_lifetime_hours)
    app.extensions["ews_login_throttle"] = LoginThrottle(redis_url, str(app.config["SECRET_KEY"]))
    login_manager.init_app(app)
    app.before_request(_end_expired_session)  # before the CSRF check: an expired form post goes to the login
    app.before_request(require_second_factor)  # roles of EWS_REQUIRE_2FA_ROLES enrol before any other page
    csrf.init_app(app)
    bootstrap.init_app(app)
