"""Password reset by email: a single-use link that expires (`EWS_PASSWORD_RESET_LINK_MINUTES`, default 60).

Only the SHA-256 hash of a link's token is stored. Asking for a link does the same work whether or not an
account has the address (a token is made and the letter rendered either way; only the writes differ), and
the page answers the same; a new password voids the person's other open links and, through the session
fingerprint (`web/extensions.password_mark`), ends the person's other sessions.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import DomainError, ValidationFailed
from ews_cases.i18n.formatting import de_datetime
from ews_cases.i18n.translate import N_
from ews_cases.links import public_link
from ews_cases.mail.letters import render_letter
from ews_cases.mail.outbox import Email, enqueue_emails
from ews_cases.models import PasswordResetToken, User, utcnow
from ews_cases.services.actors import actor_for
from ews_cases.services.passwords import check_new_password, set_password
from ews_cases.services.users import hash_token
from ews_cases.settings import current_settings
from workflows import Actor

LETTER_KIND = "password_reset"
#: The audit trail's actor for a link asked for on the public page (the asker is not known).
REQUEST_ACTOR = Actor.system("password-reset-request")


class ResetLinkInvalid(DomainError):
    """The link is unknown (404), used or expired (410); the message says which and what to do."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "unknown": N_(
            "Dieser Link zum Zurücksetzen des Passworts ist ungültig. Bitte fordern Sie einen neuen an."
        ),
        "used": N_(
            "Dieser Link wurde bereits verwendet: Jeder Link zum Zurücksetzen des Passworts gilt nur einmal. "
            "Bitte fordern Sie bei Bedarf einen neuen an."
        ),
        "expired": N_("Dieser Link ist abgelaufen. Bitte fordern Sie einen neuen an."),
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason
        self.status = 404 if reason == "unknown" else 410


def reset_link(token: str) -> str:
    return public_link(f"/passwort-vergessen/{token}")


def _active_user(session: Session, email: str) -> User | None:
    return session.scalar(
        select(User).where(func.lower(User.email) == email.strip().lower(), User.active.is_(True))
    )


def request_password_reset(session: Session, email: str, *, now: datetime | None = None) -> bool:
    """Mail a reset link if an active account has `email` (one audit event); True if one was queued.

    The caller must not let the answer depend on the result: the page says the same either way.
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    token_hash = hash_token(token)
    expires = now + timedelta(minutes=current_settings().password_reset_link_minutes)
    user = _active_user(session, email)
    # Rendered for an unknown address too: the answer takes as long either way.
    letter = render_letter(
        LETTER_KIND,
        name=user.name if user is not None else "",
        email=user.email if user is not None else email,
        link=reset_link(token),
        until=de_datetime(expires),
    )
    if user is None:
        return False
    session.add(
        PasswordResetToken(user_id=user.id, token_hash=token_hash, created_at=now, expires_at=expires)
    )
    enqueue_emails(
        session,
        [Email(f"password-reset:{token_hash}", LETTER_KIND, user.email, letter.subject, letter.body)],
    )
    chain.append(session, actor=REQUEST_ACTOR, action="user.password_reset_requested", data={"user": user.id})
    return True


def open_reset_link(session: Session, token: str, *, now: datetime | None = None) -> PasswordResetToken:
    """The open link for `token`, or ResetLinkInvalid (`unknown`, `used` or `expired`)."""
    record = session.scalar(
        select(PasswordResetToken).where(PasswordResetToken.token_hash == hash_token(token))
    )
    if record is None:
        raise ResetLinkInvalid("unknown")
    if record.used_at is not None:
        raise ResetLinkInvalid("used")
    if record.expires_at <= (now or utcnow()):
        raise ResetLinkInvalid("expired")
    user = session.get(User, record.user_id)
    if user is None or not user.active:
        raise ResetLinkInvalid("unknown")
    return record


def reset_password(session: Session, token: str, new_password: str, *, now: datetime | None = None) -> User:
    """Set a new password through a reset link (once): the link and the person's other open links are used
    up, and one audit event is written. Raises ResetLinkInvalid or ValidationFailed (the password rules)."""
    now = now or utcnow()
    record = open_reset_link(session, token, now=now)
    user = session.get(User, record.user_id)
    assert user is not None  # open_reset_link checked it
    problems = check_new_password(new_password, email=user.email, name=user.name)
    if problems:
        raise ValidationFailed({"new": problems})
    # Claim the link in one conditional UPDATE: of two requests racing with the same link, one wins.
    claimed = session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == record.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise ResetLinkInvalid("used")
    set_password(session, user, new_password)  # also voids the person's other open links
    chain.append(session, actor=actor_for(user), action="user.password_reset", data={"user": user.id})
    return user
