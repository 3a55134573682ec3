"""Users, passwords (Argon2) and API tokens (random, stored only as SHA-256)."""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, lazyload

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.models import USER_ROLES, ApiToken, Municipality, User, utcnow
from ews_cases.services.validation import EMAIL_RE
from workflows import BERLIN, Actor, Role

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """An Argon2 hash of a random password, made once per process with the same parameters as real ones."""
    return _hasher.hash(secrets.token_urlsafe(24))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this email address and password, or None.

    An unknown, deactivated or password-less account costs the same Argon2 verification (against a dummy
    hash) as a wrong password, so the answer's timing does not tell which addresses have accounts.
    """
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None or not user.active or not user.password_hash:
        with contextlib.suppress(VerificationError, InvalidHashError):
            _hasher.verify(_dummy_hash(), password)
        return None
    return user if check_password(user, password) else None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def require_admin(actor: Actor) -> None:
    if actor.role not in (Role.ADMIN, Role.SYSTEM):
        raise Forbidden(N_("Nur Administratorinnen und Administratoren verwalten Zugänge."))


def access_errors(session: Session, role: str, municipality_ags: str | None) -> dict[str, list[str]]:
    """What is wrong with a role and municipality (an applicant's, a reviewer's affiliation): field → messages."""
    errors: dict[str, list[str]] = {}
    if role not in USER_ROLES:
        errors["role"] = [_("Erlaubt sind: {roles}.", roles=", ".join(USER_ROLES))]
    if municipality_ags is not None and session.get(Municipality, municipality_ags) is None:
        errors["municipality"] = [
            _("Zum Schlüssel {ags} ist keine Kommune in NRW bekannt.", ags=municipality_ags)
        ]
    if role == "applicant" and municipality_ags is None:
        errors["municipality"] = [_("Antragstellende müssen einer Kommune zugeordnet sein.")]
    return errors


def create_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: str,
    municipality_ags: str | None = None,
    password: str | None = None,
) -> User:
    """A new user; applicants must be bound to a municipality, reviewers may name their affiliation."""
    require_admin(actor)
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email):
        errors["email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
    if not name.strip():
        errors["name"] = [_("Bitte einen Namen angeben.")]
    errors.update(access_errors(session, role, municipality_ags))
    if errors:
        raise ValidationFailed(errors)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(N_("Die E-Mail-Adresse {email} ist bereits vergeben."), email=email)
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        municipality_ags=municipality_ags,
        password_hash=hash_password(password) if password else None,
    )
    session.add(user)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="user.created",
        data={"user": user.id, "email": email, "role": role, "municipality": municipality_ags},
    )
    return user


#: The latest expiry a token may have: any later moment is as good as none (leave the date out for that).
LATEST_TOKEN_EXPIRY = datetime(2099, 12, 31, 23, 59, 59, 999_999, tzinfo=BERLIN)


def issue_token(
    session: Session, actor: Actor, user: User, *, name: str = "", expires_at: datetime | None = None
) -> str:
    """Create an API token for `user` and return it; only its hash is stored. It is refused from
    `expires_at` on (None: until revoked), which must lie in the future."""
    require_admin(actor)
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed({"expires_at": [_("Das Ablaufdatum muss in der Zukunft liegen.")]})
    if expires_at is not None and expires_at > LATEST_TOKEN_EXPIRY:  # and every moment stays storable
        raise ValidationFailed({"expires_at": [_("Ein Token kann höchstens bis zum 31.12.2099 gelten.")]})
    token = secrets.token_urlsafe(32)
    record = ApiToken(user_id=user.id, token_hash=hash_token(token), name=name, expires_at=expires_at)
    session.add(record)
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="token.created",
        data={"token": record.id, "user": user.id, "name": name, "expires_at": expires_at},
    )
    return token


def revoke_token(session: Session, actor: Actor, token: ApiToken) -> None:
    require_admin(actor)
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.flush()
        chain.append(
            session, actor=actor, action="token.revoked", data={"token": token.id, "user": token.user_id}
        )


#: Built once: every API request runs it. The user's municipality is loaded when asked for (applicants'
#: requests do; a user without one never needs the query), not joined into every request. One round trip:
#: revocation, expiry and deactivation are all in this one statement.
_USER_FOR_TOKEN = (
    select(User)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(
        ApiToken.token_hash == bindparam("token_hash"),
        ApiToken.valid_at(bindparam("now")),
        User.active.is_(True),
    )
    .options(lazyload(User.municipality))
)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user a bearer token belongs to, or None for unknown, revoked, expired or deactivated."""
    return session.scalar(_USER_FOR_TOKEN, {"token_hash": hash_token(token), "now": utcnow()})
