"""Account administration services: one audit event per change in the caller's transaction (issue 13,
must-hold 7), who may change whom, the last active admin, searching, and token expiry in the one query of
`user_for_token`."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from ews_cases.audit.queries import resolved_data
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.models import GLOBAL_CHAIN, ApiToken, AuditEvent, User, utcnow
from ews_cases.services.accounts import (
    LAST_ADMIN,
    change_access,
    deactivate_user,
    find_users,
    new_token,
    reactivate_user,
    revoke_api_token,
    token_expiry,
)
from ews_cases.services.actors import actor_for
from ews_cases.services.users import user_for_token
from testkit.factories import ATTENDORN, FINNENTROP, SYSTEM
from workflows import BERLIN, Actor

# -- one audit event per change, in the same transaction -------------------------------------------------------


def global_events(session: Session) -> list[AuditEvent]:
    return list(
        session.scalars(select(AuditEvent).where(AuditEvent.chain == GLOBAL_CHAIN).order_by(AuditEvent.id))
    )


class Change:
    """An operation of the admin pages, API and command line: how to do it, the event it must record, and
    how to see from another connection whether its effect is stored."""

    def __init__(
        self,
        name: str,
        action: str,
        do: Callable[[Session, Actor, User], object],
        stored: Callable[[Session, User], bool],
        data: Callable[[Session, User], dict[str, object]],
        arrange: Callable[[Session, User], None] = lambda session, user: None,
    ) -> None:
        self.name, self.action, self.do, self.stored, self.data, self.arrange = (
            name,
            action,
            do,
            stored,
            data,
            arrange,
        )

    def __repr__(self) -> str:
        return self.name


def _role(session: Session, user: User) -> str:
    return session.scalar(select(User.role).where(User.id == user.id)) or ""


def _active(session: Session, user: User) -> bool:
    return bool(session.scalar(select(User.active).where(User.id == user.id)))


def _tokens(session: Session, user: User, *, revoked: bool) -> int:
    condition = ApiToken.revoked_at.is_not(None) if revoked else ApiToken.revoked_at.is_(None)
    return session.scalar(select(func.count()).where(ApiToken.user_id == user.id, condition)) or 0


def _spare_token(session: Session, user: User) -> None:
    new_token(session, SYSTEM, user, name="alt")


def _first_token(session: Session, user: User) -> int:
    return session.scalars(
        select(ApiToken.id).where(ApiToken.user_id == user.id).order_by(ApiToken.id)
    ).first()


CHANGES = [
    Change(
        "role changed",
        "user.role_changed",
        lambda s, a, u: change_access(
            s, a, u, role="applicant", municipality_ags=ATTENDORN, reason="Wechsel"
        ),
        lambda s, u: _role(s, u) == "applicant",
        lambda s, u: {
            "user": u.id,
            "changes": {
                "role": {"old": "reviewer", "new": "applicant"},
                "municipality": {"old": FINNENTROP, "new": ATTENDORN},
            },
            "reason": "Wechsel",
        },
    ),
    Change(
        "deactivated",
        "user.deactivated",
        lambda s, a, u: deactivate_user(s, a, u),
        lambda s, u: not _active(s, u),
        lambda s, u: {"user": u.id},
    ),
    Change(
        "reactivated",
        "user.reactivated",
        lambda s, a, u: reactivate_user(s, a, u, reason="Rückkehr aus der Elternzeit"),
        lambda s, u: _active(s, u),
        lambda s, u: {"user": u.id, "reason": "Rückkehr aus der Elternzeit"},
        arrange=lambda s, u: deactivate_user(s, SYSTEM, u),
    ),
    Change(
        "token created",
        "token.created",
        lambda s, a, u: new_token(s, a, u, name="Fachverfahren", expires=date(2099, 12, 31)),
        lambda s, u: _tokens(s, u, revoked=False) == 1,
        lambda s, u: {
            "user": u.id,
            "name": "Fachverfahren",
            "expires_at": "2099-12-31T22:59:59.999999Z",
            "token": _first_token(s, u),
        },
    ),
    Change(
        "token revoked",
        "token.revoked",
        lambda s, a, u: revoke_api_token(s, a, _first_token(s, u)),
        lambda s, u: _tokens(s, u, revoked=True) == 1,
        lambda s, u: {"user": u.id, "token": _first_token(s, u)},
        arrange=_spare_token,
    ),
]


@pytest.mark.parametrize("change", CHANGES, ids=repr)
def test_each_change_appends_one_event_in_the_callers_transaction(database, session, factory, change):
    admin = factory.user("admin")
    person = factory.user("reviewer", FINNENTROP)
    change.arrange(session, person)
    session.commit()
    actor = actor_for(admin)
    before = len(global_events(session))
    session.commit()

    def attempt() -> list[AuditEvent]:
        change.do(session, actor, person)
        session.flush()
        return global_events(session)[before:]

    # Inside the transaction: the change and exactly one event, neither visible to anybody else yet.
    new = attempt()
    assert [e.action for e in new] == [change.action]
    assert new[0].actor == actor.label
    with database.sessionmaker() as other:
        assert not change.stored(other, person)
        assert len(global_events(other)) == before
    # Rolled back: both are gone together.
    session.rollback()
    session.expire_all()
    assert not change.stored(session, person)
    assert len(global_events(session)) == before
    session.commit()
    # Committed: both are there together.
    new = attempt()
    session.commit()
    with database.sessionmaker() as other:
        assert change.stored(other, person)
        stored = global_events(other)[before:]
        assert [e.action for e in stored] == [change.action]
        assert resolved_data(session, stored[0].data) == change.data(other, person)


def test_a_change_that_changes_nothing_records_nothing(session, factory):
    admin = actor_for(factory.user("admin"))
    person = factory.user("reviewer", FINNENTROP)
    token = new_token(session, SYSTEM, person).record
    revoke_api_token(session, SYSTEM, token.id)
    session.commit()
    before = len(global_events(session))
    change_access(session, admin, person, role="reviewer", municipality_ags=FINNENTROP)
    reactivate_user(session, admin, person)
    revoke_api_token(session, admin, token.id)
    deactivate_user(session, admin, person)
    deactivate_user(session, admin, person)
    assert [e.action for e in global_events(session)[before:]] == ["user.deactivated"]


# -- who may change whom ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["applicant", "reviewer", "coordinator", "auditor"])
def test_only_admins_and_the_system_administer_accounts(session, factory, role):
    actor = factory.actor(role, FINNENTROP if role == "applicant" else None)
    person = factory.user("reviewer")
    token = new_token(session, SYSTEM, person).record
    session.commit()
    for attempt in (
        lambda: change_access(session, actor, person, role="auditor", municipality_ags=None),
        lambda: deactivate_user(session, actor, person),
        lambda: new_token(session, actor, person, name="x"),
        lambda: revoke_api_token(session, actor, token.id),
    ):
        with pytest.raises(Forbidden):
            attempt()
    session.rollback()
    assert person.role == "reviewer"
    assert person.active


def test_admins_neither_deactivate_themselves_nor_change_their_own_role(session, factory):
    admin = factory.user("admin")
    factory.user("admin")  # not the last one: only the self rule can refuse
    session.commit()
    me = actor_for(admin)
    with pytest.raises(Conflict, match="eigenen Zugang"):
        deactivate_user(session, me, admin)
    with pytest.raises(Conflict, match="eigene Rolle"):
        change_access(session, me, admin, role="auditor", municipality_ags=None)
    # Their own affiliation is no privilege: that they may change.
    change_access(session, me, admin, role="admin", municipality_ags=ATTENDORN)
    assert (admin.role, admin.municipality_ags, admin.active) == ("admin", ATTENDORN, True)


def test_the_last_active_admin_stays(session, factory):
    admin = factory.user("admin")
    former = factory.user("admin")
    session.commit()
    deactivate_user(session, SYSTEM, former)  # another is left
    with pytest.raises(Conflict) as refused:
        deactivate_user(session, SYSTEM, admin)
    assert refused.value.message == LAST_ADMIN
    with pytest.raises(Conflict):
        change_access(session, SYSTEM, admin, role="coordinator", municipality_ags=None)
    assert (admin.role, admin.active) == ("admin", True)
    # With a second active admin again, the first may go.
    reactivate_user(session, SYSTEM, former)
    change_access(session, SYSTEM, admin, role="coordinator", municipality_ags=None)
    assert admin.role == "coordinator"


def test_two_admins_removing_each_other_at_once_leave_one(database, session, factory):
    """The admins' rows are locked: without the lock both would see the other as remaining and succeed."""
    first, second = factory.user("admin"), factory.user("admin")
    session.commit()
    for _round in range(10):
        assert sorted(_remove_each_other(database, first.id, second.id)) == ["refused", "removed"]
        session.execute(update(User).where(User.role == "admin").values(active=True))
        session.commit()


