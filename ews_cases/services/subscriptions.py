"""Unsubscribe links in reminders: contacts and applicants stop receiving deadline reminders."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import NotFound
from ews_cases.i18n.translate import N_
from ews_cases.models import User, utcnow
from ews_cases.services.contacts import opt_out
from workflows import Actor


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    email: str


def unsubscribe(session: Session, token: str) -> Unsubscribed:
    """Opt the owner of `token` out of deadline reminders (audited); repeating it changes nothing."""
    try:
        return Unsubscribed(opt_out(session, token).email)
    except NotFound:
        pass
    user = session.scalar(select(User).where(User.unsubscribe_token == token)) if token else None
    if user is None:
        raise NotFound(N_("Dieser Abmeldelink ist ungültig."))
    if user.reminders_opted_out_at is None:
        user.reminders_opted_out_at = utcnow()
        session.flush()
        chain.append(
            session,
            actor=Actor.system("unsubscribe"),
            action="user.opted_out",
            data={"user": user.id, "email": user.email},
        )
    return Unsubscribed(user.email)
