"""Guards, reviews and options of `apply_transition` on the real database (the table, roles, states and
versions: `test_transitions.py`)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import select

from ews_cases.audit.queries import resolved_data
from ews_cases.errors import Conflict, Forbidden
from ews_cases.models import Certificate, OutboxMessage, utcnow
from ews_cases.services.cases import CaseInput, MemberInput
from ews_cases.services.participation import record_attendance, update_project
from ews_cases.services.reviews import record_review
from ews_cases.services.transitions import apply_transition, transition_options
from testkit.factories import (
    ATTENDORN,
    BONN,
    DUESSELDORF,
    FINNENTROP,
    OLPE_KREIS,
    complete_content,
)
from tests.services.test_transitions import (
    REASON,
    SCORES,
    S,
    coordinator_emails,
    events_since,
    last_event_id,
    messages_for,
    refuse,
    snapshot,
)
from workflows import BERLIN, Actor, RefusalKind, State

# -- refusals: guards --------------------------------------------------------------------------------


def test_submit_closes_at_the_deadline(session, factory):
    cohort = factory.cohort()
    on_time = factory.case(cohort, FINNENTROP)
    late = factory.case(cohort, ATTENDORN)
    applicant = factory.actor("applicant", ATTENDORN)

    refusal = refuse(session, late, "submit", applicant, now=cohort.deadline_at + timedelta(microseconds=1))
    assert refusal.kind is RefusalKind.GUARD_FAILED
    assert refusal.refusals[0].code == "deadline_passed"
    apply_transition(
        session, on_time, "submit", factory.coordinator(), on_time.version, now=cohort.deadline_at
    )
    assert on_time.state == State.SUBMITTED


def test_return_for_revision_only_before_the_deadline(session, factory):
    cohort = factory.cohort()
    case = factory.case(cohort, state=State.SUBMITTED)
    late = cohort.deadline_at + timedelta(days=1)
    refusal = refuse(session, case, "return_for_revision", factory.coordinator(), reason=REASON, now=late)
    assert refusal.refusals[0].code == "deadline_passed"


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (
            CaseInput(
                contact_name="Erika",
                contact_email="kontakt@example.org",
                team=complete_content().team,
                answers={"motivation": "Ja", "goals": "Viel"},
                consent=True,
            ),
            "answers_missing",
        ),
        (
            CaseInput(
                contact_name="Erika",
                contact_email="kontakt@example.org",
                team=[MemberInput("Eine Person", "eine@example.org", "Leitung")],
                answers=complete_content().answers,
                consent=True,
            ),
            "team_incomplete",
        ),
        (
            CaseInput(
                contact_name="Erika",
                contact_email="kontakt@example.org",
                team=[MemberInput("Eine", "eine@example.org", "Leitung"), MemberInput("Zwei", "", "")],
                answers=complete_content().answers,
                consent=True,
            ),
            "team_incomplete",
        ),
        (
            CaseInput(
                contact_name="Erika",
                contact_email="kontakt@example.org",
                team=complete_content().team,
                answers=complete_content().answers,
                consent=False,
            ),
            "consent_missing",
        ),
    ],
    ids=["answers", "team-too-small", "team-member-incomplete", "consent"],
)
def test_submit_needs_a_complete_application(session, factory, content, code):
    case = factory.case(factory.cohort(), content=content)
    for actor in (factory.actor("applicant", FINNENTROP), factory.coordinator()):
        refusal = refuse(session, case, "submit", actor)
        assert refusal.kind is RefusalKind.GUARD_FAILED
        assert [r.code for r in refusal.refusals] == [code]
        assert refusal.refusals[0].render()  # a message that says why


def test_submit_outside_the_region_needs_a_coordinator_override_with_reason(session, factory):
    cohort = factory.cohort(region="Köln")
    case = factory.case(cohort, FINNENTROP)  # Regierungsbezirk Arnsberg
    inside = factory.case(cohort, BONN)  # Regierungsbezirk Köln
    applicant = factory.actor("applicant", FINNENTROP)
    coordinator = factory.coordinator()

    for actor, kwargs in (
        (applicant, {}),
        (applicant, {"override": True, "reason": REASON}),  # applicants cannot override
        (coordinator, {}),
        (coordinator, {"reason": REASON}),  # a reason alone is no override
    ):
        refusal = refuse(session, case, "submit", actor, **kwargs)
        assert refusal.kind is RefusalKind.GUARD_FAILED
        assert refusal.refusals[0].code == "outside_region"
        assert refusal.refusals[0].params == {"region": "Köln", "municipality_region": "Arnsberg"}
    for blank in (None, "  "):
        refusal = refuse(session, case, "submit", coordinator, override=True, reason=blank)
        assert refusal.refusals[0].code == "reason_missing"

    first = last_event_id(session)
    apply_transition(session, case, "submit", coordinator, case.version, REASON, override=True)
    [event] = events_since(session, first)
    assert case.state == State.SUBMITTED
    assert event.action == "transition.submit"
    assert event.data["overridden"] == ["outside_region"]
    assert resolved_data(session, event.data)["reason"] == REASON

    bonn = factory.actor("applicant", BONN)
    first = last_event_id(session)
    apply_transition(session, inside, "submit", bonn, inside.version)
    [event] = events_since(session, first)
    assert event.data["overridden"] == []


def test_admit_stops_at_capacity_and_a_withdrawal_frees_the_place(session, factory):
    cohort = factory.cohort(capacity=1)
    first = factory.case(cohort, FINNENTROP, state=State.REVIEWED)
    second = factory.case(cohort, ATTENDORN, state=State.WAITLISTED)
    third = factory.case(cohort, BONN, state=State.REVIEWED)
    coordinator = factory.coordinator()

    apply_transition(session, first, "admit", coordinator, first.version)
    for case in (second, third):
        refusal = refuse(session, case, "admit", coordinator)
        assert refusal.kind is RefusalKind.GUARD_FAILED
        assert refusal.refusals[0].code == "capacity_reached"
        assert refusal.refusals[0].params == {"capacity": 1}

    apply_transition(session, first, "start", coordinator, first.version, now=factory.after_start(first))
    assert refuse(session, second, "admit", coordinator).refusals[0].code == "capacity_reached"

    apply_transition(session, first, "drop_out", coordinator, first.version, REASON)
    apply_transition(session, second, "admit", coordinator, second.version)
    assert second.state == State.ADMITTED
    assert refuse(session, third, "admit", coordinator).refusals[0].code == "capacity_reached"

    before = {m.id for m in session.scalars(select(OutboxMessage))}
    applicant = factory.actor("applicant", ATTENDORN)
    apply_transition(session, second, "withdraw", applicant, second.version)
    freed = [
        m
        for m in session.scalars(select(OutboxMessage))
        if m.id not in before and m.kind == "announce_free_place"
    ]
    assert {m.recipient for m in freed} == coordinator_emails(session)
    apply_transition(session, third, "admit", coordinator, third.version)
    assert third.state == State.ADMITTED


def test_withdraw_from_submitted_announces_no_free_place(session, factory):
    case = factory.case(factory.cohort(), state=State.SUBMITTED)
    apply_transition(session, case, "withdraw", factory.actor("applicant", FINNENTROP), case.version)
    kinds = [m.kind for m in messages_for(session, case)]
    assert "confirm_withdrawal" in kinds
    assert "announce_free_place" not in kinds


def test_start_waits_for_the_start_date_in_berlin(session, factory):
    cohort = factory.cohort()
    case = factory.case(cohort, state=State.ADMITTED)
    midnight = datetime.combine(cohort.starts_on, time(0), tzinfo=BERLIN)
    for actor in (factory.coordinator(), Actor.system("start_cohorts")):
        for now in (factory.now, midnight - timedelta(microseconds=1)):
            refusal = refuse(session, case, "start", actor, now=now)
            assert refusal.kind is RefusalKind.GUARD_FAILED
            assert refusal.refusals[0].code == "not_started"
    apply_transition(session, case, "start", Actor.system("start_cohorts"), case.version, now=midnight)
    assert case.state == State.ATTENDING


def test_start_is_refused_when_the_cohort_has_no_start_date(session, factory):
    cohort = factory.cohort(starts_on=None)
    case = factory.case(cohort, state=State.ADMITTED)
    late = datetime.now(UTC) + timedelta(days=3650)
    assert refuse(session, case, "start", factory.coordinator(), now=late).refusals[0].code == "not_started"


def test_complete_project_needs_an_approved_project_and_attendance(session, factory):
    cohort = factory.cohort()
    workshop = factory.workshop(cohort)
    case = factory.case(cohort, state=State.ATTENDING)
    coordinator = factory.coordinator()

    refusal = refuse(session, case, "complete_project", coordinator)
    assert [r.code for r in refusal.refusals] == ["project_not_approved", "attendance_too_low"]

    update_project(
        session,
        case,
        factory.actor("applicant", FINNENTROP),
        title="Lotsen",
        summary="Kurz",
        status="submitted",
    )
    refusal = refuse(session, case, "complete_project", coordinator)
    assert refusal.refusals[0].code == "project_not_approved"

    update_project(session, case, coordinator, status="approved")
    refusal = refuse(session, case, "complete_project", coordinator)
    assert [r.code for r in refusal.refusals] == ["attendance_too_low"]
    assert refusal.refusals[0].params == {"share": 75}

    first, second = case.team
    record_attendance(
        session, case, coordinator, session_id=workshop.id, member_id=first.id, status="excused"
    )
    assert refuse(session, case, "complete_project", coordinator).refusals[0].code == "attendance_too_low"

    # One member who reached min_attendance is enough.
    record_attendance(
        session, case, coordinator, session_id=workshop.id, member_id=second.id, status="present"
    )
    apply_transition(session, case, "complete_project", coordinator, case.version)
    assert case.state == State.PROJECT_DONE


def test_certify_needs_every_eligible_certificate(session, factory):
    case = factory.case(factory.cohort(), state=State.PROJECT_DONE)
    system = Actor.system("issue_certificates")
    refusal = refuse(session, case, "certify", system)
    assert refusal.kind is RefusalKind.GUARD_FAILED
    assert refusal.refusals[0].code == "certificates_missing"
    assert refusal.refusals[0].params == {"count": 2}

    member = case.team[0]
    session.add(
        Certificate(
            case_id=case.id,
            member_id=member.id,
            serial="TEST-1",
            verification_code="test-code-1",
            holder_name=member.name,
            issued_at=utcnow(),
            released_at=utcnow(),
        )
    )
    refusal = refuse(session, case, "certify", system)
    assert refusal.refusals[0].params == {"count": 1}


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("return_for_revision", S.SUBMITTED),
        ("reject", S.REVIEWED),
        ("reject", S.WAITLISTED),
        ("drop_out", S.ATTENDING),
    ],
)
def test_reason_is_required(session, factory, name, state):
    case = factory.case(factory.cohort(), state=state)
    for reason in (None, "", "   \n"):
        refusal = refuse(session, case, name, factory.coordinator(), reason=reason)
        assert refusal.kind is RefusalKind.GUARD_FAILED
        assert refusal.refusals[0].code == "reason_missing"
    apply_transition(session, case, name, factory.coordinator(), case.version, f"  {REASON}  ")
    [event] = [e for e in events_since(session, 0) if e.action == f"transition.{name}"]
    assert resolved_data(session, event.data)["reason"] == REASON


def test_review_transition_needs_enough_reviews(session, factory):
    case = factory.case(factory.cohort(required_reviews=2), state=State.SUBMITTED)
    system = Actor.system("record_review")
    refusal = refuse(session, case, "review", system)
    assert refusal.refusals[0].code == "reviews_missing"
    assert refusal.refusals[0].params == {"count": 0, "required": 2}
    record_review(session, case, factory.user("reviewer"), scores=SCORES, recommendation="admit")
    assert refuse(session, case, "review", system).refusals[0].params == {"count": 1, "required": 2}


# -- reviews -----------------------------------------------------------------------------------------


def test_the_required_review_moves_the_case_to_reviewed_by_itself(session, factory):
    factory.actor("coordinator")
    case = factory.case(factory.cohort(required_reviews=2), state=State.SUBMITTED)
    version = case.version

    first_reviewer, second_reviewer = factory.user("reviewer"), factory.user("reviewer")
    record_review(session, case, first_reviewer, scores=SCORES, recommendation="admit")
    assert case.state == State.SUBMITTED
    assert case.version == version
    first = last_event_id(session)
    record_review(session, case, second_reviewer, scores=SCORES, recommendation="waitlist")
    session.commit()

    assert case.state == State.REVIEWED
    assert case.version == version + 1
    events = events_since(session, first)
    assert [e.action for e in events] == ["review.recorded", "transition.review"]
    transition = events[1]
    assert transition.actor == "system:record_review"
    assert transition.actor_role == "system"
    assert (transition.from_state, transition.to_state) == ("submitted", "reviewed")
    notified = [m for m in messages_for(session, case) if m.kind == "notify_coordinators_reviewed"]
    assert {m.recipient for m in notified} == coordinator_emails(session)
    assert len(notified) == 2


@pytest.mark.parametrize(
    ("affiliation", "case_ags"),
    [(FINNENTROP, FINNENTROP), (OLPE_KREIS, FINNENTROP), (FINNENTROP, OLPE_KREIS), (OLPE_KREIS, OLPE_KREIS)],
    ids=["own-municipality", "its-kreis", "kreis-of-own-municipality", "own-kreis"],
)
def test_reviewer_with_a_conflict_of_interest_is_refused(session, factory, affiliation, case_ags):
    case = factory.case(factory.cohort(required_reviews=1), case_ags, state=State.SUBMITTED)
    reviewer = factory.user("reviewer", affiliation)
    session.flush()
    before = snapshot(session, case)
    with pytest.raises(Forbidden):
        record_review(session, case, reviewer, scores=SCORES, recommendation="admit")
    assert snapshot(session, case) == before
    assert case.state == State.SUBMITTED


def test_reviewer_affiliated_elsewhere_may_review(session, factory):
    case = factory.case(factory.cohort(required_reviews=1), FINNENTROP, state=State.SUBMITTED)
    record_review(session, case, factory.user("reviewer", DUESSELDORF), scores=SCORES, recommendation="admit")
    assert case.state == State.REVIEWED


def test_second_review_by_the_same_reviewer_is_a_conflict(session, factory):
    case = factory.case(factory.cohort(required_reviews=2), state=State.SUBMITTED)
    reviewer = factory.user("reviewer")
    record_review(session, case, reviewer, scores=SCORES, recommendation="admit")
    before = snapshot(session, case)
    with pytest.raises(Conflict):
        record_review(session, case, reviewer, scores=SCORES, recommendation="reject")
    assert snapshot(session, case) == before
    assert case.state == State.SUBMITTED


def test_only_reviewers_review_and_only_submitted_cases(session, factory):
    case = factory.case(factory.cohort(required_reviews=1))
    with pytest.raises(Forbidden):
        record_review(session, case, factory.user("coordinator"), scores=SCORES, recommendation="admit")
    with pytest.raises(Conflict):
        record_review(session, case, factory.user("reviewer"), scores=SCORES, recommendation="admit")


# -- options -----------------------------------------------------------------------------------------


def test_transition_options_follow_role_state_and_guards(session, factory):
    cohort = factory.cohort(capacity=1)
    factory.case(cohort, ATTENDORN, state=State.ADMITTED)
    case = factory.case(cohort, FINNENTROP, state=State.REVIEWED)
    own, stranger = factory.actor("applicant", FINNENTROP), factory.actor("applicant", BONN)
    others = [factory.actor(role) for role in ("reviewer", "auditor", "admin")]
    before = snapshot(session, case)

    coordinator = {d.spec.name: d for d in transition_options(session, case, factory.coordinator())}
    assert set(coordinator) == {"admit", "waitlist", "reject", "withdraw"}
    assert [r.code for r in coordinator["admit"].refusals] == ["capacity_reached"]
    assert coordinator["waitlist"].allowed
    assert coordinator["withdraw"].allowed

    applicant = {d.spec.name: d for d in transition_options(session, case, own)}
    assert set(applicant) == {"withdraw"}
    assert applicant["withdraw"].allowed
    assert [d.allowed for d in transition_options(session, case, stranger)] == [False]
    for actor in others:
        assert transition_options(session, case, actor) == []
    assert snapshot(session, case) == before
