"""The password pages: change it (logged in), ask for a reset link (`/passwort-vergessen`), set a new one
through the link. The answer to a reset request is the same page, status and time whether or not the address
has an account: the work differs only by a few writes, and the answer is held back to a fixed floor.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Response, flash, redirect, render_template, url_for
from flask_login import login_required

from ews_cases.db.request_session import db_session
from ews_cases.errors import ValidationFailed
from ews_cases.http.login_throttle import Counted, Limit
from ews_cases.i18n.translate import _
from ews_cases.services.password_reset import (
    ResetLinkInvalid,
    open_reset_link,
    request_password_reset,
    reset_password,
)
from ews_cases.services.passwords import change_password as change_own_password
from ews_cases.services.passwords import password_hint
from ews_cases.settings import current_settings
from ews_cases.web.access import me, my_actor
from ews_cases.web.account_forms import ForgotPasswordForm, NewPasswordForm
from ews_cases.web.extensions import login_throttle, start_session
from ews_cases.web.forms import PasswordForm
from ews_cases.web.signin import locked_page, login_counts, this_client
from ews_cases.web.views import web

#: Reset requests per client address in 15 minutes (then 429, whatever the addresses asked for).
RESET_REQUESTS_PER_ADDRESS = 10
#: Reset emails per account address in an hour; more requests get the same answer and no further email.
RESET_MAILS_PER_ACCOUNT = 3
#: Every answer to a reset request takes at least this long (measured: the work itself takes 5–60 ms,
#: known addresses a few ms more than unknown ones; tests/web/test_password_reset.py compares the medians).
RESET_ANSWER_FLOOR_SECONDS = 0.25


def _no_store(response: Response) -> Response:
    """Pages with a secret in their URL or body: not cached. No Referer carries the link to another site
    either: every answer has `Referrer-Policy: same-origin` (ews_cases/http/headers.py; not `no-referrer`,
    which would fail the page's own form post over HTTPS, as Flask-WTF wants a same-origin Referer there)."""
    response.headers["Cache-Control"] = "no-store"
    return response


@web.route("/passwort", methods=["GET", "POST"])
@login_required
def change_password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        store = db_session()
        user = me()
        try:
            change_own_password(store, my_actor(), user, form.current.data, form.new.data)
        except ValidationFailed as refused:
            store.rollback()
            for name, messages in refused.errors.items():
                getattr(form, name).errors.extend(messages)
            return render_template("web/password.html", form=form, hint=password_hint()), 422
        store.commit()
        start_session(user)  # this session goes on; the person's other sessions end (extensions.py)
        flash(_("Ihr Passwort wurde geändert."), "success")
        return redirect(url_for("web.home"))
    return render_template("web/password.html", form=form, hint=password_hint()), (
        422 if form.errors else 200
    )


@web.route("/passwort-vergessen", methods=["GET", "POST"])
def forgot_password() -> Any:
    """Ask for a reset link by email address; the answer never tells whether the address has an account."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return render_template("web/forgot_password.html", form=form), (422 if form.errors else 200)
    started = time.perf_counter()
    throttle = login_throttle()
    by_address = [Counted(Limit("reset-address", RESET_REQUESTS_PER_ADDRESS, 15 * 60), this_client())]
    until = throttle.attempt(by_address)  # every request counts, not only failures
    if until is not None:
        return locked_page(until, reason="reset")
    email = form.email.data.strip().lower()
    by_account = [Counted(Limit("reset-account", RESET_MAILS_PER_ACCOUNT, 3600), email)]
    if throttle.attempt(by_account) is None:  # counted for unknown addresses alike
        store = db_session()
        request_password_reset(store, email)
        store.commit()
    # Held back to the floor: known and unknown addresses take the same time.
    time.sleep(max(0.0, RESET_ANSWER_FLOOR_SECONDS - (time.perf_counter() - started)))
    minutes = current_settings().password_reset_link_minutes
    return render_template("web/forgot_password_sent.html", minutes=minutes)


@web.route("/passwort-vergessen/<token>", methods=["GET", "POST"])
def reset_password_page(token: str) -> Any:
    """Set a new password through the link from the email (good once, for a limited time)."""
    store = db_session()
    try:
        open_reset_link(store, token)
    except ResetLinkInvalid as invalid:
        body = render_template("web/reset_link_invalid.html", message=invalid.render(_))
        return _no_store(Response(body, invalid.status, mimetype="text/html"))
    form = NewPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = reset_password(store, token, form.new.data)
        except ResetLinkInvalid as invalid:
            store.rollback()
            body = render_template("web/reset_link_invalid.html", message=invalid.render(_))
            return _no_store(Response(body, invalid.status, mimetype="text/html"))
        except ValidationFailed as refused:
            store.rollback()
            form.new.errors.extend(refused.errors.get("new", []))
            status = 422
        else:
            store.commit()
            login_throttle().clear(login_counts(user.email)[:1])  # the account may log in again at once
            flash(_("Ihr neues Passwort gilt. Bitte melden Sie sich damit an."), "success")
            return redirect(url_for("web.login"), 303)
    elif form.errors:
        status = 422
    body = render_template("web/reset_password.html", form=form, hint=password_hint())
    return _no_store(Response(body, status, mimetype="text/html"))
