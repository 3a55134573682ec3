"""Invitations and access requests (issue 13, must-holds 2 and 7): who may invite whom, an address with an
account is refused, an open invitation is renewed, a link works once and expires; a reminder scan invites a
contact without an account once per cohort; every state change appends exactly one event of its action in
the same transaction (nothing when refused)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ews_cases.audit.queries import resolved_data
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.models import GLOBAL_CHAIN, AuditEvent, Invitation, OutboxMessage, utcnow
from ews_cases.services import invitations
from ews_cases.services.access_requests import (
    confirm_access_request,
    decline_access_request,
    request_access,
)
from ews_cases.services.actors import actor_for
from ews_cases.services.contacts import add_contact
from ews_cases.services.invitations import (
    InvitationInvalid,
    accept_invitation,
    expire_invitations,
    invite,
    open_invitation,
)
from ews_cases.services.reminders import run_reminder_scan
from ews_cases.services.users import hash_token
from testkit.factories import ATTENDORN, FINNENTROP, SYSTEM
from tests.services.test_reminder_rules import at, deadline_cohort

PASSWORD = "Ein langer Satz als Passwort"
LINK = re.compile(r"https?://[^/\s]+/zugang/([A-Za-z0-9_\-]+)")


def counts(session) -> dict[str, int]:
    rows = session.execute(select(AuditEvent.action, func.count()).group_by(AuditEvent.action)).all()
    return dict(rows)


def new_events(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {a: n - before.get(a, 0) for a, n in after.items() if n != before.get(a, 0)}


def mailed_token(session, address: str, kind: str = "invitation") -> str:
    body = session.scalars(
        select(OutboxMessage.body)
        .where(OutboxMessage.recipient == address, OutboxMessage.kind == kind)
        .order_by(OutboxMessage.id.desc())
    ).first()
    assert body is not None, f"no {kind} to {address}"
    found = LINK.search(body)
    assert found, body
    return found.group(1)


@pytest.fixture
def coordinator(session, factory):
    return actor_for(factory.user("coordinator"))


def test_an_invitation_is_sent_accepted_once_and_audited_once_each(session, coordinator):
    before = counts(session)
    invitation = invite(
        session,
        coordinator,
        email=" Erika@Finnentrop.example ",
        name="Erika",
        role="applicant",
        municipality_ags=FINNENTROP,
    )
    assert new_events(before, counts(session)) == {"invitation.sent": 1}
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "invitation.sent")).one()
    assert event.chain == GLOBAL_CHAIN
    assert resolved_data(session, event.data)["email"] == "erika@finnentrop.example"
    token = mailed_token(session, "erika@finnentrop.example")
    assert invitation.token_hash == hash_token(token)
    assert token not in {invitation.token_hash, invitation.token_salt}  # only the hash and a salt are stored
    session.commit()

    with pytest.raises(ValidationFailed):  # the password rules apply; nothing changes
        accept_invitation(session, token, "kurz")
    session.rollback()
    before = counts(session)
    user = accept_invitation(session, token, PASSWORD)
    assert new_events(before, counts(session)) == {"invitation.accepted": 1}
    assert (user.role, user.municipality_ags, user.email) == (
        "applicant",
        FINNENTROP,
        "erika@finnentrop.example",
    )
    session.commit()
    with pytest.raises(InvitationInvalid) as used:
        accept_invitation(session, token, PASSWORD + "!")
    assert (used.value.reason, used.value.status) == ("used", 410)
    assert "nur einmal" in used.value.render(lambda m, **p: m.format(**p))


def test_an_address_with_an_account_is_refused_and_nothing_is_written(session, factory, coordinator):
    person = factory.user("reviewer")
    session.commit()
    before = counts(session)
    with pytest.raises(Conflict) as refused:
        invite(session, coordinator, email=person.email.upper(), name="X", role="reviewer")
    assert "bereits einen Zugang" in str(refused.value)
    session.rollback()
    assert counts(session) == before
    assert session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_who_may_invite_whom(session, factory, coordinator):
    applicant = actor_for(factory.user("applicant", FINNENTROP))
    auditor = actor_for(factory.user("auditor"))
    admin = actor_for(factory.user("admin"))
    for actor in (applicant, auditor):
        with pytest.raises(Forbidden):
            invite(
                session, actor, email="a@example.org", name="A", role="applicant", municipality_ags=ATTENDORN
            )
    with pytest.raises(Forbidden, match="nur Administratorinnen"):
        invite(session, coordinator, email="b@example.org", name="B", role="admin")
    assert invite(session, admin, email="b@example.org", name="B", role="admin").role == "admin"
    for role in ("reviewer", "coordinator", "auditor"):
        assert invite(session, coordinator, email=f"{role}@example.org", name="C", role=role).role == role
    with pytest.raises(ValidationFailed) as invalid:
        invite(session, coordinator, email="d@example.org", name="D", role="applicant")
    assert "municipality" in invalid.value.errors


def test_a_second_invitation_renews_the_open_one(session, coordinator):
    first = invite(session, coordinator, email="x@example.org", name="X", role="reviewer")
    token = mailed_token(session, "x@example.org")
    second = invite(
        session,
        coordinator,
        email="x@example.org",
        name="X Y",
        role="auditor",
        now=utcnow() + timedelta(days=3),
    )
    assert second.id == first.id
    assert (second.name, second.role) == ("X Y", "auditor")
    assert session.scalar(select(func.count()).select_from(Invitation)) == 1
    assert mailed_token(session, "x@example.org") == token  # the same link, mailed again
    assert (
        session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "invitation")
        )
        == 2
    )


def test_an_expired_invitation_is_refused_and_the_task_marks_it_once(session, coordinator):
    invite(
        session, coordinator, email="late@example.org", name="L", role="applicant", municipality_ags=ATTENDORN
    )
    token = mailed_token(session, "late@example.org")
    session.commit()
    later = utcnow() + timedelta(days=15)
    with pytest.raises(InvitationInvalid) as expired:
        accept_invitation(session, token, PASSWORD, now=later)
    assert (expired.value.reason, expired.value.status) == ("expired", 410)
    session.rollback()
    before = counts(session)
    assert expire_invitations(session, later) == 1
    assert expire_invitations(session, later) == 0
    assert new_events(before, counts(session)) == {"invitation.expired": 1}
    with pytest.raises(InvitationInvalid):
        accept_invitation(session, token, PASSWORD)
    with pytest.raises(InvitationInvalid) as unknown:
        accept_invitation(session, "nichts", PASSWORD)
    assert unknown.value.status == 404


def test_access_requests_are_confirmed_or_declined_with_one_event_each(session, coordinator):
    before = counts(session)
    one = request_access(
        session, name="Olaf", email="olaf@olpe.example", municipality_ags="05966024", position="Ehrenamtsbüro"
    )
    two = request_access(
        session,
        name="Berta",
        email="berta@bonn.example",
        municipality_ags="05314000",
        position="Stabsstelle",
        message="Bitte!",
    )
    assert new_events(before, counts(session)) == {"access_request.received": 2}
    with pytest.raises(ValidationFailed) as invalid:
        request_access(session, name="", email="kein", municipality_ags="99999999", position="")
    assert set(invalid.value.errors) == {"name", "email", "municipality", "position"}

    before = counts(session)
    invitation = confirm_access_request(session, coordinator, one)
    assert new_events(before, counts(session)) == {"invitation.sent": 1, "access_request.confirmed": 1}
    assert (invitation.municipality_ags, invitation.role, one.status) == (
        "05966024",
        "applicant",
        "confirmed",
    )
    assert mailed_token(session, "olaf@olpe.example")

    before = counts(session)
    with pytest.raises(ValidationFailed):
        decline_access_request(session, coordinator, two, "  ")
    decline_access_request(session, coordinator, two, "Die Kommune nimmt bereits teil.")
    assert new_events(before, counts(session)) == {"access_request.declined": 1}
    letter = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "access_declined")).one()
    assert letter.recipient == "berta@bonn.example"
    assert "Die Kommune nimmt bereits teil." in letter.body
    assert "/zugang/" not in letter.body
    with pytest.raises(Conflict, match="bereits entschieden"):
        confirm_access_request(session, coordinator, two)


def test_auditors_and_applicants_decide_no_request(session, factory):
    request = request_access(
        session, name="Olaf", email="olaf@olpe.example", municipality_ags="05966024", position="Büro"
    )
    for role, ags in (("auditor", None), ("applicant", FINNENTROP)):
        actor = actor_for(factory.user(role, ags))
        with pytest.raises(Forbidden):
            confirm_access_request(session, actor, request)
        with pytest.raises(Forbidden):
            decline_access_request(session, actor, request, "Nein.")
    assert request.status == "pending"


# -- reminders lead somewhere (must-hold 2) ----------------------------------------------------------------


def test_a_contact_without_an_account_gets_one_invitation_link_per_cohort(session, factory):
    cohort = deadline_cohort(factory)
    other = deadline_cohort(factory)
    contact = add_contact(session, SYSTEM, FINNENTROP, "Fritz Kontakt", "fritz@finnentrop.example")
    applicant = factory.user("applicant", ATTENDORN)
    add_contact(session, SYSTEM, ATTENDORN, "Anna Antrag", applicant.email)
    session.commit()
    deadline = cohort.application_deadline
    links: list[str] = []
    for days in (14, 14, 7, 3):  # repeated scans on one day and on later reminder days
        run_reminder_scan(session, at(deadline - timedelta(days=days)))
        session.commit()
    bodies = session.scalars(
        select(OutboxMessage.body)
        .where(
            OutboxMessage.recipient == "fritz@finnentrop.example", OutboxMessage.kind == "deadline_reminder"
        )
        .order_by(OutboxMessage.id)
    ).all()
    assert len(bodies) == 6  # three reminder days × two cohorts
    links = [LINK.search(body).group(1) for body in bodies]
    assert len(set(links)) == 2  # one link per cohort, the same in every reminder of it
    invitations = session.scalars(select(Invitation).where(Invitation.contact_id == contact.id)).all()
    assert sorted(i.cohort_id for i in invitations) == sorted([cohort.id, other.id])
    assert all(i.status == "open" and i.municipality_ags == FINNENTROP for i in invitations)
    reminded = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "reminders.queued").order_by(AuditEvent.id)
    ).all()
    assert [e.data.get("invitations", 0) for e in reminded if e.cohort_number == cohort.number] == [1, 0, 0]
    # The contact with an account gets the form's link, no invitation.
    own = session.scalars(
        select(OutboxMessage.body).where(OutboxMessage.recipient == applicant.email)
    ).first()
    assert "/bewerbungen/neu?durchgang=" in own
    assert "/zugang/" not in own

    user = accept_invitation(session, links[0], PASSWORD)
    session.commit()
    assert (user.role, user.municipality_ags) == ("applicant", FINNENTROP)
    run_reminder_scan(session, at(deadline - timedelta(days=1), 12))
    session.commit()
    assert (
        session.scalar(
            select(func.count()).select_from(Invitation).where(Invitation.contact_id == contact.id)
        )
        == 2
    )


def test_after_a_key_rotation_the_mailed_link_works_until_a_renewal_mails_a_new_one(
    session, coordinator, monkeypatch, app
):
    invite(session, coordinator, email="rot@example.org", name="R", role="reviewer")
    old = mailed_token(session, "rot@example.org")
    rotated = app.extensions["ews"].settings.model_copy(update={"secret_key": "k" * 48})
    monkeypatch.setattr(invitations, "current_settings", lambda: rotated)
    assert open_invitation(session, old).email == "rot@example.org"  # looked up by its hash alone
    later = utcnow() + timedelta(seconds=1)
    invite(session, coordinator, email="rot@example.org", name="R", role="reviewer", now=later)
    new = mailed_token(session, "rot@example.org")
    assert new != old
    with pytest.raises(InvitationInvalid) as unknown:
        accept_invitation(session, old, PASSWORD)
    assert unknown.value.reason == "unknown"
    assert accept_invitation(session, new, PASSWORD).email == "rot@example.org"
