"""The services the periodic tasks call: starting due cohorts and issuing the certificates still due."""

from __future__ import annotations

from sqlalchemy import select

from ews_cases.models import AuditEvent, Case, Certificate
from ews_cases.services import cohorts
from ews_cases.services.certificates import issue_case_certificates, issue_due_certificates
from ews_cases.services.cohorts import start_due_cases
from testkit.factories import BONN, DUESSELDORF, FINNENTROP
from workflows import Actor, Refusal, RefusalKind, State, TransitionRefused

ISSUER = Actor.system("issue_certificates")


def state_of(session, case: Case) -> str:
    session.commit()
    session.expire_all()
    return session.scalar(select(Case.state).where(Case.id == case.id))


def test_start_due_cases_starts_admitted_cases_of_started_cohorts_only(session, factory, db):
    cohort, later = factory.cohort(), factory.cohort()
    due = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    waiting = factory.case(later, FINNENTROP, state=State.ADMITTED)
    reviewed = factory.case(cohort, BONN, state=State.REVIEWED)
    later.starts_on = cohort.starts_on + (cohort.starts_on - factory.now.date())
    session.commit()

    assert start_due_cases(db, factory.after_start(due)) == 1

    assert state_of(session, due) == State.ATTENDING
    assert state_of(session, waiting) == State.ADMITTED
    assert state_of(session, reviewed) == State.REVIEWED
    actor = session.scalar(
        select(AuditEvent.actor).where(AuditEvent.case_id == due.id, AuditEvent.action == "transition.start")
    )
    assert actor == "system:start_cohorts"
    assert start_due_cases(db, factory.after_start(due)) == 0  # a rerun finds nothing left to start


def test_start_due_cases_before_the_start_date_starts_nothing(session, factory, db):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.ADMITTED)
    session.commit()
    assert start_due_cases(db, factory.now) == 0
    assert state_of(session, case) == State.ADMITTED


def test_a_refused_start_is_skipped_and_the_others_start(session, factory, db, monkeypatch):
    cohort = factory.cohort()
    refused = factory.case(cohort, FINNENTROP, state=State.ADMITTED)
    started = factory.case(cohort, DUESSELDORF, state=State.ADMITTED)
    session.commit()
    apply = cohorts.apply_transition

    def refuse_one(session, case, *args, **kwargs):
        if case.id == refused.id:
            raise TransitionRefused("start", [Refusal(RefusalKind.GUARD_FAILED, "not_started", "noch nicht")])
        return apply(session, case, *args, **kwargs)

    monkeypatch.setattr(cohorts, "apply_transition", refuse_one)
    assert start_due_cases(db, factory.after_start(started)) == 1
    assert state_of(session, refused) == State.ADMITTED
    assert state_of(session, started) == State.ATTENDING


def test_issue_due_certificates_certifies_every_case_left_in_project_done(session, factory, db):
    cohort = factory.cohort()
    factory.workshop(cohort)
    first = factory.case(cohort, FINNENTROP, state=State.PROJECT_DONE)
    second = factory.case(cohort, BONN, state=State.PROJECT_DONE)
    attending = factory.case(cohort, DUESSELDORF, state=State.ATTENDING)
    session.commit()

    assert issue_due_certificates(db, ISSUER) == 4  # two eligible members each

    assert {state_of(session, case) for case in (first, second)} == {State.CERTIFIED}
    assert state_of(session, attending) == State.ATTENDING
    holders = session.scalars(
        select(Certificate.case_id).where(Certificate.case_id.in_([first.id, second.id]))
    )
    assert sorted(holders) == sorted([first.id, first.id, second.id, second.id])
    assert issue_due_certificates(db, ISSUER) == 0  # a rerun issues nothing twice


def test_issue_case_certificates_counts_nothing_for_other_states_and_unknown_cases(session, factory):
    case = factory.case(factory.cohort(), FINNENTROP, state=State.ATTENDING)
    assert issue_case_certificates(session, case.id, ISSUER) == 0
    assert issue_case_certificates(session, case.id + 1000, ISSUER) == 0
    assert case.state == State.ATTENDING
