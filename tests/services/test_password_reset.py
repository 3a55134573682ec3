"""Password reset as a service (issue 13, must-hold 7): a request for a known address writes the link, the
email and one audit event in the caller's transaction (an unknown address writes nothing); completing it sets
the password, uses up the link and writes one audit event, all in one transaction."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from ews_cases.errors import ValidationFailed
from ews_cases.models import AuditEvent, OutboxMessage, PasswordResetToken, User
from ews_cases.services.password_reset import ResetLinkInvalid, request_password_reset, reset_password
from ews_cases.services.users import check_password

OLD, NEW = "Der-alte-Schluessel-1", "Ein neuer Satz als Passwort"


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def actions(session) -> list[str]:
    return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def token_of(session) -> str:
    body = session.scalars(select(OutboxMessage.body)).one()
    return re.search(r"/passwort-vergessen/(\S+)", body).group(1)


@pytest.fixture
def person(session, factory) -> User:
    user = factory.user("auditor", password=OLD)
    session.commit()
    return user


def test_a_request_writes_link_email_and_one_event_together(session, person):
    before = actions(session)
    assert request_password_reset(session, "niemand@example.org") is False
    assert (count(session, PasswordResetToken), count(session, OutboxMessage), actions(session)) == (
        0,
        0,
        before,
    )

    assert request_password_reset(session, person.email) is True
    session.rollback()  # the caller's transaction decides: nothing of it stays
    assert (count(session, PasswordResetToken), count(session, OutboxMessage), actions(session)) == (
        0,
        0,
        before,
    )

    assert request_password_reset(session, f"  {person.email.upper()} ") is True
    session.commit()
    assert (count(session, PasswordResetToken), count(session, OutboxMessage)) == (1, 1)
    assert actions(session) == [*before, "user.password_reset_requested"]
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.actor, event.data) == ("system:password-reset-request", {"user": person.id})


def test_a_deactivated_account_gets_no_link(session, person):
    person.active = False
    session.commit()
    assert request_password_reset(session, person.email) is False
    assert count(session, PasswordResetToken) == 0


def test_completing_sets_the_password_and_uses_the_link_with_one_event(session, person):
    request_password_reset(session, person.email)
    session.commit()
    token = token_of(session)
    before = actions(session)
    with pytest.raises(ValidationFailed) as weak:
        reset_password(session, token, "Der-alte")
    assert "zu kurz" in weak.value.errors["new"][0]

    reset_password(session, token, NEW)
    session.rollback()  # rolled back: the old password, the link open, no event
    assert check_password(session.get(User, person.id), OLD)
    assert session.scalars(select(PasswordResetToken.used_at)).one() is None
    assert actions(session) == before

    user = reset_password(session, token, NEW)
    session.commit()
    assert check_password(user, NEW)
    assert not check_password(user, OLD)
    assert actions(session) == [*before, "user.password_reset"]
    with pytest.raises(ResetLinkInvalid) as used:
        reset_password(session, token, NEW + "!")
    assert (used.value.reason, used.value.status) == ("used", 410)
