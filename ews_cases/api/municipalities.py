"""The reference list of NRW municipalities, and the contacts who receive the deadline reminders."""

from __future__ import annotations

import base64
import json
from typing import Any

from apiflask import Schema
from apiflask.validators import Length, Range
from sqlalchemy import and_, or_, select

from ews_cases.api.auth import ALL_ROLES, allow, current_actor
from ews_cases.api.blueprint import api
from ews_cases.api.case_schemas import SALUTATION
from ews_cases.api.fields import EMAIL, AwareDateTime, Integer, List, Nested, String
from ews_cases.api.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageQuery, paginate
from ews_cases.db.request_session import db_session
from ews_cases.errors import ValidationFailed
from ews_cases.i18n.translate import _
from ews_cases.models import Contact, Municipality
from ews_cases.services.contacts import add_contact, get_municipality
from ews_cases.services.municipalities import matching


class MunicipalityQuery(Schema):
    q = String(
        load_default=None,
        validate=Length(max=100),
        metadata={"description": "Part of the name (any case), or the first digits of the AGS"},
    )
    limit = Integer(load_default=DEFAULT_LIMIT, validate=Range(1, MAX_LIMIT))
    cursor = String(load_default=None, metadata={"description": "next_cursor of the previous page"})


class MunicipalityOut(Schema):
    ags = String()
    name = String()
    type = String()
    kreis_ags = String()
    kreis_name = String()
    regierungsbezirk = String()


class MunicipalityPage(Schema):
    items = List(Nested(MunicipalityOut))
    next_cursor = String(allow_none=True)


class ContactIn(Schema):
    #: "Frau", "Herr" or empty (none stated): how the reminders greet the contact.
    salutation = String(load_default="", validate=SALUTATION)
    name = String(required=True, validate=Length(max=200))
    email = String(required=True, validate=Length(max=254), metadata=EMAIL)


class ContactOut(Schema):
    id = Integer()
    municipality = String()
    salutation = String()
    name = String()
    email = String()
    opted_out_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()


class ContactPage(Schema):
    items = List(Nested(ContactOut))
    next_cursor = String(allow_none=True)


def municipality_data(m: Municipality) -> dict[str, Any]:
    return {
        "ags": m.ags,
        "name": m.name,
        "type": m.type,
        "kreis_ags": m.kreis_ags,
        "kreis_name": m.kreis_name,
        "regierungsbezirk": m.regierungsbezirk,
    }


def contact_data(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "municipality": c.municipality_ags,
        "salutation": c.salutation,
        "name": c.name,
        "email": c.email,
        "opted_out_at": c.opted_out_at,
        "created_at": c.created_at,
    }


# Keyset pagination on (name, ags): the list is shown by name, and the AGS makes a position unique even if
# two municipalities share a name. The cursor is the last row's pair, so no row is skipped or repeated.
def _encode_position(name: str, ags: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([name, ags]).encode()).decode().rstrip("=")


def _decode_position(cursor: str | None) -> tuple[str, str] | None:
    if not cursor:
        return None
    try:
        name, ags = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(name, str) and isinstance(ags, str):
            return name, ags
    except (ValueError, TypeError):
        pass
    raise ValidationFailed({"cursor": [_("Ungültiger Cursor.")]})


@api.get("/municipalities")
@allow(*sorted(ALL_ROLES))
@api.input(MunicipalityQuery, location="query", arg_name="query")
@api.output(MunicipalityPage)
@api.doc(responses=[422])
def list_municipalities(query: dict[str, Any]) -> dict[str, Any]:
    """NRW municipalities (Städte, Gemeinden, Kreise) by name, searched by name or AGS prefix."""
    stmt = select(Municipality).where(matching(query["q"]))
    after = _decode_position(query["cursor"])
    if after is not None:
        name, ags = after
        stmt = stmt.where(
            or_(Municipality.name > name, and_(Municipality.name == name, Municipality.ags > ags))
        )
    limit = query["limit"]
    rows = db_session().scalars(stmt.order_by(Municipality.name, Municipality.ags).limit(limit + 1)).all()
    items = rows[:limit]
    next_cursor = _encode_position(items[-1].name, items[-1].ags) if len(rows) > limit else None
    return {"items": [municipality_data(m) for m in items], "next_cursor": next_cursor}


@api.get("/municipalities/<ags>")
@allow(*sorted(ALL_ROLES))
@api.output(MunicipalityOut)
@api.doc(responses=[404])
def get_municipality_endpoint(ags: str) -> dict[str, Any]:
    """One municipality by its official key (AGS, 8 digits)."""
    return municipality_data(get_municipality(db_session(), ags))


@api.get("/municipalities/<ags>/contacts")
@allow("coordinator", "auditor")
@api.input(PageQuery, location="query", arg_name="query")
@api.output(ContactPage)
@api.doc(responses=[404])
def list_contacts(ags: str, query: dict[str, Any]) -> dict[str, Any]:
    """The municipality's contacts for the deadline reminders, including those who opted out."""
    session = db_session()
    municipality = get_municipality(session, ags)
    stmt = select(Contact).where(Contact.municipality_ags == municipality.ags)
    return paginate(session, stmt, Contact.id, query, contact_data)


@api.post("/municipalities/<ags>/contacts")
@allow("coordinator")
@api.input(ContactIn, arg_name="data")
@api.output(ContactOut, status_code=201)
@api.doc(responses=[403, 404, 409, 422])
def create_contact(ags: str, data: dict[str, Any]) -> dict[str, Any]:
    """Add a contact who will receive the deadline reminders (with an unsubscribe link)."""
    session = db_session()
    contact = add_contact(session, current_actor(), ags, data["name"], data["email"], data["salutation"])
    session.commit()
    return contact_data(contact)
