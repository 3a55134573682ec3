"""Users and API tokens, managed by admins (SPEC §2); every change is audited by the services."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import Response
from sqlalchemy import select

from ews_cases.api.auth import allow, current_actor
from ews_cases.api.blueprint import api
from ews_cases.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from ews_cases.db.request_session import db_session
from ews_cases.models import USER_ROLES, ApiToken, User
from ews_cases.services.accounts import create_account, get_user, new_token, revoke_api_token, set_user_active


class UserQuery(Schema):
    role = String(load_default=None, validate=OneOf(USER_ROLES))
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None, metadata={"description": "next_cursor of the previous page"})


class UserCreateIn(Schema):
    email = String(required=True, validate=Length(max=254))
    name = String(required=True, validate=Length(max=200))
    role = String(required=True, metadata={"enum": list(USER_ROLES)})
    municipality = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=8),
        metadata={"description": "AGS: required for applicants, a reviewer's affiliation"},
    )
    password = String(
        load_default=None, allow_none=True, validate=Length(max=200), metadata={"description": "Web login"}
    )
    token_name = String(load_default="api", validate=Length(max=100))


class UserPatchIn(Schema):
    active = Boolean(required=True)


class TokenIn(Schema):
    name = String(load_default="", validate=Length(max=100))


class UserOut(Schema):
    id = Integer()
    email = String()
    name = String()
    role = String()
    municipality = String(allow_none=True)
    active = Boolean()
    created_at = AwareDateTime()


class NewTokenOut(Schema):
    id = Integer()
    token = String(metadata={"description": "The bearer token; shown only this once"})


class NewUserOut(UserOut):
    token = String(metadata={"description": "The user's first bearer token; shown only this once"})
    token_id = Integer()


class UserPage(Schema):
    items = List(Nested(UserOut))
    next_cursor = String(allow_none=True)


class TokenOut(Schema):
    id = Integer()
    name = String()
    created_at = AwareDateTime()
    last_used_at = AwareDateTime(allow_none=True)
    revoked_at = AwareDateTime(allow_none=True)


class TokenList(Schema):
    items = List(Nested(TokenOut))


def user_data(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "municipality": user.municipality_ags,
        "active": user.active,
        "created_at": user.created_at,
    }


def token_data(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@api.get("/users")
@allow("admin")
@api.input(UserQuery, location="query", arg_name="query")
@api.output(UserPage)
def list_users(query: dict[str, Any]) -> dict[str, Any]:
    """All users, oldest first, optionally of one role."""
    stmt = select(User)
    if query["role"] is not None:
        stmt = stmt.where(User.role == query["role"])
    return paginate(db_session(), stmt, User.id, query, user_data)


@api.post("/users")
@allow("admin")
@api.input(UserCreateIn, arg_name="data")
@api.output(NewUserOut, status_code=201)
@api.doc(responses=[403, 409, 422])
def create_user_endpoint(data: dict[str, Any]) -> dict[str, Any]:
    """Create a user with a first API token, which the answer shows this once."""
    session = db_session()
    user, issued = create_account(
        session,
        current_actor(),
        email=data["email"],
        name=data["name"],
        role=data["role"],
        municipality_ags=data["municipality"],
        password=data["password"],
        token_name=data["token_name"],
    )
    session.commit()
    return {**user_data(user), "token": issued.secret, "token_id": issued.record.id}


@api.get("/users/<int:user_id>")
@allow("admin")
@api.output(UserOut)
@api.doc(responses=[404])
def get_user_endpoint(user_id: int) -> dict[str, Any]:
    """One user."""
    return user_data(get_user(db_session(), user_id))


@api.patch("/users/<int:user_id>")
@allow("admin")
@api.input(UserPatchIn, arg_name="data")
@api.output(UserOut)
@api.doc(responses=[403, 404, 409, 422])
def patch_user(user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Deactivate (`{"active": false}`) or reactivate a user; a deactivated user's tokens stop working."""
    session = db_session()
    user = set_user_active(session, current_actor(), get_user(session, user_id), data["active"])
    session.commit()
    return user_data(user)


@api.get("/users/<int:user_id>/tokens")
@allow("admin")
@api.output(TokenList)
@api.doc(responses=[404])
def list_tokens(user_id: int) -> dict[str, Any]:
    """The user's API tokens (never the secrets), oldest first."""
    session = db_session()
    user = get_user(session, user_id)
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
    return {"items": [token_data(t) for t in tokens]}


@api.post("/users/<int:user_id>/tokens")
@allow("admin")
@api.input(TokenIn, arg_name="data")
@api.output(NewTokenOut, status_code=201)
@api.doc(responses=[403, 404, 422])
def create_token(user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Issue another API token for a user; the answer shows it this once."""
    session = db_session()
    issued = new_token(session, current_actor(), get_user(session, user_id), name=data["name"])
    session.commit()
    return {"id": issued.record.id, "token": issued.secret}


@api.delete("/tokens/<int:token_id>")
@allow("admin")
@api.output({}, status_code=204)
@api.doc(responses=[403, 404])
def revoke_token_endpoint(token_id: int) -> Response:
    """Revoke an API token; it is refused (401) from now on."""
    session = db_session()
    revoke_api_token(session, current_actor(), token_id)
    session.commit()
    return Response(status=204)
