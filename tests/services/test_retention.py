"""Must-hold 3 of issue 17: retention erases each due subject once, with one event; legal holds are respected."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ews_cases.audit.chain import verify_database
from ews_cases.models import AuditEvent, Case
from ews_cases.services.privacy import lift_legal_hold, set_legal_hold
from ews_cases.services.retention import UNSUCCESSFUL, apply_retention
from testkit.factories import ATTENDORN, FINNENTROP
from tests.conftest import BACKEND
from workflows import State


def erasures(session) -> list[int | None]:
    return list(session.scalars(select(AuditEvent.case_id).where(AuditEvent.action == "privacy.erased")))


@pytest.fixture
def rejected(session, factory):
    cohort = factory.cohort()
    first = factory.case(cohort, FINNENTROP, state=State.REJECTED)
    second = factory.case(cohort, ATTENDORN, state=State.WITHDRAWN)
    session.commit()
    return first, second


def test_retention_twice_erases_each_case_once_and_respects_a_legal_hold(session, factory, rejected):
    first, second = rejected
    later = factory.now + timedelta(days=400)
    set_legal_hold(session, second, factory.coordinator(), "Widerspruchsverfahren")
    session.commit()
    assert apply_retention(session, factory.now).total == 0  # not yet due
    report = apply_retention(session, later)
    session.commit()
    assert (report.erased, report.held) == ({UNSUCCESSFUL: 1}, 1)
    assert apply_retention(session, later).total == 0
    session.commit()
    assert erasures(session) == [first.id]
    assert session.get(Case, second.id).contact_name != ""
    lift_legal_hold(session, second, factory.coordinator(), "Verfahren beendet")
    assert apply_retention(session, later).erased == {UNSUCCESSFUL: 1}
    session.commit()
    assert sorted(erasures(session)) == sorted([first.id, second.id])
    assert verify_database(session).ok


@pytest.mark.skipif(BACKEND != "postgresql", reason="two writers at once need PostgreSQL's row locks")
def test_two_retention_runs_at_once_erase_each_case_once(session, factory, rejected, database):
    later = factory.now + timedelta(days=400)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with database.transaction() as own:
                barrier.wait()
                apply_retention(own, later)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    session.expire_all()
    assert sorted(erasures(session)) == sorted(c.id for c in rejected)
    assert session.scalar(select(func.count()).where(AuditEvent.action == "privacy.erased")) == 2
    assert verify_database(session).ok


def test_an_opted_out_contact_is_deleted_and_the_opt_out_still_holds(session, factory):
    from ews_cases.errors import Conflict
    from ews_cases.models import Contact
    from ews_cases.services.contacts import add_contact, opt_out

    office = factory.coordinator()
    contact = add_contact(session, office, ATTENDORN, "Olga Abgemeldet", "olga@attendorn.example")
    opt_out(session, contact.unsubscribe_token)
    report = apply_retention(session, factory.now)
    session.commit()
    assert report.erased.get("retention.opted_out_contact") == 1
    assert "olga" not in repr(session.execute(select(Contact.name, Contact.email)).all()).lower()
    with pytest.raises(Conflict):
        add_contact(session, office, ATTENDORN, "Olga Abgemeldet", "olga@attendorn.example")
    session.rollback()
    assert apply_retention(session, factory.now).erased.get("retention.opted_out_contact") is None
    assert verify_database(session).ok
