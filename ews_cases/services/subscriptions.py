"""Unsubscribe links in reminders: contacts and applicants stop (or resume) receiving deadline reminders.

Reading a subscription changes nothing (a link scanner opening the link must not opt anyone out); only
`unsubscribe` and `resubscribe` change it, each audited once per actual change.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import NotFound
from ews_cases.i18n.translate import N_
from ews_cases.models import Contact, User, utcnow
from ews_cases.services.contacts import opt_out
from workflows import Actor

INVALID_LINK = N_("Dieser Abmeldelink ist ungültig.")


@dataclass(frozen=True, slots=True)
class Subscription:
    """Whose link it is and whether they currently receive the deadline reminders."""

    email: str
    opted_out: bool


def _subscriber(session: Session, token: str) -> Contact | User:
    if not token or len(token) > 64:
        raise NotFound(INVALID_LINK)
    contact = session.scalar(select(Contact).where(Contact.unsubscribe_token == token))
    if contact is not None:
        return contact
    user = session.scalar(select(User).where(User.unsubscribe_token == token))
    if user is None:
        raise NotFound(INVALID_LINK)
    return user


def _state(subscriber: Contact | User) -> Subscription:
    if isinstance(subscriber, Contact):
        return Subscription(subscriber.email, subscriber.opted_out_at is not None)
    return Subscription(subscriber.email, subscriber.reminders_opted_out_at is not None)


def subscription(session: Session, token: str) -> Subscription:
    """The subscription behind an unsubscribe link, read only."""
    return _state(_subscriber(session, token))


def unsubscribe(session: Session, token: str) -> Subscription:
    """Opt the owner of `token` out of deadline reminders (audited); repeating it changes nothing."""
    subscriber = _subscriber(session, token)
    if isinstance(subscriber, Contact):
        return _state(opt_out(session, token))
    if subscriber.reminders_opted_out_at is None:
        subscriber.reminders_opted_out_at = utcnow()
        session.flush()
        chain.append(
            session,
            actor=Actor.system("unsubscribe"),
            action="user.opted_out",
            data={"user": subscriber.id, "email": subscriber.email},
        )
    return _state(subscriber)


def resubscribe(session: Session, token: str) -> Subscription:
    """Receive the deadline reminders again after an opt-out (audited); repeating it changes nothing."""
    subscriber = _subscriber(session, token)
    if isinstance(subscriber, Contact):
        if subscriber.opted_out_at is not None:
            subscriber.opted_out_at = None
            session.flush()
            chain.append(
                session,
                actor=Actor.system("unsubscribe"),
                action="contact.opted_in",
                data={
                    "contact": subscriber.id,
                    "municipality": subscriber.municipality_ags,
                    "email": subscriber.email,
                },
            )
    elif subscriber.reminders_opted_out_at is not None:
        subscriber.reminders_opted_out_at = None
        session.flush()
        chain.append(
            session,
            actor=Actor.system("unsubscribe"),
            action="user.opted_in",
            data={"user": subscriber.id, "email": subscriber.email},
        )
    return _state(subscriber)
