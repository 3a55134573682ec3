"""Access requests (`/zugang/beantragen`): a municipality that was not invited asks for an account; the
programme office confirms (an invitation goes out) or declines with a reason (a letter says so).

Receiving, confirming and declining each append one event to the global chain in the caller's
transaction. Receiving answers the same whether or not the address has an account: the public form must not
reveal that; the office sees it when it confirms.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ews_cases.i18n.translate import N_, _
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import AccessRequest, Invitation, Municipality, utcnow
from ews_cases.services.invitations import invite
from ews_cases.services.validation import EMAIL_RE
from workflows import Actor, Role

#: The audit trail's actor of a request sent on the public page (the person is not known yet).
REQUEST_ACTOR = Actor.system("access-request")
DECLINE_LETTER = "access_declined"
MAX_MESSAGE = 2000


def _require_office(actor: Actor) -> None:
    if actor.role not in (Role.COORDINATOR, Role.ADMIN, Role.SYSTEM):
        raise Forbidden(N_("Über Anfragen nach einem Zugang entscheidet das Programmbüro."))


def request_access(
    session: Session,
    *,
    name: str,
    email: str,
    municipality_ags: str,
    position: str,
    message: str = "",
) -> AccessRequest:
    """Record a request (one audit event). A pending request of the same address is replaced by this one."""
    name, email, position, message = name.strip(), email.strip().lower(), position.strip(), message.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Bitte einen Namen angeben.")]
    elif len(name) > 200:
        errors["name"] = [_("Höchstens {n} Zeichen.", n=200)]
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
    if session.get(Municipality, municipality_ags or "") is None:
        errors["municipality"] = [_("Bitte wählen Sie Ihre Kommune aus der Liste.")]
    if not position:
        errors["position"] = [_("Bitte nennen Sie Ihre Funktion in der Verwaltung.")]
    elif len(position) > 200:
        errors["position"] = [_("Höchstens {n} Zeichen.", n=200)]
    if len(message) > MAX_MESSAGE:
        errors["message"] = [_("Höchstens {n} Zeichen.", n=MAX_MESSAGE)]
    if errors:
        raise ValidationFailed(errors)
    request = session.scalar(
        select(AccessRequest).where(AccessRequest.email == email, AccessRequest.status == "pending")
    )
    if request is None:
        request = AccessRequest(email=email)
        session.add(request)
    request.name, request.municipality_ags = name, municipality_ags
    request.position, request.message, request.created_at = position, message, utcnow()
    session.flush()
    chain.append(
        session,
        actor=REQUEST_ACTOR,
        action="access_request.received",
        data={
            "access_request": request.id,
            "name": name,
            "email": email,
            "municipality": municipality_ags,
            "position": position,
        },
    )
    return request


def get_access_request(session: Session, request_id: int) -> AccessRequest:
    request = session.get(AccessRequest, request_id)
    if request is None:
        raise NotFound(N_("Die Anfrage {id} gibt es nicht."), id=request_id)
    return request


def _still_pending(request: AccessRequest) -> None:
    if request.status != "pending":
        decided = _("bestätigt") if request.status == "confirmed" else _("abgelehnt")
        raise Conflict(N_("Über diese Anfrage ist bereits entschieden: {decided}."), decided=decided)


def confirm_access_request(
    session: Session, actor: Actor, request: AccessRequest, *, now: datetime | None = None
) -> Invitation:
    """Confirm: the person is invited as an applicant for the municipality asked for (the invitation's
    own event and one `access_request.confirmed`). An address with an account is refused (Conflict)."""
    _require_office(actor)
    _still_pending(request)
    now = now or utcnow()
    invitation = invite(
        session,
        actor,
        email=request.email,
        name=request.name,
        role="applicant",
        municipality_ags=request.municipality_ags,
        now=now,
    )
    request.status, request.decided_at, request.decided_by = "confirmed", now, actor.label
    request.invitation_id = invitation.id
    session.flush()
    chain.append(
        session,
        actor=actor,
        action="access_request.confirmed",
        data={"access_request": request.id, "invitation": invitation.id, "email": request.email},
    )
    return invitation


def decline_access_request(
    session: Session, actor: Actor, request: AccessRequest, reason: str, *, now: datetime | None = None
) -> AccessRequest:
    """Decline with a reason, which a letter to the person gives; one audit event."""
    _require_office(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": [_("Bitte geben Sie eine Begründung an: Die Person erhält sie.")]})
    if len(reason) > MAX_MESSAGE:
        raise ValidationFailed({"reason": [_("Höchstens {n} Zeichen.", n=MAX_MESSAGE)]})
    _still_pending(request)
    now = now or utcnow()
    request.status, request.decided_at, request.decided_by = "declined", now, actor.label
    request.decline_reason = reason
    session.flush()
    town = session.get(Municipality, request.municipality_ags)
    letter = render_letter(
        DECLINE_LETTER, name=request.name, town=town.name if town else request.municipality_ags, reason=reason
    )
    enqueue_emails(
        session,
        [Email(f"access-declined:{request.id}", DECLINE_LETTER, request.email, letter.subject, letter.body)],
    )
    chain.append(
        session,
        actor=actor,
        action="access_request.declined",
        data={"access_request": request.id, "email": request.email, "reason": reason},
    )
    return request


def pending_requests() -> Select[tuple[AccessRequest]]:
    """Requests waiting for the office's decision, oldest first."""
    return select(AccessRequest).where(AccessRequest.status == "pending").order_by(AccessRequest.id)
