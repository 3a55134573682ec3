"""Account administration for admins: users with their first token, more tokens, revocation, deactivation.

Builds on `ews_cases.services.users` (passwords, token hashing); every change is audited on the global chain.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_
from ews_cases.models import ApiToken, User
from ews_cases.services.passwords import check_new_password
from ews_cases.services.users import create_user, hash_token, issue_token, require_admin, revoke_token
from workflows import Actor


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token as just issued: the record and the secret, which is shown only this once."""

    record: ApiToken
    secret: str


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(N_("Den Zugang {id} gibt es nicht."), id=user_id)
    return user


def new_token(session: Session, actor: Actor, user: User, *, name: str = "") -> IssuedToken:
    """Issue another API token for `user`."""
    secret = issue_token(session, actor, user, name=name)
    record = session.scalars(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).one()
    return IssuedToken(record, secret)


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


def revoke_api_token(session: Session, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token by its id; revoking twice changes nothing."""
    require_admin(actor)
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(N_("Den Token {id} gibt es nicht."), id=token_id)
    revoke_token(session, actor, token)
    return token


def set_user_active(session: Session, actor: Actor, user: User, active: bool) -> User:
    """Activate or deactivate a user (a deactivated user's tokens and login stop working at once)."""
    require_admin(actor)
    if not active and actor.user_id == user.id:
        raise Conflict(N_("Sie können Ihren eigenen Zugang nicht deaktivieren."))
    if user.active != active:
        old, user.active = user.active, active
        session.flush()
        chain.append(
            session,
            actor=actor,
            action="user.updated",
            data={"user": user.id, "changes": {"active": {"old": old, "new": active}}},
        )
    return user
