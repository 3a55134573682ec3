"""Users and API tokens, managed by admins (SPEC §2, §10); every change is audited by the services."""

from __future__ import annotations

from typing import Any

from flask import Response

from ews_cases.api.admin_schemas import (
    NewTokenOut,
    NewUserOut,
    TokenIn,
    TokenList,
    TokenPage,
    TokenQuery,
    UserCreateIn,
    UserOut,
    UserPage,
    UserPatchIn,
    UserQuery,
    token_data,
    user_data,
)
from ews_cases.api.auth import allow, current_actor
from ews_cases.api.blueprint import api
from ews_cases.api.pagination import paginate
from ews_cases.db.request_session import db_session
from ews_cases.models import ApiToken, User
from ews_cases.services.accounts import (
    change_access,
    create_account,
    find_tokens,
    find_users,
    get_user,
    new_token,
    revoke_api_token,
    set_user_active,
)
from ews_cases.services.second_factor import reset_second_factor


@api.get("/users")
@allow("admin")
@api.input(UserQuery, location="query", arg_name="query")
@api.output(UserPage)
def list_users(query: dict[str, Any]) -> dict[str, Any]:
    """Users, oldest first: all, or those matching a text (name or email), a role, a municipality (name or
    AGS) and a status (`active`, `inactive`)."""
    stmt = find_users(
        text=query["q"], role=query["role"], municipality=query["municipality"], status=query["status"]
    )
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
    """Change the role and/or municipality (`{"role": "reviewer", "municipality": "05966012"}`), deactivate
    (`{"active": false}`: web sessions end, tokens are refused at once) or reactivate; optionally with a
    `reason` for the audit trail. Nobody changes their own role or deactivates themselves, and the last
    active admin stays (409)."""
    session = db_session()
    actor, user = current_actor(), get_user(session, user_id)
    if "role" in data or "municipality" in data:
        change_access(
            session,
            actor,
            user,
            role=data.get("role", user.role),
            municipality_ags=data.get("municipality", user.municipality_ags),
            reason=data["reason"],
        )
    if "active" in data:
        set_user_active(session, actor, user, data["active"], reason=data["reason"])
    session.commit()
    return user_data(user)


@api.delete("/users/<int:user_id>/second-factor")
@allow("admin")
@api.output(UserOut)
@api.doc(responses=[403, 404])
def reset_second_factor_endpoint(user_id: int) -> dict[str, Any]:
    """Reset the person's second factor (lost device): they enrol again at their next login where their role
    needs one. Audited when there was one; a person without one is answered unchanged."""
    session = db_session()
    user = get_user(session, user_id)
    reset_second_factor(session, current_actor(), user)
    session.commit()
    return user_data(user)


@api.get("/users/<int:user_id>/tokens")
@allow("admin")
@api.output(TokenList)
@api.doc(responses=[404])
def list_tokens(user_id: int) -> dict[str, Any]:
    """The user's API tokens (never the secrets) with their status, oldest first."""
    session = db_session()
    user = get_user(session, user_id)
    tokens = session.scalars(find_tokens(user.id).order_by(ApiToken.id))
    return {"items": [token_data(t) for t in tokens]}


@api.post("/users/<int:user_id>/tokens")
@allow("admin")
@api.input(TokenIn, arg_name="data")
@api.output(NewTokenOut, status_code=201)
@api.doc(responses=[403, 404, 422])
def create_token(user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """Issue another API token for a user, optionally expiring (`expires_at`, a date or a moment in the
    future); the answer shows the secret this once."""
    session = db_session()
    user = get_user(session, user_id)
    issued = new_token(session, current_actor(), user, name=data["name"], expires=data["expires_at"])
    session.commit()
    return {**token_data(issued.record), "token": issued.secret}


@api.get("/tokens")
@allow("admin")
@api.input(TokenQuery, location="query", arg_name="query")
@api.output(TokenPage)
def list_all_tokens(query: dict[str, Any]) -> dict[str, Any]:
    """Every API token (never the secrets) with its status, oldest first; `?user=` for one user's."""
    return paginate(db_session(), find_tokens(query["user"]), ApiToken.id, query, token_data)


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
