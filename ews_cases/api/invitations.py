"""Invitations (SPEC §10): the programme office invites people to a role, admins also to the admin role.
The service checks who may invite whom and refuses an address that already has an account (409)."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.validators import Length

from ews_cases.api.auth import allow, current_actor
from ews_cases.api.blueprint import api
from ews_cases.api.fields import EMAIL, AwareDateTime, Integer, String
from ews_cases.db.request_session import db_session
from ews_cases.models import INVITATION_STATUSES, USER_ROLES, Invitation
from ews_cases.services.invitations import invite


class InvitationIn(Schema):
    email = String(required=True, validate=Length(max=254), metadata=EMAIL)
    name = String(required=True, validate=Length(max=200))
    role = String(required=True, metadata={"enum": list(USER_ROLES)})
    municipality = String(
        load_default=None,
        allow_none=True,
        validate=Length(max=8),
        metadata={
            "description": "AGS, e.g. 05966012: required for applicants (the municipality they act for)"
        },
    )


class InvitationOut(Schema):
    id = Integer()
    email = String()
    name = String()
    role = String(metadata={"enum": list(USER_ROLES)})
    municipality = String(allow_none=True)
    status = String(metadata={"enum": list(INVITATION_STATUSES)})
    created_at = AwareDateTime()
    expires_at = AwareDateTime(metadata={"description": "The emailed link works once, until then"})


def invitation_data(invitation: Invitation) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "name": invitation.name,
        "role": invitation.role,
        "municipality": invitation.municipality_ags,
        "status": invitation.status,
        "created_at": invitation.created_at,
        "expires_at": invitation.expires_at,
    }


@api.post("/invitations")
@allow("coordinator", "admin")
@api.input(InvitationIn, arg_name="data")
@api.output(InvitationOut, status_code=201)
@api.doc(responses=[403, 409, 422])
def create_invitation(data: dict[str, Any]) -> dict[str, Any]:
    """Invite a person: they get an email with a link that works once and expires (`EWS_INVITATION_VALID_DAYS`,
    default 14 days) and sets their password. The programme office invites applicants (with their
    municipality), reviewers, coordinators and auditors; only admins invite admins. An address with an
    account is refused (409); an open invitation of the address is renewed (same link, new expiry)."""
    session = db_session()
    invitation = invite(
        session,
        current_actor(),
        email=data["email"],
        name=data["name"],
        role=data["role"],
        municipality_ags=data["municipality"],
    )
    session.commit()
    return invitation_data(invitation)
