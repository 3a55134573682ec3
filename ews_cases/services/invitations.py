"""Invitations: a personal link (`/zugang/<token>`) that creates an account once, until it expires
(`EWS_INVITATION_VALID_DAYS`, default 14). The programme office invites applicants, reviewers, coordinators
and auditors; only admins invite admins. An address that has an account is not invited again, and a second
invitation to an address with an open one renews that one (same link, new expiry) instead of adding another.

The link's secret is an HMAC of the row's random salt under the secret key: only its SHA-256 hash is
looked up, the database alone does not give the link away, and a renewal or a later deadline reminder can
mail the same link again. Inviting, accepting and expiring each append one event to the global chain in
the caller's transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import Conflict, DomainError, Forbidden, ValidationFailed
from ews_cases.i18n.formatting import de_datetime
from ews_cases.i18n.translate import N_, _
from ews_cases.links import public_link
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import Invitation, Municipality, User, utcnow
from ews_cases.services.passwords import check_new_password
from ews_cases.services.users import access_errors, hash_password, hash_token
from ews_cases.services.validation import EMAIL_RE
from ews_cases.settings import current_settings
from workflows import Actor, Role

LETTER_KIND = "invitation"
#: The roles the programme office may invite; admins may invite every role.
OFFICE_INVITES = ("applicant", "reviewer", "coordinator", "auditor")
#: The audit trail's actor of the beat task that expires invitations.
EXPIRY_ACTOR = Actor.system("expire_invitations")
#: The creator of the invitations in deadline reminders (the reminder scan's actor).
REMINDER_ACTOR = Actor.system("scan_reminders")


class InvitationInvalid(DomainError):
    """The link is unknown (404), used, expired or withdrawn (410); the message says which and what to do."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "unknown": N_(
            "Diesen Einladungslink gibt es nicht. Bitte prüfen Sie, ob Sie ihn vollständig aus der E-Mail "
            "übernommen haben."
        ),
        "used": N_(
            "Diese Einladung wurde bereits angenommen: Jeder Einladungslink gilt nur einmal. Melden Sie sich "
            "mit Ihrer E-Mail-Adresse und Ihrem Passwort an; haben Sie das Passwort vergessen, fordern Sie "
            "über „Passwort vergessen?“ einen neuen Link an."
        ),
        "expired": N_(
            "Diese Einladung ist abgelaufen. Bitte wenden Sie sich an das Programmbüro, das Ihnen eine neue "
            "schickt, oder beantragen Sie einen Zugang."
        ),
        "revoked": N_("Diese Einladung wurde zurückgezogen. Bitte wenden Sie sich an das Programmbüro."),
        "taken": N_(
            "Für diese E-Mail-Adresse gibt es inzwischen einen Zugang. Bitte melden Sie sich damit an."
        ),
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason
        self.status = 404 if reason == "unknown" else 410


# -- the link -----------------------------------------------------------------------------------------------


