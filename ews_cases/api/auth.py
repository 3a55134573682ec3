"""Bearer-token authentication and the per-endpoint role rule (SPEC §2)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from apiflask import HTTPTokenAuth, abort
from flask import current_app
from sqlalchemy import or_, update

from ews_cases.api.blueprint import api
from ews_cases.db.request_session import db_session
from ews_cases.models import ApiToken, User, utcnow
from ews_cases.services.actors import actor_for
from ews_cases.services.users import hash_token, user_for_token
from workflows import Actor

token_auth = HTTPTokenAuth(scheme="Bearer", description="API token from `ews users create` or an admin")

ALL_ROLES = frozenset({"applicant", "reviewer", "coordinator", "auditor", "admin"})
READERS = frozenset({"coordinator", "auditor"})
F = TypeVar("F", bound=Callable[..., Any])
LAST_USED_GRANULARITY = timedelta(minutes=5)
NOTED_USE_LIMIT = 10_000
#: Token hash → when this process last recorded the token's use (see `_note_use`).
_noted_use: dict[str, datetime] = {}


@token_auth.verify_token
def _verify(token: str) -> User | None:
    # The short write first: a write request's own session takes SQLite's write lock as soon as it starts.
    _note_use(token)
    return user_for_token(db_session(), token)


def _note_use(token: str) -> None:
    """Record when a token was last used, at most every few minutes (a write on every read would
    serialise all requests on SQLite), in a short transaction of its own.

    Each process remembers when it last did so for a token and skips the transaction (four round trips
    to the database) until the granularity has passed: the recorded time lags by at most twice it.
    """
    now = utcnow()
    token_hash = hash_token(token)
    noted = _noted_use.get(token_hash)
    if noted is not None and now - noted < LAST_USED_GRANULARITY:
        return
    with current_app.extensions["ews"].db.transaction() as session:
        session.execute(
            update(ApiToken)
            .where(ApiToken.token_hash == token_hash, ApiToken.revoked_at.is_(None))
            .where(or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < now - LAST_USED_GRANULARITY))
            .values(last_used_at=now)
        )
    if len(_noted_use) >= NOTED_USE_LIMIT:  # unknown tokens must not grow it without bound
        _noted_use.clear()
    _noted_use[token_hash] = now


def allow(*roles: str) -> Callable[[F], F]:
    """Require a bearer token of one of `roles` (401 without, 403 for other roles); the OpenAPI document
    records the security requirement. Put it below the route decorator."""
    unknown = set(roles) - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view: F) -> F:
        guarded = api.auth_required(token_auth, roles=sorted(roles))(view)
        guarded._ews_roles = frozenset(roles)  # type: ignore[attr-defined]
        if set(roles) != ALL_ROLES:
            _document_forbidden(guarded)
        return guarded  # type: ignore[return-value]

    return decorate


def _document_forbidden(view: Any) -> None:
    """Add 403 to the view's documented responses (the other roles get it), keeping those `@api.doc`
    already declared below this decorator."""
    spec = view.__dict__.setdefault("_spec", {})
    responses = spec.get("responses")
    if responses is None:
        spec["responses"] = [403]
    elif isinstance(responses, dict):
        responses.setdefault(403, "Forbidden")
    elif 403 not in responses:
        spec["responses"] = [*responses, 403]


@token_auth.get_user_roles
def _roles(user: User) -> list[str]:
    return [user.role]


def current_user() -> User:
    user = token_auth.current_user
    if user is None:  # pragma: no cover - auth_required guarantees a user
        abort(401)
    return user  # type: ignore[return-value]


def current_actor() -> Actor:
    return actor_for(current_user())


def document_roles(spec: dict[str, Any]) -> dict[str, Any]:
    """Move the roles out of the operations' security requirements (an OpenAPI spec processor).

    APIFlask lists `auth_required(roles=…)` in the requirement's array, but for an HTTP bearer scheme OpenAPI
    3 requires that array to be empty (scopes are OAuth's); validators and generated clients refuse it. The
    roles go to the extension field `x-roles` and the description instead.
    """
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            roles: set[str] = set()
            for requirement in operation.get("security", ()):
                for scheme, scopes in requirement.items():
                    roles.update(scopes)
                    requirement[scheme] = []
            if roles:
                operation["x-roles"] = sorted(roles)
                note = "Rollen: " + ", ".join(sorted(roles)) + "."
                description = operation.get("description", "")
                operation["description"] = f"{description}\n\n{note}" if description else note
    return spec
