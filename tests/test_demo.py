"""`ews demo`: real cohorts 1–5, an open cohort 6 and demo users, all through the services, loaded once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, table
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.demo.data import (
    DEMO_USERS,
    HISTORIC_COHORTS,
    ILLUSTRATIVE_OUTCOMES,
    OPEN_CASES,
    PASSWORD,
)
from ews_cases.demo.loader import load_demo
from ews_cases.models import (
    AccessRequest,
    AuditEvent,
    Base,
    Case,
    Certificate,
    Cohort,
    CohortSession,
    Invitation,
    Municipality,
    OutboxMessage,
    Review,
    TeamMember,
    User,
    utcnow,
)
from ews_cases.services.users import check_password
from tests.conftest import reset_database
from tests.test_cli_users import ews

EXPECTED_STATES = {
    1: {"certified": 10, "dropped_out": 1},
    2: {"certified": 10, "rejected": 1},
    3: {"certified": 10},
    4: {"certified": 8, "rejected": 1, "withdrawn": 1},
    5: {"certified": 17},
    6: {"draft": 2, "submitted": 3, "reviewed": 1},
}


@pytest.fixture(scope="module")
def demo(database) -> str:
    """The demo loaded once for this module (about 3 s); the tests below only read, or load again."""
    reset_database(database)
    with database.transaction() as session:
        summary = load_demo(session)
    return summary


@pytest.fixture
def loaded(demo: str, database) -> Iterator[Session]:
    with database.sessionmaker() as session:
        yield session


def _cohorts(session) -> dict[int, Cohort]:
    return {c.number: c for c in session.scalars(select(Cohort))}


def _states(session) -> dict[int, dict[str, int]]:
    rows = session.execute(
        select(Cohort.number, Case.state, func.count()).join(Case.cohort).group_by(Cohort.number, Case.state)
    ).all()
    states: dict[int, dict[str, int]] = {}
    for number, state, count in rows:
        states.setdefault(number, {})[state] = count
    return states


def _row_counts(session) -> dict[str, int]:
    return {
        t.name: session.scalar(select(func.count()).select_from(table(t.name)))
        for t in Base.metadata.sorted_tables
    }


def test_demo_loads_the_programme_history_and_an_open_cohort(loaded, demo):
    session, summary = loaded, demo

    cohorts = _cohorts(session)
    assert sorted(cohorts) == [1, 2, 3, 4, 5, 6]
    years = {n: (c.starts_on.year, c.ends_on.year) for n, c in cohorts.items()}
    assert years == {
        1: (2011, 2013),
        2: (2014, 2015),
        3: (2016, 2016),
        4: (2017, 2019),
        5: (2023, 2025),
        6: (2027, 2028),
    }
    assert [cohorts[n].region for n in range(1, 7)] == [None, None, "Arnsberg", None, None, None]
    assert cohorts[4].application_deadline == date(2017, 6, 30)
    fifth = cohorts[5]
    assert (fifth.capacity, fifth.funding_eur) == (17, Decimal("130000"))
    assert (fifth.ceremony_on, fifth.ceremony_place) == (date(2025, 5, 16), "Siegburg")

    sixth = cohorts[6]
    assert sixth.application_deadline == date(2027, 6, 30)
    assert (sixth.starts_on, sixth.ends_on) == (date(2027, 9, 1), date(2028, 12, 31))
    assert sixth.applications_open_at < utcnow()
    # Open now; after the deadline has really passed, it was at least open up to it.
    assert sixth.is_open(min(utcnow(), sixth.deadline_at))
    kinds = Counter(session.scalars(select(CohortSession.kind).where(CohortSession.cohort_id == sixth.id)))
    assert kinds == {"fachtagung": 1, "workshop": 4, "abschluss": 1}

    assert _states(session) == EXPECTED_STATES
    assert chain.verify_database(session).ok
    assert "bereits" not in summary
    # /programm/zugaenge shows something: an open invitation and a request for access.
    [invited] = session.scalars(select(Invitation).where(Invitation.status == "open")).all()
    assert (invited.email, invited.municipality_ags) == ("einladung.olpe@example.org", "05966024")
    [asked] = session.scalars(select(AccessRequest).where(AccessRequest.status == "pending")).all()
    assert asked.municipality_ags == "05958032"
    for email, _name, role, _ags in DEMO_USERS:
        assert email in summary
        assert role in summary


def test_historic_cases_are_the_published_participants_with_certificates(loaded):
    session = loaded

    for spec in HISTORIC_COHORTS:
        for site in spec.sites:  # the tables' names and keys agree with the reference list
            assert session.get(Municipality, site.ags).name == site.name
        certified = set(
            session.scalars(
                select(Case.municipality_ags)
                .join(Case.cohort)
                .where(Cohort.number == spec.number, Case.state == "certified")
            )
        )
        assert certified == {site.ags for site in spec.sites}
        others = {
            (ags, state)
            for ags, state in session.execute(
                select(Case.municipality_ags, Case.state)
                .join(Case.cohort)
                .where(Cohort.number == spec.number, Case.state != "certified")
            )
        }
        assert others == {(s.ags, o.value) for s, o in ILLUSTRATIVE_OUTCOMES.get(spec.number, ())}

    per_case = Counter(session.scalars(select(Certificate.case_id)))
    certified_ids = set(session.scalars(select(Case.id).where(Case.state == "certified")))
    assert set(per_case) == certified_ids
    assert set(per_case.values()) == {1, 2}  # one member per cohort missed too many workshops
    serials = session.scalars(
        select(Certificate.serial).join(Case, Case.id == Certificate.case_id).join(Case.cohort)
    ).all()
    assert {s.rsplit("-", 1)[0] for s in serials if s.startswith(("EWS3-", "EWS5-"))} == {
        "EWS3-2017",
        "EWS5-2025",
    }

    # Ahlen and Senden (Regierungsbezirk Münster) entered the Arnsberg call by a recorded override.
    overrides = session.scalars(
        select(AuditEvent.data).where(AuditEvent.action == "transition.submit", AuditEvent.cohort_number == 3)
    ).all()
    assert sum(1 for data in overrides if data["overridden"] == ["outside_region"]) == 2


def test_demo_people_are_invented_and_can_log_in(loaded):
    session = loaded

    emails = [
        *session.scalars(select(User.email)),
        *session.scalars(select(Case.contact_email)),
        *session.scalars(select(TeamMember.email)),
        *session.scalars(select(OutboxMessage.recipient)),
    ]
    assert emails
    assert all(email.endswith("@example.org") for email in emails)

    demo_users = {u.email: u for u in session.scalars(select(User))}
    assert sorted(u.role for u in demo_users.values()) == sorted(role for *_rest, role, _ags in DEMO_USERS)
    assert all(check_password(user, PASSWORD) for user in demo_users.values())
    reviewers = [u for u in demo_users.values() if u.role == "reviewer"]
    assert len(reviewers) == 2
    assert all(r.municipality_ags for r in reviewers)

    applicant = next(u for u in demo_users.values() if u.role == "applicant")
    draft = session.scalar(
        select(Case)
        .join(Case.cohort)
        .where(Cohort.number == 6, Case.municipality_ags == applicant.municipality_ags)
    )
    assert draft is not None
    assert (draft.state, draft.created_by_id) == ("draft", applicant.id)
    assert {site.ags for site, _state in OPEN_CASES} == set(
        session.scalars(select(Case.municipality_ags).join(Case.cohort).where(Cohort.number == 6))
    )


def test_the_history_carries_the_dates_of_its_time_in_order(loaded):
    """Cases, reviews, certificates, emails and audit events of cohorts 1–5 are dated within their cohort's
    years (not the load day), and every hash chain's events are in the order of their times."""
    session = loaded
    for spec in HISTORIC_COHORTS:
        first = datetime.combine(spec.opens - timedelta(days=30), time(), UTC)
        last = datetime.combine(spec.certificates_on + timedelta(days=2), time(), UTC)
        cases = session.scalars(select(Case.id).join(Case.cohort).where(Cohort.number == spec.number)).all()
        stamps = {
            "cases": session.scalars(select(Case.created_at).where(Case.id.in_(cases))).all(),
            "submissions": session.scalars(select(Case.submitted_at).where(Case.id.in_(cases))).all(),
            "reviews": session.scalars(select(Review.created_at).where(Review.case_id.in_(cases))).all(),
            "certificates": session.scalars(
                select(Certificate.issued_at).where(Certificate.case_id.in_(cases))
            ).all(),
            "emails": session.scalars(
                select(OutboxMessage.created_at).where(OutboxMessage.case_id.in_(cases))
            ).all(),
            "events": session.scalars(
                select(AuditEvent.occurred_at).where(AuditEvent.cohort_number == spec.number)
            ).all(),
        }
        for kind, moments in stamps.items():
            assert moments, (spec.number, kind)
            outside = [m for m in moments if not (first <= m <= last)]
            assert not outside, (
                f"cohort {spec.number}: {kind} dated outside {first:%Y}–{last:%Y}: {outside[:3]}"
            )
        reviewed = sorted(stamps["reviews"])
        assert reviewed[0].date() > spec.deadline  # reviewed after the call closed, not all on one day
        assert len({m.date() for m in reviewed}) > 1
    # The open cohort's steps happened in the last weeks, before now.
    recent = session.scalars(select(AuditEvent.occurred_at).where(AuditEvent.cohort_number == 6)).all()
    assert recent
    assert min(recent) >= utcnow() - timedelta(days=60)
    assert max(recent) <= utcnow()

    chains = session.execute(
        select(AuditEvent.chain, AuditEvent.occurred_at).order_by(AuditEvent.chain, AuditEvent.position)
    ).all()
    previous: dict[str, datetime] = {}
    for name, moment in chains:
        assert moment >= previous.get(name, moment), f"chain {name}: {moment} after {previous[name]}"
        previous[name] = moment
    assert chain.verify_database(session).ok


def test_second_load_changes_nothing(loaded):
    session = loaded
    before = _row_counts(session)

    summary = load_demo(session)
    session.commit()

    assert "bereits geladen" in summary
    assert _row_counts(session) == before
    assert before["cases"] == sum(sum(states.values()) for states in EXPECTED_STATES.values())


def test_production_refuses_the_demo_and_creates_nothing(database_url, db, session):
    """Demo accounts share the published password `demo` (an admin among them): never in production."""
    before = _row_counts(session)
    run = ews(database_url, "demo", env={"EWS_ENV": "production", "EWS_SECRET_KEY": "p" * 40})
    assert run.returncode == 1
    assert "mit EWS_ENV=production abgelehnt" in run.stderr
    session.rollback()
    assert _row_counts(session) == before
