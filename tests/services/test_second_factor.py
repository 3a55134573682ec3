"""The second factor as a service: enrolment, TOTP codes good once, recovery codes good once, disabling,
the admin's reset — each change with one audit event in the same transaction (issue 13, must-hold 7)."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import func, select

from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.models import AuditEvent, RecoveryCode, User, utcnow
from ews_cases.services.actors import actor_for
from ews_cases.services.second_factor import (
    disable_second_factor,
    enrol_second_factor,
    new_totp_secret,
    provisioning_uri,
    remaining_recovery_codes,
    renew_recovery_codes,
    reset_second_factor,
    use_recovery_code,
    verify_totp,
)
from testkit.factories import SYSTEM

PASSWORD = "Zweiter-Faktor-Test-2025"


def events(session, action: str) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def coordinator(session, factory) -> User:
    user = factory.user("coordinator", password=PASSWORD)
    session.commit()
    return user


def enrol(session, user: User) -> tuple[str, list[str]]:
    secret = new_totp_secret()
    codes = enrol_second_factor(session, actor_for(user), user, secret, pyotp.TOTP(secret).now())
    session.commit()
    return secret, codes


def test_enrolment_needs_a_code_of_the_scanned_secret_and_is_audited_once(session, coordinator):
    secret = new_totp_secret()
    assert provisioning_uri(coordinator, secret).startswith("otpauth://totp/EWS%20Entwicklungswerkstatt:")
    with pytest.raises(ValidationFailed) as refused:
        enrol_second_factor(session, actor_for(coordinator), coordinator, secret, "000000")
    assert "Der Code stimmt nicht" in refused.value.errors["code"][0]
    session.rollback()
    assert session.get(User, coordinator.id).totp_secret is None

    # Rolled back, the enrolment leaves neither secret, codes nor event: one transaction.
    enrol_second_factor(session, actor_for(coordinator), coordinator, secret, pyotp.TOTP(secret).now())
    session.rollback()
    assert session.get(User, coordinator.id).totp_secret is None
    assert events(session, "user.second_factor_enrolled") == []
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0

    codes = enrol_second_factor(
        session, actor_for(coordinator), coordinator, secret, pyotp.TOTP(secret).now()
    )
    session.commit()
    assert len(codes) == len(set(codes)) == 10
    assert all(len(code) == 19 and code.count("-") == 3 for code in codes)
    stored = set(session.scalars(select(RecoveryCode.code_hash)))
    assert not {code.replace("-", "") for code in codes} & stored  # only hashes are kept
    [event] = events(session, "user.second_factor_enrolled")
    assert event.data == {"user": coordinator.id}
    assert event.actor == f"user:{coordinator.id}"
    with pytest.raises(Conflict):
        enrol_second_factor(session, actor_for(coordinator), coordinator, secret, pyotp.TOTP(secret).now())


def test_a_totp_code_counts_once_and_only_within_the_drift(session, coordinator):
    secret, _codes = enrol(session, coordinator)
    totp = pyotp.TOTP(secret)
    later = utcnow() + timedelta(minutes=5)
    assert not verify_totp(session, coordinator, "123")
    assert not verify_totp(session, coordinator, totp.at(later - timedelta(minutes=3)), now=later)
    assert verify_totp(session, coordinator, totp.at(later), now=later)
    assert not verify_totp(session, coordinator, totp.at(later), now=later)  # replayed
    # An earlier step than the one used last is no good either.
    assert not verify_totp(session, coordinator, totp.at(later - timedelta(seconds=30)), now=later)
    next_step = later + timedelta(seconds=30)
    assert verify_totp(session, coordinator, totp.at(next_step), now=next_step)


def test_a_recovery_code_works_once_and_its_use_is_audited(session, coordinator):
    _secret, codes = enrol(session, coordinator)
    actor = actor_for(coordinator)
    assert not use_recovery_code(session, actor, coordinator, "abcd-efgh-jkmn-pqrs")
    assert use_recovery_code(session, actor, coordinator, codes[3].upper().replace("-", " "))
    session.commit()
    assert not use_recovery_code(session, actor, coordinator, codes[3])
    assert remaining_recovery_codes(session, coordinator) == 9
    [event] = events(session, "user.recovery_code_used")
    assert event.data == {"user": coordinator.id, "remaining": 9}

    fresh = renew_recovery_codes(session, actor, coordinator, PASSWORD)
    session.commit()
    assert not use_recovery_code(session, actor, coordinator, codes[4])  # the old ones are void
    assert use_recovery_code(session, actor, coordinator, fresh[0])
    assert len(events(session, "user.recovery_codes_renewed")) == 1


def test_the_person_may_disable_it_unless_the_role_requires_it(app, session, coordinator):
    enrol(session, coordinator)
    with pytest.raises(ValidationFailed):
        disable_second_factor(session, actor_for(coordinator), coordinator, "falsch")
    ews = app.extensions["ews"]
    required = ews.settings.model_copy(update={"require_2fa_roles": "coordinator"})
    original, ews.settings = ews.settings, required
    try:
        with pytest.raises(Conflict):
            disable_second_factor(session, actor_for(coordinator), coordinator, PASSWORD)
    finally:
        ews.settings = original
    disable_second_factor(session, actor_for(coordinator), coordinator, PASSWORD)
    session.commit()
    assert coordinator.totp_secret is None
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert len(events(session, "user.second_factor_disabled")) == 1


def test_only_an_admin_resets_a_second_factor_with_one_audit_event(session, factory, coordinator):
    enrol(session, coordinator)
    admin = factory.user("admin")
    session.commit()
    for role in ("coordinator", "auditor", "applicant"):
        with pytest.raises(Forbidden):
            reset_second_factor(
                session, factory.actor(role, "05966012" if role == "applicant" else None), coordinator
            )
    session.rollback()
    # In the admin's transaction: rolled back, nothing happened.
    assert reset_second_factor(session, actor_for(admin), coordinator) is True
    session.rollback()
    assert session.get(User, coordinator.id).totp_secret is not None
    assert events(session, "user.second_factor_reset") == []

    assert reset_second_factor(session, actor_for(admin), coordinator) is True
    session.commit()
    assert session.get(User, coordinator.id).totp_secret is None
    assert remaining_recovery_codes(session, coordinator) == 0
    [event] = events(session, "user.second_factor_reset")
    assert (event.actor, event.data) == (f"user:{admin.id}", {"user": coordinator.id})
    # Nothing left to reset: no change, no event.
    assert reset_second_factor(session, SYSTEM, coordinator) is False
    session.commit()
    assert len(events(session, "user.second_factor_reset")) == 1
