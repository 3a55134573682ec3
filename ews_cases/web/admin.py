"""Account administration pages for the admin role (prefix `/verwaltung`): find people, create them, change
role and municipality, deactivate and reactivate, API tokens with an optional expiry.

Each POST calls one service of `services.accounts` in one transaction and commits; a refusal rolls back and
is shown next to the fields or as a message, with a 4xx status. A new token's secret is shown once, in the
answer to the POST that created it (never in a redirect, the session or a cache).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from ews_cases.db.request_session import db_session
from ews_cases.errors import DomainError, NotFound, ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import USER_ROLES, ApiToken, User, utcnow
from ews_cases.services.accounts import (
    USER_STATUSES,
    change_access,
    deactivate_user,
    find_tokens,
    find_users,
    get_user,
    new_token,
    reactivate_user,
    revoke_api_token,
)
from ews_cases.services.second_factor import has_second_factor, reset_second_factor
from ews_cases.services.users import create_user
from ews_cases.web.access import my_actor, roles_required
from ews_cases.web.admin_forms import (
    MUNICIPALITY_HELP,
    REASON_HELP,
    ROLE_NAMES,
    STATUS_NAMES,
    TOKEN_STATUS_NAMES,
    AccessForm,
    ActivityForm,
    ConfirmForm,
    NewUserForm,
    TokenForm,
    UserSearchForm,
    municipality_label,
)

admin = Blueprint("admin", __name__, url_prefix="/verwaltung")

PAGE_SIZE = 50


@admin.context_processor
def _helpers() -> dict[str, Any]:
    return {
        "role_names": ROLE_NAMES,
        "status_names": STATUS_NAMES,
        "token_status_names": TOKEN_STATUS_NAMES,
        "municipality_label": municipality_label,
        "municipality_help": MUNICIPALITY_HELP,
        "reason_help": REASON_HELP,
    }


def see_other(endpoint: str, **values: Any) -> Response:
    """Redirect after a successful POST (303: the browser follows with GET)."""
    return redirect(url_for(endpoint, **values), 303)


def _user_or_404(session: Session, user_id: int) -> User:
    try:
        return get_user(session, user_id)
    except NotFound:
        abort(404)


# -- list and search ----------------------------------------------------------------------------------------
@admin.get("")
@roles_required("admin")
def users() -> str:
    """Everybody with an account, by name: search by name or email, role, municipality and status."""
    session = db_session()
    form = UserSearchForm(request.args)
    text = (form.q.data or "").strip()[:100]
    role = form.rolle.data if form.rolle.data in USER_ROLES else ""
    place = (form.kommune.data or "").strip()[:100]
    status = form.status.data if form.status.data in USER_STATUSES else ""
    page = max(request.args.get("seite", 1, type=int), 1)
    stmt = find_users(text=text, role=role, municipality=place, status=status)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(User.name, User.id).offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    ).all()
    link_args = {k: v for k, v in (("q", text), ("rolle", role), ("kommune", place), ("status", status)) if v}
    return render_template(
        "admin/users.html",
        form=form,
        users=rows[:PAGE_SIZE],
        total=total,
        more=len(rows) > PAGE_SIZE,
        page=page,
        link_args=link_args,
    )


# -- a new person -------------------------------------------------------------------------------------------
@admin.route("/zugaenge/neu", methods=["GET", "POST"])
@roles_required("admin")
def new_user() -> Any:
    """Create an account without a password: the person sets it themselves (see the account page)."""
    session = db_session()
    form = NewUserForm()
    form.fill_choices(session)
    status = 422 if form.is_submitted() else 200
    if form.validate_on_submit():
        try:
            user = create_user(
                session,
                my_actor(),
                email=form.email.data,
                name=form.name.data,
                role=form.role.data or "",
                municipality_ags=form.municipality_ags(),
            )
            session.commit()
        except ValidationFailed as error:
            session.rollback()
            form.show_errors(error.errors)
        except DomainError as error:  # the address has an account already: said next to it
            session.rollback()
            form.email.errors = [*form.email.errors, error.render(_)]
            status = error.status
        else:
            flash(_("Zugang für {name} angelegt.", name=user.name), "success")
            return see_other("admin.user", user_id=user.id)
    return render_template("admin/new_user.html", form=form), status


# -- one person ---------------------------------------------------------------------------------------------
@admin.get("/zugaenge/<int:user_id>")
@roles_required("admin")
def user(user_id: int) -> str:
    session = db_session()
    return _user_page(session, _user_or_404(session, user_id))


def _user_page(
    session: Session,
    person: User,
    *,
    access: AccessForm | None = None,
    activity: ActivityForm | None = None,
    token: TokenForm | None = None,
) -> str:
    """The account page: data, role and municipality, status, tokens; a form given was posted and refused."""
    if access is None:
        access = AccessForm(formdata=None, role=person.role, municipality=person.municipality_ags or "")
    access.fill_choices(session)
    tokens = session.scalars(find_tokens(person.id).order_by(ApiToken.id.desc())).all()
    return render_template(
        "admin/user.html",
        person=person,
        access=access,
        activity=activity or ActivityForm(formdata=None),
        token_form=token or TokenForm(formdata=None),
        confirm=ConfirmForm(),
        tokens=tokens,
        now=utcnow(),
        has_second_factor=has_second_factor(person),
    )


def _refused(session: Session, person: User, error: DomainError, **forms: Any) -> tuple[str, int]:
    """Roll back and show the account page with the refusal (next to the fields, or as a message)."""
    session.rollback()
    session.refresh(person)
    posted = next(iter(forms.values()), None)
    if isinstance(error, ValidationFailed) and posted is not None:
        posted.show_errors(error.errors)
    else:
        flash(error.render(_), "danger")
    return _user_page(session, person, **forms), error.status


@admin.post("/zugaenge/<int:user_id>/rolle")
@roles_required("admin")
def change_role(user_id: int) -> Any:
    """Another role and/or municipality (audited with old and new)."""
    session = db_session()
    person = _user_or_404(session, user_id)
    form = AccessForm()
    if not form.validate_on_submit():
        return _user_page(session, person, access=form), 422
    try:
        change_access(
            session,
            my_actor(),
            person,
            role=form.role.data or "",
            municipality_ags=form.municipality_ags(),
            reason=form.reason.data,
        )
        session.commit()
    except DomainError as error:
        return _refused(session, person, error, access=form)
    flash(_("Rolle und Zuordnung von {name} gespeichert.", name=person.name), "success")
    return see_other("admin.user", user_id=person.id)


@admin.post("/zugaenge/<int:user_id>/deaktivieren")
@roles_required("admin")
def deactivate(user_id: int) -> Any:
    """Close the account: sessions end, tokens are refused at once; the history stays."""
    return _set_activity(user_id, active=False)


@admin.post("/zugaenge/<int:user_id>/reaktivieren")
@roles_required("admin")
def reactivate(user_id: int) -> Any:
    return _set_activity(user_id, active=True)


def _set_activity(user_id: int, *, active: bool) -> Any:
    session = db_session()
    person = _user_or_404(session, user_id)
    form = ActivityForm()
    if not form.validate_on_submit():
        return _user_page(session, person, activity=form), 422
    change = reactivate_user if active else deactivate_user
    try:
        change(session, my_actor(), person, reason=form.reason.data)
        session.commit()
    except DomainError as error:
        return _refused(session, person, error, activity=form)
    if active:
        flash(_("Der Zugang von {name} ist wieder aktiv.", name=person.name), "success")
    else:
        flash(_("Der Zugang von {name} ist deaktiviert.", name=person.name), "success")
    return see_other("admin.user", user_id=person.id)


# -- tokens -------------------------------------------------------------------------------------------------
@admin.post("/zugaenge/<int:user_id>/tokens")
@roles_required("admin")
def create_token(user_id: int) -> Any:
    """A new API token: its secret is in this answer only (not cached, not stored in the session)."""
    session = db_session()
    person = _user_or_404(session, user_id)
    form = TokenForm()
    if not form.validate_on_submit():
        return _user_page(session, person, token=form), 422
    try:
        issued = new_token(session, my_actor(), person, name=form.name.data, expires=form.expires_at.data)
        session.commit()
    except DomainError as error:
        return _refused(session, person, error, token=form)
    response = make_response(
        render_template("admin/token_created.html", person=person, token=issued.record, secret=issued.secret),
        201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@admin.post("/tokens/<int:token_id>/widerrufen")
@roles_required("admin")
def revoke_token(token_id: int) -> Any:
    """Revoke a token (revoking twice changes nothing)."""
    session = db_session()
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        token = revoke_api_token(session, my_actor(), token_id)
        session.commit()
    except NotFound:
        abort(404)
    flash(_("Der Token „{name}“ ist widerrufen.", name=token.name or token.id), "success")
    return see_other("admin.user", user_id=token.user_id)


# -- second factor --------------------------------------------------------------------------------------------
@admin.post("/zugaenge/<int:user_id>/zweiter-faktor/zuruecksetzen")
@roles_required("admin")
def reset_second_factor_page(user_id: int) -> Any:
    """Reset the person's second factor (they enrol again at their next login, where their role needs one)."""
    session = db_session()
    person = _user_or_404(session, user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        was_set = reset_second_factor(session, my_actor(), person)
        session.commit()
    except DomainError as error:
        return _refused(session, person, error)
    if was_set:
        flash(_("Der zweite Faktor von {name} ist zurückgesetzt.", name=person.name), "success")
    else:
        flash(_("{name} hatte keinen zweiten Faktor eingerichtet.", name=person.name), "info")
    return see_other("admin.user", user_id=person.id)