def link_token(salt: str) -> str:
    """The secret of the link with this salt (an HMAC under the secret key)."""
    key = hashlib.sha256(b"invitation-link|" + (current_settings().secret_key or "").encode()).digest()
    digest = hmac.new(key, salt.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def invitation_link(invitation: Invitation) -> str:
    return public_link(f"/zugang/{link_token(invitation.token_salt)}")


def new_link() -> tuple[str, str]:
    """(salt, hash of the secret) for a new invitation."""
    salt = secrets.token_urlsafe(32)
    return salt, hash_token(link_token(salt))


def valid_until(now: datetime) -> datetime:
    return now + timedelta(days=current_settings().invitation_valid_days)


# -- inviting -----------------------------------------------------------------------------------------------


def may_invite(actor: Actor, role: str) -> bool:
    if actor.role in (Role.ADMIN, Role.SYSTEM):
        return True
    return actor.role == Role.COORDINATOR and role in OFFICE_INVITES


def existing_account(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def open_invitation_for(session: Session, email: str, now: datetime) -> Invitation | None:
    """The open, unexpired invitation of this address not tied to a reminder, if any."""
    return session.scalar(
        select(Invitation)
        .where(
            Invitation.email == email,
            Invitation.status == "open",
            Invitation.expires_at > now,
            Invitation.contact_id.is_(None),
        )
        .order_by(Invitation.id.desc())
    )


def invite(
    session: Session,
    actor: Actor,
    *,
    email: str,
    name: str,
    role: str,
    municipality_ags: str | None = None,
    now: datetime | None = None,
) -> Invitation:
    """Invite a person to `role` (an applicant for `municipality_ags`) and mail the link; an open invitation
    of the address is renewed instead. Refused (Conflict) for an address that already has an account."""
    now = now or utcnow()
    email, name = email.strip().lower(), name.strip()
    municipality_ags = (municipality_ags or "").strip() or None
    if actor.role not in (Role.COORDINATOR, Role.ADMIN, Role.SYSTEM):
        raise Forbidden(N_("Einladen dürfen nur das Programmbüro und die Administration."))
    errors: dict[str, list[str]] = {}
    if not EMAIL_RE.match(email) or len(email) > 254:
        errors["email"] = [_("Bitte geben Sie eine gültige E-Mail-Adresse an.")]
    if not name:
        errors["name"] = [_("Bitte einen Namen angeben.")]
    elif len(name) > 200:
        errors["name"] = [_("Höchstens {n} Zeichen.", n=200)]
    errors.update(access_errors(session, role, municipality_ags))
    if errors:
        raise ValidationFailed(errors)
    if not may_invite(actor, role):
        raise Forbidden(N_("Administrationszugänge vergeben nur Administratorinnen und Administratoren."))
    account = existing_account(session, email)
    if account is not None:
        raise Conflict(
            N_(
                "Für {email} gibt es bereits einen Zugang. Eine Einladung ist nicht nötig: Die Person meldet "
                "sich mit ihrem Passwort an (oder setzt es über „Passwort vergessen?“ neu); Rolle und Kommune "
                "ändert die Administration."
            ),
            email=email,
        )
    invitation = open_invitation_for(session, email, now)
    renewed = invitation is not None
    if invitation is None:
        salt, token_hash = new_link()
        invitation = Invitation(token_salt=salt, token_hash=token_hash, created_by=actor.label, email=email)
        session.add(invitation)
    invitation.name, invitation.role, invitation.municipality_ags = name, role, municipality_ags
    invitation.token_hash = hash_token(link_token(invitation.token_salt))  # new if the secret key was rotated
    invitation.expires_at = valid_until(now)
    session.flush()
    _mail_invitation(session, invitation, now)
    chain.append(
        session,
        actor=actor,
        action="invitation.sent",
        data={
            "invitation": invitation.id,
            "email": email,
            "name": name,
            "role": role,
            "municipality": municipality_ags,
            "expires_at": invitation.expires_at,
            "renewed": renewed,
        },
    )
    return invitation


def _mail_invitation(session: Session, invitation: Invitation, now: datetime) -> None:
    town = session.get(Municipality, invitation.municipality_ags) if invitation.municipality_ags else None
    letter = render_letter(
        LETTER_KIND,
        name=invitation.name,
        role=invitation.role,
        town=town.name if town is not None else "",
        link=invitation_link(invitation),
        until=de_datetime(invitation.expires_at),
    )
    key = f"invitation:{invitation.id}:{now.isoformat()}"
    enqueue_emails(session, [Email(key, LETTER_KIND, invitation.email, letter.subject, letter.body)])


# -- invitations in deadline reminders ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invitee:
    """A contact a reminder goes to who has no account."""

    contact_id: int
    email: str
    name: str
    municipality_ags: str


def reminder_invitations(
    session: Session, cohort_id: int, invitees: Sequence[Invitee], now: datetime
) -> tuple[dict[int, str], int]:
    """The personal invitation link of each invitee (contact id → link) for a reminder of this cohort, and
    how many are new: the contact's open invitation for the cohort (its expiry moved to a full validity
    from now), or a new one. At most one open invitation per contact and cohort, however often the scan
    runs (a unique index)."""
    if not invitees:
        return {}, 0
    ids = [invitee.contact_id for invitee in invitees]
    known: dict[int, str] = {}
    for invitation_id, contact_id, salt, token_hash in session.execute(
        select(Invitation.id, Invitation.contact_id, Invitation.token_salt, Invitation.token_hash).where(
            Invitation.cohort_id == cohort_id,
            Invitation.status == "open",
            Invitation.contact_id.in_(ids),
        )
    ).all():
        known[contact_id] = salt
        if hash_token(link_token(salt)) != token_hash:  # the secret key was rotated: the link is a new one
            session.execute(
                update(Invitation)
                .where(Invitation.id == invitation_id)
                .values(token_hash=hash_token(link_token(salt)))
                .execution_options(synchronize_session=False)
            )
    until = valid_until(now)
    if known:
        session.execute(
            update(Invitation)
            .where(
                Invitation.cohort_id == cohort_id,
                Invitation.status == "open",
                Invitation.contact_id.in_(list(known)),
            )
            .values(expires_at=until)
            .execution_options(synchronize_session=False)
        )
    rows = []
    for invitee in invitees:
        if invitee.contact_id in known:
            continue
        salt, token_hash = new_link()
        known[invitee.contact_id] = salt
        rows.append(
            {
                "email": invitee.email,
                "name": invitee.name or invitee.email,
                "role": "applicant",
                "municipality_ags": invitee.municipality_ags,
                "token_salt": salt,
                "token_hash": token_hash,
                "status": "open",
                "created_by": REMINDER_ACTOR.label,
                "created_at": now,
                "expires_at": until,
                "contact_id": invitee.contact_id,
                "cohort_id": cohort_id,
            }
        )
    if rows:
        session.execute(insert(Invitation), rows)
    links = {contact: public_link(f"/zugang/{link_token(salt)}") for contact, salt in known.items()}
    return links, len(rows)


# -- accepting ----------------------------------------------------------------------------------------------


def open_invitation(session: Session, token: str, *, now: datetime | None = None) -> Invitation:
    """The invitation behind a link if it can still be accepted, or InvitationInvalid saying why not."""
    invitation = session.scalar(select(Invitation).where(Invitation.token_hash == hash_token(token)))
    if invitation is None:
        raise InvitationInvalid("unknown")
    if invitation.status == "accepted":
        raise InvitationInvalid("used")
    if invitation.status == "revoked":
        raise InvitationInvalid("revoked")
    if invitation.status == "expired" or invitation.expires_at <= (now or utcnow()):
        raise InvitationInvalid("expired")
    if existing_account(session, invitation.email) is not None:
        raise InvitationInvalid("taken")
    return invitation


def accept_invitation(session: Session, token: str, password: str, *, now: datetime | None = None) -> User:
    """Create the invited account with the password chosen (once): bound to the invitation's municipality,
    with its role; one audit event. Raises InvitationInvalid or ValidationFailed (the password rules)."""
    now = now or utcnow()
    invitation = open_invitation(session, token, now=now)
    problems = check_new_password(password, email=invitation.email, name=invitation.name)
    if problems:
        raise ValidationFailed({"new": problems})
    # Claim it in one conditional UPDATE: of two requests racing with the same link, one wins.
    claimed = session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.status == "open")
        .values(status="accepted", accepted_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise InvitationInvalid("used")
    user = User(
        email=invitation.email,
        name=invitation.name,
        role=invitation.role,
        municipality_ags=invitation.municipality_ags,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id)
        .values(user_id=user.id)
        .execution_options(synchronize_session=False)
    )
    session.refresh(invitation)
    chain.append(
        session,
        actor=Actor(role=Role(user.role), user_id=user.id, municipality_ags=user.municipality_ags),
        action="invitation.accepted",
        data={
            "invitation": invitation.id,
            "user": user.id,
            "email": user.email,
            "role": user.role,
            "municipality": user.municipality_ags,
        },
    )
    return user


# -- expiring -----------------------------------------------------------------------------------------------


def expire_invitations(session: Session, now: datetime | None = None) -> int:
    """Mark open invitations past their expiry as expired, each with one audit event; returns how many."""
    now = now or utcnow()
    due = session.scalars(
        select(Invitation)
        .where(Invitation.status == "open", Invitation.expires_at <= now)
        .order_by(Invitation.id)
        .with_for_update(skip_locked=True)
    ).all()
    for invitation in due:
        invitation.status = "expired"
        session.flush()
        chain.append(
            session,
            actor=EXPIRY_ACTOR,
            action="invitation.expired",
            data={
                "invitation": invitation.id,
                "email": invitation.email,
                "expires_at": invitation.expires_at,
            },
        )
    return len(due)


def open_invitations(now: datetime | None = None) -> Select[tuple[Invitation]]:
    """Open, unexpired invitations, newest first (the office page)."""
    return (
        select(Invitation)
        .where(Invitation.status == "open", Invitation.expires_at > (now or utcnow()))
        .order_by(Invitation.created_at.desc(), Invitation.id.desc())
    )