def _remove_each_other(database, first_id: int, second_id: int) -> list[str]:
    """Each of two admins deactivates the other at the same moment; returns both outcomes."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def remove(actor_id: int, target_id: int) -> None:
        if database.is_sqlite:
            barrier.wait()  # SQLite writers take the write lock at BEGIN: the race starts before it
        with database.session(write=True) as own:
            actor, target = own.get(User, actor_id), own.get(User, target_id)
            if not database.is_sqlite:
                barrier.wait()  # both have read both admins as active
            try:
                deactivate_user(own, actor_for(actor), target)
                own.commit()
                outcomes.append("removed")
            except Conflict:
                own.rollback()
                outcomes.append("refused")

    threads = [
        threading.Thread(target=remove, args=(first_id, second_id)),
        threading.Thread(target=remove, args=(second_id, first_id)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_role_and_municipality_are_checked_like_a_new_users(session, factory):
    person = factory.user("reviewer", FINNENTROP)
    session.commit()
    for role, ags, field in [
        ("applicant", None, "municipality"),
        ("king", None, "role"),
        ("reviewer", "05999999", "municipality"),
    ]:
        with pytest.raises(ValidationFailed) as refused:
            change_access(session, SYSTEM, person, role=role, municipality_ags=ags)
        assert field in refused.value.errors
    assert (person.role, person.municipality_ags) == ("reviewer", FINNENTROP)


# -- finding people --------------------------------------------------------------------------------------------


def test_find_users_by_name_email_role_municipality_and_status(session, factory):
    from ews_cases.services.users import create_user

    def make(name: str, email: str, role: str, ags: str | None) -> User:
        return create_user(session, SYSTEM, email=email, name=name, role=role, municipality_ags=ags)

    jurgen = make("Jürgen Özdemir", "j.oezdemir@finnentrop.de", "applicant", FINNENTROP)
    ute = make("Ute Umlauf", "ute@attendorn.de", "reviewer", ATTENDORN)
    percent = make("Hundert Prozent", "100%@example.org", "coordinator", None)
    deactivate_user(session, SYSTEM, ute)
    session.commit()

    def names(**criteria: str) -> list[str]:
        return sorted(session.scalars(find_users(**criteria).with_only_columns(User.name)))

    assert names(text="JÜRGEN") == ["Jürgen Özdemir"]  # umlauts fold in any case
    assert names(text="özdemir") == ["Jürgen Özdemir"]
    assert names(text="ATTENDORN.DE") == ["Ute Umlauf"]
    assert names(text="%") == [percent.name]  # a wildcard is searched for as itself
    assert names(role="reviewer") == [ute.name]
    assert names(municipality="finnen") == [jurgen.name]
    assert names(municipality="05966004") == [ute.name]  # the AGS, or its start
    assert names(municipality="059660") == sorted([jurgen.name, ute.name])
    assert names(status="inactive") == [ute.name]
    assert ute.name not in names(status="active")
    assert names(text="u", role="reviewer", status="active") == []


# -- token expiry ----------------------------------------------------------------------------------------------


def test_a_date_means_through_the_end_of_that_day_in_berlin():
    assert token_expiry(date(2027, 6, 30)) == datetime(2027, 6, 30, 23, 59, 59, 999_999, tzinfo=BERLIN)
    moment = datetime(2027, 6, 30, 12, 0, tzinfo=BERLIN)
    assert token_expiry(moment) == moment
    assert token_expiry(None) is None
    with pytest.raises(ValidationFailed) as refused:
        token_expiry(datetime(2027, 6, 30, 12, 0))  # no offset: which 12 o'clock?
    assert "expires_at" in refused.value.errors


def test_a_past_expiry_is_refused_and_records_nothing(session, factory):
    person = factory.user("reviewer")
    session.commit()
    before = len(global_events(session))
    for past in (date(2020, 1, 1), utcnow() - timedelta(seconds=1)):
        with pytest.raises(ValidationFailed) as refused:
            new_token(session, SYSTEM, person, expires=past)
        assert refused.value.errors == {"expires_at": ["Das Ablaufdatum muss in der Zukunft liegen."]}
    assert len(global_events(session)) == before
    # Today counts as the future until midnight in Berlin.
    assert new_token(session, SYSTEM, person, expires=utcnow().astimezone(BERLIN).date()).record.expires_at


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements sent through the session's connection inside the block."""
    seen: list[str] = []
    connection = session.connection()  # the transaction has begun: its BEGIN is not counted

    def note(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(statement)

    event.listen(connection, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", note)


def test_an_expired_token_is_refused_like_a_revoked_one_in_one_round_trip(session, factory):
    person = factory.user("reviewer")
    valid = new_token(session, SYSTEM, person, expires=utcnow() + timedelta(hours=1))
    expiring = new_token(session, SYSTEM, person, expires=utcnow() + timedelta(hours=1))
    revoked = new_token(session, SYSTEM, person)
    forever = new_token(session, SYSTEM, person)
    revoke_api_token(session, SYSTEM, revoked.record.id)
    session.commit()
    assert user_for_token(session, expiring.secret) is not None
    # The clock passes the expiry (moved in the database: nobody may issue a token that has expired).
    session.execute(
        update(ApiToken)
        .where(ApiToken.id == expiring.record.id)
        .values(expires_at=utcnow() - timedelta(microseconds=1))
    )
    session.commit()
    session.expire_all()
    expected = {
        valid.secret: person.id,
        expiring.secret: None,
        revoked.secret: None,
        forever.secret: person.id,
    }
    expected["unknown"] = None
    for secret, owner in expected.items():
        with statements(session) as sent:
            found = user_for_token(session, secret)
        assert (found.id if found else None) == owner
        assert len(sent) == 1, sent  # the API's every request: one query, whatever the answer
    now = utcnow()
    assert session.get(ApiToken, expiring.record.id).status_at(now) == "expired"
    assert session.get(ApiToken, revoked.record.id).status_at(now) == "revoked"
    assert session.get(ApiToken, valid.record.id).status_at(now) == "active"
    # The same rule in SQL and in Python.
    usable = set(session.scalars(select(ApiToken.id).where(ApiToken.valid_at(now))))
    assert usable == {t.id for t in session.scalars(select(ApiToken)) if t.valid_at(now)}
    assert usable == {valid.record.id, forever.record.id}
