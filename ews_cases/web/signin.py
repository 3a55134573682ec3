"""Login: the password, then — for people with a second factor — a TOTP code or a recovery code; logout.

The session is logged in only after the last step. Every failed step counts towards the limits per account
and per client address (`http/login_throttle.py`, shared by all web processes through Redis); at a limit the
page says until when it is locked. Between the steps the session holds only who passed the password, when,
and the fingerprint of the credentials (a password changed meanwhile ends the attempt).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Response, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user

from ews_cases.db.request_session import db_session
from ews_cases.http.login_throttle import Counted, Limit, client_address
from ews_cases.i18n.formatting import de_date, de_time
from ews_cases.i18n.translate import N_, _
from ews_cases.models import User, utcnow
from ews_cases.services.actors import actor_for
from ews_cases.services.second_factor import (
    WRONG_CODE,
    has_second_factor,
    remaining_recovery_codes,
    use_recovery_code,
    verify_totp,
)
from ews_cases.services.users import authenticate
from ews_cases.settings import current_settings
from ews_cases.web.account_forms import CodeForm, RecoveryCodeForm
from ews_cases.web.extensions import login_throttle, password_mark, start_session
from ews_cases.web.forms import LoginForm
from ews_cases.web.views import home_url, local_path, web

#: Between password and code: who passed the password, when, with which credentials, and where to go.
PENDING_USER, PENDING_AT, PENDING_MARK, PENDING_NEXT = (
    "ews_pending_user",
    "ews_pending_at",
    "ews_pending_mark",
    "ews_pending_next",
)
#: The code must follow the password within this time.
SECOND_STEP_MINUTES = 5
WRONG_LOGIN = N_("E-Mail-Adresse oder Passwort ist falsch.")


# -- the limits ------------------------------------------------------------------------------------------


def this_client() -> str:
    """The client's address as the limits count it (behind `EWS_TRUSTED_PROXIES` proxies the one they saw:
    ews_cases/http/proxies.py)."""
    return client_address(request.remote_addr)


def login_counts(email: str) -> list[Counted]:
    """The counts a login attempt for `email` from this client goes to: the account's and the address's."""
    settings = current_settings()
    window = settings.login_failure_window_minutes * 60
    return [
        Counted(
            Limit("login-account", settings.login_max_failures_per_account, window), email.strip().lower()
        ),
        Counted(Limit("login-address", settings.login_max_failures_per_address, window), this_client()),
    ]


def lock_end_text(until: datetime) -> str:
    """`14:36` (rounded up to the minute), with the date if it is not today in Europe/Berlin."""
    shown = (until + timedelta(seconds=59)).replace(second=0, microsecond=0)
    if de_date(shown) == de_date(utcnow()):
        return _("bis {time} Uhr", time=de_time(shown))
    return _("bis {date}, {time} Uhr", date=de_date(shown), time=de_time(shown))


def locked_page(until: datetime, *, reason: str | None = None) -> tuple[str, int, dict[str, str]]:
    """The 429 page: locked, until when, and what else the person can do."""
    seconds = max(1, int((until - utcnow()).total_seconds()) + 1)
    body = render_template("web/locked.html", until=lock_end_text(until), reason=reason)
    return body, 429, {"Retry-After": str(seconds)}


# -- the steps -------------------------------------------------------------------------------------------


@web.route("/anmelden", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("web/login.html", form=form), (422 if form.errors else 200)
    throttle = login_throttle()
    counted = login_counts(form.email.data)
    until = throttle.attempt(counted)  # counted before the check; a success is taken back
    if until is not None:  # locked before the password is even looked at: the right one does not help now
        return locked_page(until)
    user = authenticate(db_session(), form.email.data, form.password.data)
    if user is None:
        flash(_(WRONG_LOGIN), "danger")
        return render_template("web/login.html", form=form), 401
    target = request.args.get("next", "")
    if not local_path(target):
        target = home_url(user.role)
    if has_second_factor(user):
        # This attempt was no failure, but the account's earlier ones stay: the password alone must not
        # reset the count of guesses at the code.
        throttle.take_back(counted)
        _forget_pending()
        session[PENDING_USER], session[PENDING_AT] = user.id, utcnow().timestamp()
        session[PENDING_MARK], session[PENDING_NEXT] = password_mark(user), target
        return redirect(url_for("web.second_step"), 303)
    return _complete(user, target, counted)


def _forget_pending() -> None:
    for key in (PENDING_USER, PENDING_AT, PENDING_MARK, PENDING_NEXT):
        session.pop(key, None)


def _pending_user() -> User | None:
    """The person between password and code, if the attempt is recent and the credentials unchanged."""
    user_id, started = session.get(PENDING_USER), session.get(PENDING_AT)
    if not isinstance(user_id, int) or not isinstance(started, int | float):
        return None
    if utcnow().timestamp() - started > SECOND_STEP_MINUTES * 60:
        return None
    user = db_session().get(User, user_id)
    if user is None or not user.active or not has_second_factor(user):
        return None
    return user if session.get(PENDING_MARK) == password_mark(user) else None


def _complete(user: User, target: str, counted: list[Counted]) -> Response:
    """The last step passed: log in; the account's failures are forgotten, this attempt is no failure of the
    address (whose earlier failures stay: a guesser's own account must not wipe them)."""
    _forget_pending()
    account, address = counted
    login_throttle().clear([account])
    login_throttle().take_back([address])
    login_user(user)
    start_session(user)
    return redirect(target)


def _start_again() -> Response:
    _forget_pending()
    flash(_("Bitte melden Sie sich erneut mit E-Mail-Adresse und Passwort an."), "info")
    return redirect(url_for("web.login"), 303)


@web.route("/anmelden/code", methods=["GET", "POST"])
def second_step() -> Any:
    """The second step: the current code of the authenticator app."""
    user = _pending_user()
    if user is None:
        return _start_again()
    form = CodeForm()
    if not form.validate_on_submit():
        return render_template("web/second_step.html", form=form), (422 if form.errors else 200)
    counted = login_counts(user.email)
    until = login_throttle().attempt(counted)
    if until is not None:
        return locked_page(until)
    store = db_session()
    if verify_totp(store, user, form.code.data):
        store.commit()
        return _complete(user, session.get(PENDING_NEXT) or home_url(user.role), counted)
    store.rollback()
    form.code.errors.append(_(WRONG_CODE))
    return render_template("web/second_step.html", form=form), 401


@web.route("/anmelden/wiederherstellungscode", methods=["GET", "POST"])
def recovery_step() -> Any:
    """The second step with a recovery code instead (the phone is lost): each code works once."""
    user = _pending_user()
    if user is None:
        return _start_again()
    form = RecoveryCodeForm()
    if not form.validate_on_submit():
        return render_template("web/recovery_step.html", form=form), (422 if form.errors else 200)
    counted = login_counts(user.email)
    until = login_throttle().attempt(counted)
    if until is not None:
        return locked_page(until)
    store = db_session()
    if use_recovery_code(store, actor_for(user), user, form.code.data):
        left = remaining_recovery_codes(store, user)
        store.commit()
        flash(
            _(
                "Sie haben sich mit einem Wiederherstellungscode angemeldet; er gilt nun nicht mehr. "
                "Unbenutzte Codes: {left}. Neue Codes erzeugen Sie unter „Zweiter Faktor“.",
                left=left,
            ),
            "warning",
        )
        return _complete(user, session.get(PENDING_NEXT) or home_url(user.role), counted)
    store.rollback()
    form.code.errors.append(
        _("Dieser Wiederherstellungscode gilt nicht (falsch geschrieben oder bereits verwendet).")
    )
    return render_template("web/recovery_step.html", form=form), 401


@web.post("/abmelden")
@login_required
def logout() -> Any:
    logout_user()
    _forget_pending()
    flash(_("Sie sind abgemeldet."), "info")
    return redirect(url_for("web.login"))
