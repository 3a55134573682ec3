"""Request and response schemas of the user and token endpoints (they also make the OpenAPI document).

The schemas check only the shape; roles, municipalities, expiry dates and who may change whom are checked
by `ews_cases.services.accounts`, so the API, the pages and the command line refuse the same things.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from apiflask import Schema
from apiflask.validators import Length, OneOf, Range
from marshmallow import ValidationError, validates_schema

from ews_cases.api.fields import EMAIL, AwareDateTime, Boolean, Integer, List, Nested, String
from ews_cases.api.pagination import DEFAULT_LIMIT, MAX_ID, MAX_LIMIT
from ews_cases.i18n.translate import _
from ews_cases.models import USER_ROLES, ApiToken, User, utcnow
from ews_cases.services.accounts import TOKEN_STATUSES, USER_STATUSES

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MUNICIPALITY_DOC = "AGS: required for applicants, a reviewer's affiliation (conflicts of interest)"
_REASON = {"description": "Why (recorded in the audit trail)"}


class DateOrAwareDateTime(String):
    """`2027-06-30` (through the end of that day, Europe/Berlin) or an ISO 8601 moment with its offset."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> date | datetime:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if _DATE_ONLY.match(text):
                return date.fromisoformat(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(_("Bitte ein Datum (2027-06-30) oder einen Zeitpunkt angeben.")) from None
        if moment.tzinfo is None:
            raise ValidationError(_("Bitte einen Zeitpunkt mit Zeitzone angeben."))
        return moment


class UserQuery(Schema):
    q = String(
        load_default=None, validate=Length(max=100), metadata={"description": "Part of the name or email"}
    )
    role = String(load_default=None, validate=OneOf(USER_ROLES))
    municipality = String(
        load_default=None,
        validate=Length(max=100),
        metadata={"description": "Part of the municipality's name, or the start of its AGS"},
    )
    status = String(load_default=None, validate=OneOf(USER_STATUSES))
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None, metadata={"description": "next_cursor of the previous page"})


class UserCreateIn(Schema):
    email = String(required=True, validate=Length(max=254), metadata=EMAIL)
    name = String(required=True, validate=Length(max=200))
    role = String(required=True, metadata={"enum": list(USER_ROLES)})
    municipality = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=8),
        metadata={"description": _MUNICIPALITY_DOC},
    )
    password = String(
        load_default=None, allow_none=True, validate=Length(max=200), metadata={"description": "Web login"}
    )
    token_name = String(load_default="api", validate=Length(max=100))


class UserPatchIn(Schema):
    """Role and municipality change together (`user.role_changed`), activity apart (`user.deactivated`,
    `user.reactivated`); a field left out stays as it is."""

    role = String(metadata={"enum": list(USER_ROLES)})
    municipality = String(
        allow_none=True, validate=Length(max=8), metadata={"description": _MUNICIPALITY_DOC}
    )
    active = Boolean(metadata={"description": "false deactivates (sessions end, tokens are refused)"})
    reason = String(load_default=None, allow_none=True, validate=Length(max=2000), metadata=_REASON)

    @validates_schema
    def _something_to_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not {"role", "municipality", "active"} & set(data):
            raise ValidationError(_("Bitte mindestens role, municipality oder active angeben."), "_schema")


class TokenIn(Schema):
    name = String(load_default="", validate=Length(max=100))
    expires_at = DateOrAwareDateTime(
        load_default=None,
        allow_none=True,
        metadata={
            "description": "Refused from then on: a date (through its end, Europe/Berlin) or an ISO 8601 "
            "moment with offset; in the future. Null: until revoked.",
            "example": "2027-06-30",
        },
    )


class TokenQuery(Schema):
    user = Integer(
        load_default=None, validate=Range(1, MAX_ID), metadata={"description": "Only this user's tokens (id)"}
    )
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None, metadata={"description": "next_cursor of the previous page"})


class UserOut(Schema):
    id = Integer()
    email = String()
    name = String()
    role = String(metadata={"enum": list(USER_ROLES)})
    municipality = String(allow_none=True)
    active = Boolean()
    has_password = Boolean(metadata={"description": "Whether the person can log in to the web pages yet"})
    created_at = AwareDateTime()


class NewUserOut(UserOut):
    token = String(metadata={"description": "The user's first bearer token; shown only this once"})
    token_id = Integer()


class UserPage(Schema):
    items = List(Nested(UserOut))
    next_cursor = String(allow_none=True)


class TokenOut(Schema):
    id = Integer()
    user = Integer()
    name = String()
    status = String(metadata={"enum": list(TOKEN_STATUSES)})
    created_at = AwareDateTime()
    expires_at = AwareDateTime(allow_none=True)
    last_used_at = AwareDateTime(allow_none=True)
    revoked_at = AwareDateTime(allow_none=True)


class NewTokenOut(TokenOut):
    token = String(metadata={"description": "The bearer token; shown only this once"})


class TokenList(Schema):
    items = List(Nested(TokenOut))


class TokenPage(TokenList):
    next_cursor = String(allow_none=True)


def user_data(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "municipality": user.municipality_ags,
        "active": user.active,
        "has_password": user.password_hash is not None,
        "created_at": user.created_at,
    }


def token_data(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user_id,
        "name": token.name,
        "status": token.status_at(utcnow()),
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }
