"""Account administration for admins: finding users, their role and municipality, deactivation and
reactivation, API tokens with an optional expiry, and revocation.

Builds on `ews_cases.services.users` (passwords, token hashing); every change appends one event to the
global chain in the caller's transaction. The pages, the API and the command line all call these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import ApiToken, Municipality, User, utcnow
from ews_cases.services.municipalities import _escape_like, _folded, matching
from ews_cases.services.passwords import check_new_password
from ews_cases.services.users import (
    access_errors,
    create_user,
    hash_token,
    issue_token,
    require_admin,
    revoke_token,
)
from workflows import BERLIN, Actor

#: Filter values for a user's status (pages, API and command line).
USER_STATUSES = ("active", "inactive")
#: What a token's `status_at` answers, in the order the lists explain them.
TOKEN_STATUSES = ("active", "expired", "revoked")
LAST_ADMIN = N_(
    "Der letzte aktive Administrationszugang bleibt bestehen: Legen Sie zuerst einen weiteren an."
)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as just issued: the record and the secret, which is shown only this once."""

    record: ApiToken
    secret: str


# -- finding people ---------------------------------------------------------------------------------------


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("Den Zugang {id} gibt es nicht."), id=user_id)
    return user


def user_by_email(session: Session, email: str) -> User:
    """The user with this address (any case); NotFound names the address."""
    address = email.strip().lower()
    user = session.scalar(select(User).where(User.email == address))
    if user is None:
        raise NotFound(N_("Einen Zugang mit der E-Mail-Adresse {email} gibt es nicht."), email=address)
    return user


def find_users(
    *,
    text: str | None = None,
    role: str | None = None,
    municipality: str | None = None,
    status: str | None = None,
) -> Select[tuple[User]]:
    """Users whose name or email contains `text`, of `role`, bound to a municipality whose name contains
    (or whose AGS starts with) `municipality`, `active` or `inactive`; unordered (the caller pages)."""
    stmt = select(User)
    text = (text or "").strip()
    if text:
        pattern = f"%{_escape_like(text.lower())}%"
        stmt = stmt.where(
            or_(_folded(User.name).like(pattern, escape="\\"), User.email.like(pattern, escape="\\"))
        )
    if role:
        stmt = stmt.where(User.role == role)
    if (municipality or "").strip():
        stmt = stmt.where(User.municipality_ags.in_(select(Municipality.ags).where(matching(municipality))))
    if status in USER_STATUSES:
        stmt = stmt.where(User.active.is_(status == "active"))
    return stmt


def find_tokens(user_id: int | None = None) -> Select[tuple[ApiToken]]:
    """API tokens, of one user or of all; unordered (the caller orders or pages)."""
    stmt = select(ApiToken)
    return stmt if user_id is None else stmt.where(ApiToken.user_id == user_id)


def get_token(session: Session, token_id: int) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(N_("Den Token {id} gibt es nicht."), id=token_id)
    return token


# -- accounts ---------------------------------------------------------------------------------------------


def create_account(
    session: Session,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: str,
    municipality_ags: str | None = None,
    password: str | None = None,
    token_name: str = "",
) -> tuple[User, IssuedToken]:
    """A new user together with a first API token; a password given must follow the rules
    (`check_new_password`: it is one a person chose, unlike the fixed accounts of `ews demo`)."""
    if password is not None:
        problems = check_new_password(password, email=email, name=name)
        if problems:
            raise ValidationFailed({"password": problems})
    user = create_user(
        session,
        actor,
        email=email,
        name=name,
        role=role,
        municipality_ags=municipality_ags,
        password=password,
    )
    return user, new_token(session, actor, user, name=token_name)


