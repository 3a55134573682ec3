"""The second factor on the pages: set it up (QR code and the secret as text, confirmed with a code), see the
recovery codes once, renew them, switch it off; and the gate that leads the roles of `EWS_REQUIRE_2FA_ROLES`
to the setup before any other page. The API (bearer tokens) is not gated: tokens are issued by admins and
are a credential of their own.
"""

from __future__ import annotations

from typing import Any

import segno
from flask import Response, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from markupsafe import Markup

from ews_cases.db.request_session import db_session
from ews_cases.errors import Conflict, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.services.second_factor import (
    ALREADY_ENROLLED,
    disable_second_factor,
    enrol_second_factor,
    has_second_factor,
    new_totp_secret,
    provisioning_uri,
    remaining_recovery_codes,
    renew_recovery_codes,
    second_factor_required,
)
from ews_cases.web.access import me, my_actor
from ews_cases.web.account_forms import CodeForm, ConfirmPasswordForm
from ews_cases.web.extensions import start_session
from ews_cases.web.views import web

#: The secret being set up, until it is confirmed with a code (the person's own; shown on the page anyway).
SETUP_SECRET = "ews_totp_setup"
#: What a person who must set up the second factor may still open.
_OPEN_DURING_SETUP = frozenset({"web.second_factor", "web.logout"})


def require_second_factor() -> Response | None:
    """Before every page: a person whose role requires a second factor and who has none sets it up first."""
    if request.path.startswith("/api/") or (request.endpoint or "").endswith("static"):
        return None
    if request.endpoint in _OPEN_DURING_SETUP or not current_user.is_authenticated:
        return None
    if has_second_factor(current_user) or not second_factor_required(current_user):
        return None
    if request.method == "GET":
        flash(
            _(
                "Für Ihre Rolle ist ein zweiter Faktor vorgeschrieben. Bitte richten Sie ihn jetzt ein; "
                "danach geht es weiter."
            ),
            "info",
        )
    return redirect(url_for("web.second_factor"), 303)


def _qr_svg(uri: str) -> Markup:
    svg = segno.make(uri, error="m").svg_inline(
        scale=4, border=4, dark="#000", light="#fff", title=_("QR-Code zum Einrichten des zweiten Faktors")
    )
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _no_store(body: str, status: int = 200) -> Response:
    """Pages with secrets on them (the TOTP secret, recovery codes) are not kept in caches."""
    response = Response(body, status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _setup_page(form: CodeForm, status: int = 200) -> Response:
    secret = session.get(SETUP_SECRET)
    if not isinstance(secret, str) or len(secret) != 32:
        secret = session[SETUP_SECRET] = new_totp_secret()
    uri = provisioning_uri(me(), secret)
    body = render_template(
        "web/second_factor_setup.html",
        form=form,
        qr=_qr_svg(uri),
        secret=_grouped(secret),
        required=second_factor_required(me()),
    )
    return _no_store(body, status)


def _codes_page(codes: list[str], *, first: bool) -> Response:
    return _no_store(render_template("web/recovery_codes.html", codes=codes, first=first))


def _status_page(
    renew: ConfirmPasswordForm | None = None, off: ConfirmPasswordForm | None = None, status: int = 200
) -> Response:
    """The second factor as set up: since when, codes left, and the forms to renew the codes or switch off."""
    user = me()
    body = render_template(
        "web/second_factor.html",
        enrolled_at=user.totp_enrolled_at,
        remaining=remaining_recovery_codes(db_session(), user),
        required=second_factor_required(user),
        renew=renew or ConfirmPasswordForm(prefix="codes"),
        off=off or ConfirmPasswordForm(prefix="off"),
    )
    return _no_store(body, status)


@web.route("/konto/zweiter-faktor", methods=["GET", "POST"])
@login_required
def second_factor() -> Any:
    """Set up the second factor, or (once set up) its state with renewing the codes and switching it off."""
    user = me()
    if has_second_factor(user):
        if request.method == "POST":
            flash(_(ALREADY_ENROLLED), "danger")
            return _status_page(status=409)
        return _status_page()
    form = CodeForm()
    if not form.validate_on_submit():
        return _setup_page(form, 422 if form.errors else 200)
    secret = session.get(SETUP_SECRET)
    if not isinstance(secret, str):
        return _setup_page(form)  # the session lost the secret being set up: start over with a new one
    store = db_session()
    try:
        codes = enrol_second_factor(store, my_actor(), user, secret, form.code.data)
    except ValidationFailed as refused:
        store.rollback()
        form.code.errors.extend(refused.errors["code"])
        return _setup_page(form, 422)
    store.commit()
    session.pop(SETUP_SECRET, None)
    start_session(user)  # the credentials changed: this session goes on, the person's others end
    flash(_("Der zweite Faktor ist eingerichtet. Ab jetzt fragt die Anmeldung nach dem Code."), "success")
    return _codes_page(codes, first=True)


@web.post("/konto/zweiter-faktor/codes")
@login_required
def renew_codes() -> Any:
    """New recovery codes (the password again); the old ones stop working."""
    form = ConfirmPasswordForm(prefix="codes")
    if not form.validate_on_submit():
        return _status_page(renew=form, status=422)
    store = db_session()
    try:
        codes = renew_recovery_codes(store, my_actor(), me(), form.password.data)
    except ValidationFailed as refused:
        store.rollback()
        form.password.errors = [*form.password.errors, *refused.errors["password"]]
        return _status_page(renew=form, status=422)
    except Conflict as refused:  # no second factor (any more): the setup page says so
        store.rollback()
        flash(refused.render(_), "danger")
        return _setup_page(CodeForm(), 409)
    store.commit()
    return _codes_page(codes, first=False)


@web.post("/konto/zweiter-faktor/abschalten")
@login_required
def disable() -> Any:
    """Switch the second factor off (the password again; not where the role requires it)."""
    form = ConfirmPasswordForm(prefix="off")
    if not form.validate_on_submit():
        return _status_page(off=form, status=422)
    user = me()
    store = db_session()
    try:
        disable_second_factor(store, my_actor(), user, form.password.data)
    except ValidationFailed as refused:
        store.rollback()
        form.password.errors = [*form.password.errors, *refused.errors["password"]]
        return _status_page(off=form, status=422)
    except Conflict as refused:  # required for the role, or there is none
        store.rollback()
        flash(refused.render(_), "danger")
        return _status_page(status=409) if has_second_factor(user) else _setup_page(CodeForm(), 409)
    store.commit()
    start_session(user)
    flash(_("Der zweite Faktor ist abgeschaltet. Die Anmeldung fragt nur noch nach dem Passwort."), "success")
    return redirect(url_for("web.second_factor"), 303)
