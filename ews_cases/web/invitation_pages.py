"""The public access pages: accepting an invitation (`/zugang/<token>`: set a password, be logged in) and
asking for access (`/zugang/beantragen`, CSRF-protected and limited per client address like the login).

A used, expired or withdrawn link gets a German explanation with status 410 (an unknown one 404); the pages
holding a link are not cached and send no Referer.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, render_template, url_for
from flask_login import login_user, logout_user

from ews_cases.db.request_session import db_session
from ews_cases.errors import ValidationFailed
from ews_cases.http.login_throttle import Counted, Limit
from ews_cases.i18n.translate import _
from ews_cases.models import Cohort, Invitation, Municipality
from ews_cases.services.access_requests import request_access
from ews_cases.services.invitations import InvitationInvalid, accept_invitation, open_invitation
from ews_cases.services.passwords import password_hint
from ews_cases.web.access_forms import AccessRequestForm
from ews_cases.web.account_forms import NewPasswordForm
from ews_cases.web.admin_forms import ROLE_NAMES
from ews_cases.web.extensions import login_throttle, start_session
from ews_cases.web.password_pages import _no_store
from ews_cases.web.signin import locked_page, this_client
from ews_cases.web.views import home_url, web

#: Access requests per client address in an hour (every request counts, as for password resets).
REQUESTS_PER_ADDRESS = 5


def _invalid(invalid: InvitationInvalid) -> Response:
    body = render_template("web/invitation_invalid.html", message=invalid.render(_), reason=invalid.reason)
    return _no_store(Response(body, invalid.status, mimetype="text/html"))


def _first_page(invitation: Invitation) -> str:
    """Where a new account starts: an invited applicant at the application form (of the reminder's cohort)."""
    if invitation.role != "applicant":
        return home_url(invitation.role)
    cohort = db_session().get(Cohort, invitation.cohort_id) if invitation.cohort_id else None
    return url_for("applicant.new_case", durchgang=cohort.number if cohort else None)


@web.route("/zugang/<token>", methods=["GET", "POST"])
def accept_invitation_page(token: str) -> Any:
    """Set a password through an invitation link (once, until it expires); then logged in."""
    store = db_session()
    try:
        invitation = open_invitation(store, token)
    except InvitationInvalid as invalid:
        return _invalid(invalid)
    form = NewPasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = accept_invitation(store, token, form.new.data)
        except InvitationInvalid as invalid:
            store.rollback()
            return _invalid(invalid)
        except ValidationFailed as refused:
            store.rollback()
            form.new.errors.extend(refused.errors.get("new", []))
            status = 422
        else:
            target = _first_page(invitation)
            store.commit()
            logout_user()  # whoever was logged in on this browser before
            login_user(user)
            start_session(user)
            return redirect(target, 303)
    elif form.errors:
        status = 422
    town = store.get(Municipality, invitation.municipality_ags) if invitation.municipality_ags else None
    body = render_template(
        "web/invitation.html",
        form=form,
        hint=password_hint(),
        invitation=invitation,
        role_name=_(ROLE_NAMES[invitation.role]),
        town=town,
    )
    return _no_store(Response(body, status, mimetype="text/html"))


@web.route("/zugang/beantragen", methods=["GET", "POST"])
def request_access_page() -> Any:
    """A municipality that was not invited asks the programme office for access."""
    store = db_session()
    form = AccessRequestForm()
    form.fill_choices(store)
    if not form.validate_on_submit():
        return render_template("web/access_request.html", form=form), (422 if form.errors else 200)
    until = login_throttle().attempt(
        [Counted(Limit("access-request", REQUESTS_PER_ADDRESS, 3600), this_client())]
    )
    if until is not None:
        return locked_page(until, reason="access")
    try:
        request_access(
            store,
            name=form.name.data,
            email=form.email.data,
            municipality_ags=form.municipality.data or "",
            position=form.position.data,
            message=form.message.data or "",
        )
    except ValidationFailed as refused:
        store.rollback()
        form.show_errors(refused.errors)
        return render_template("web/access_request.html", form=form), 422
    store.commit()
    return render_template("web/access_request_sent.html")