def change_access(
    session: Session,
    actor: Actor,
    user: User,
    *,
    role: str,
    municipality_ags: str | None,
    reason: str | None = None,
) -> User:
    """Give `user` another role or municipality (an applicant's, a reviewer's affiliation); audited as
    `user.role_changed` with old and new. Nothing changes and nothing is recorded when both stay."""
    require_admin(actor)
    errors = access_errors(session, role, municipality_ags)
    if errors:
        raise ValidationFailed(errors)
    changes = {
        key: {"old": old, "new": new}
        for key, old, new in (
            ("role", user.role, role),
            ("municipality", user.municipality_ags, municipality_ags),
        )
        if old != new
    }
    if not changes:
        return user
    if "role" in changes:
        if actor.user_id == user.id:
            raise Conflict(N_("Sie können Ihre eigene Rolle nicht ändern."))
        if user.role == "admin":
            _keep_an_active_admin(session, user)
    user.role, user.municipality_ags = role, municipality_ags
    session.flush()
    chain.append(session, actor=actor, action="user.role_changed", data=_event(user, reason, changes=changes))
    return user


def deactivate_user(session: Session, actor: Actor, user: User, *, reason: str | None = None) -> User:
    """Close the account: the person's web sessions end and their tokens are refused at once (the tokens
    work again after a reactivation; the sessions do not). Their history stays. Deactivating twice
    changes nothing."""
    require_admin(actor)
    if actor.user_id == user.id:
        raise Conflict(N_("Sie können Ihren eigenen Zugang nicht deaktivieren."))
    if not user.active:
        return user
    if user.role == "admin":
        _keep_an_active_admin(session, user)
    user.active = False
    user.sessions_ended_at = utcnow()
    session.flush()
    chain.append(session, actor=actor, action="user.deactivated", data=_event(user, reason))
    return user


def reactivate_user(session: Session, actor: Actor, user: User, *, reason: str | None = None) -> User:
    """Open a deactivated account again (the person logs in anew); reactivating an active one changes nothing."""
    require_admin(actor)
    if user.active:
        return user
    user.active = True
    session.flush()
    chain.append(session, actor=actor, action="user.reactivated", data=_event(user, reason))
    return user


def set_user_active(
    session: Session, actor: Actor, user: User, active: bool, *, reason: str | None = None
) -> User:
    """Deactivate or reactivate (the API's `{"active": …}`)."""
    change = reactivate_user if active else deactivate_user
    return change(session, actor, user, reason=reason)


def _keep_an_active_admin(session: Session, leaving: User) -> None:
    """Refuse when `leaving` is the last active admin. The active admins' rows are locked (in id order, so
    two admins removing each other at once wait for one another instead of both succeeding)."""
    admins = session.scalars(
        select(User.id).where(User.role == "admin", User.active.is_(True)).order_by(User.id).with_for_update()
    ).all()
    if not set(admins) - {leaving.id}:
        raise Conflict(LAST_ADMIN)


def _event(user: User, reason: str | None, **data: Any) -> dict[str, Any]:
    reason = (reason or "").strip()
    return {"user": user.id, **data, **({"reason": reason} if reason else {})}


# -- tokens -----------------------------------------------------------------------------------------------


def token_expiry(value: date | datetime | None) -> datetime | None:
    """When a token given this expiry is refused: a date means through the end of that day in Europe/Berlin
    (as an application deadline); a moment must carry its offset."""
    if value is None or isinstance(value, datetime):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed({"expires_at": [_("Bitte einen Zeitpunkt mit Zeitzone angeben.")]})
        return value
    return datetime.combine(value, time(23, 59, 59, 999_999), tzinfo=BERLIN)


def new_token(
    session: Session, actor: Actor, user: User, *, name: str = "", expires: date | datetime | None = None
) -> IssuedToken:
    """Issue another API token for `user`, valid until revoked or until `expires` (see `token_expiry`)."""
    secret = issue_token(session, actor, user, name=name.strip(), expires_at=token_expiry(expires))
    record = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).one()
    return IssuedToken(record, secret)


def revoke_api_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token by its id; revoking twice changes nothing."""
    require_admin(actor)
    token = get_token(session, token_id)
    revoke_token(session, actor, token)
    return token


# -- second factor ----------------------------------------------------------------------------------------
