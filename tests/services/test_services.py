"""The services around the workflow: drafts, practice project, attendance, certificates.

Each refusal is checked to leave no trace (no row, no audit event); each change to leave its audit event.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.audit.queries import resolved_data
from ews_cases.errors import Conflict, Forbidden, ValidationFailed
from ews_cases.models import Attendance, AuditEvent, Case, Certificate, PracticeProject
from ews_cases.services.cases import CaseExists, CaseInput, MemberInput, create_case, update_draft
from ews_cases.services.certificates import issue_missing_certificates, revoke_certificate
from ews_cases.services.participation import record_attendance, update_project
from ews_cases.services.transitions import apply_transition
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, complete_content
from workflows import Actor, State

SYSTEM = Actor.system("issue_certificates")


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


def events(session: Session, action: str, case: Case | None = None) -> list[SimpleNamespace]:
    """The events as readers see them: personal values in place of their commitments."""
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    if case is not None:
        query = query.where(AuditEvent.case_id == case.id)
    return [
        SimpleNamespace(
            **{
                **{c.key: getattr(e, c.key) for c in AuditEvent.__table__.columns},
                "data": resolved_data(session, e.data),
            }
        )
        for e in session.scalars(query)
    ]


class Unchanged:
    """Counts cases, audit events and the given models before and after a refusal."""

    def __init__(self, session: Session, *models: type) -> None:
        self.session = session
        self.models = (Case, AuditEvent, *models)

    def _counts(self) -> dict[str, int]:
        return {model.__name__: count(self.session, model) for model in self.models}

    def __enter__(self) -> Unchanged:
        self.before = self._counts()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._counts() == self.before


# -- create_case --------------------------------------------------------------------------------------


def test_create_case_by_the_applicant_of_the_municipality(session, factory):
    cohort = factory.cohort()
    applicant = factory.actor("applicant", FINNENTROP)
    case = create_case(
        session,
        applicant,
        cohort_number=cohort.number,
        municipality_ags=FINNENTROP,
        content=complete_content(),
    )
    assert (case.state, case.version) == (State.DRAFT, 1)
    assert case.created_by_id == applicant.user_id
    assert [m.slot for m in case.team] == [1, 2]
    [event] = events(session, "case.created", case)
    assert event.actor == applicant.label
    assert event.to_state == "draft"
    assert event.data["reference"] == case.reference
    assert event.data["municipality"] == FINNENTROP
    assert event.data["answers"]["motivation"] == "Wir wollen Engagement stärken."
    assert event.data["team"][1]["email"] == "person2@example.org"


def test_references_count_up_per_cohort(session, factory):
    first, second = factory.cohort(), factory.cohort()
    references = [factory.case(first, ags).reference for ags in (FINNENTROP, ATTENDORN, BONN)]
    assert references == [f"EWS{first.number}-0001", f"EWS{first.number}-0002", f"EWS{first.number}-0003"]
    assert factory.case(second, FINNENTROP).reference == f"EWS{second.number}-0001"
    assert re.fullmatch(r"EWS\d+-\d{4}", references[0])


def test_one_case_per_municipality_and_cohort(session, factory):
    cohort = factory.cohort()
    existing = factory.case(cohort, FINNENTROP)
    applicant = factory.actor("applicant", FINNENTROP)
    with Unchanged(session), pytest.raises(Conflict) as info:
        create_case(
            session,
            applicant,
            cohort_number=cohort.number,
            municipality_ags=FINNENTROP,
            content=complete_content(),
        )
    assert existing.reference in str(info.value)
    assert isinstance(info.value, CaseExists)
    assert info.value.case is existing
    # The same municipality in another cohort is fine.
    other = factory.cohort()
    create_case(
        session,
        applicant,
        cohort_number=other.number,
        municipality_ags=FINNENTROP,
        content=complete_content(),
    )


@pytest.mark.parametrize(
    ("cohort_number", "ags", "fields"),
    [
        (9999, FINNENTROP, {"cohort"}),
        (None, "05999999", {"municipality"}),
        (9999, "05999999", {"cohort", "municipality"}),
    ],
    ids=["unknown-cohort", "unknown-municipality", "both"],
)
def test_create_case_rejects_unknown_cohort_and_municipality(session, factory, cohort_number, ags, fields):
    cohort = factory.cohort()
    coordinator = factory.coordinator()
    with Unchanged(session), pytest.raises(ValidationFailed) as info:
        create_case(
            session,
            coordinator,
            cohort_number=cohort_number or cohort.number,
            municipality_ags=ags,
            content=complete_content(),
        )
    assert set(info.value.errors) == fields
    assert all(info.value.errors[field] for field in fields)


def test_create_case_only_while_the_call_is_open(session, factory):
    today = factory.now.date()
    closed = factory.cohort(
        application_deadline=today - timedelta(days=1), applications_open_at=factory.now - timedelta(days=60)
    )
    not_yet = factory.cohort(applications_open_at=factory.now + timedelta(days=1))
    coordinator = factory.coordinator()
    for cohort in (closed, not_yet):
        with Unchanged(session), pytest.raises(ValidationFailed) as info:
            create_case(
                session,
                coordinator,
                cohort_number=cohort.number,
                municipality_ags=FINNENTROP,
                content=complete_content(),
            )
        assert set(info.value.errors) == {"cohort"}


def test_create_case_validates_the_content(session, factory):
    cohort = factory.cohort(team_size=2)
    coordinator = factory.coordinator()
    too_many = complete_content(3)
    with Unchanged(session), pytest.raises(ValidationFailed) as info:
        create_case(
            session, coordinator, cohort_number=cohort.number, municipality_ags=FINNENTROP, content=too_many
        )
    assert set(info.value.errors) == {"team"}

    broken = CaseInput(
        contact_email="keine-adresse",
        team=[MemberInput("A", "a@example.org", "X"), MemberInput("B", "b at example", "Y")],
        answers={"motivation": "Ja", "hobbies": "Fußball"},
    )
    with Unchanged(session), pytest.raises(ValidationFailed) as info:
        create_case(
            session, coordinator, cohort_number=cohort.number, municipality_ags=FINNENTROP, content=broken
        )
    assert set(info.value.errors) == {"contact.email", "team.1.email", "answers"}


def test_an_incomplete_draft_may_be_saved(session, factory):
    cohort = factory.cohort()
    case = create_case(
        session,
        factory.coordinator(),
        cohort_number=cohort.number,
        municipality_ags=FINNENTROP,
        content=CaseInput(answers={"motivation": "Erste Gedanken"}),
    )
    assert case.state == State.DRAFT
    assert case.team == []


@pytest.mark.parametrize(
    ("role", "ags"),
    [
        ("applicant", ATTENDORN),
        ("applicant", DUESSELDORF),
        ("reviewer", None),
        ("auditor", None),
        ("admin", None),
    ],
)
def test_who_may_not_create_a_case(session, factory, role, ags):
    cohort = factory.cohort()
    actor = factory.actor(role, ags)
    with Unchanged(session), pytest.raises(Forbidden):
        create_case(
            session,
            actor,
            cohort_number=cohort.number,
            municipality_ags=FINNENTROP,
            content=complete_content(),
        )
    with Unchanged(session), pytest.raises(Forbidden):
        create_case(
            session,
            Actor.system("tests"),
            cohort_number=cohort.number,
            municipality_ags=FINNENTROP,
            content=complete_content(),
        )


# -- update_draft -------------------------------------------------------------------------------------


def test_update_draft_records_old_and_new_values(session, factory):
    case = factory.case(factory.cohort())
    applicant = factory.actor("applicant", FINNENTROP)
    changed = CaseInput(
        contact_name="Erika Beispiel",
        contact_email="neu@example.org",
        contact_phone="0123 4567",
        team=complete_content().team,
        answers={**complete_content().answers, "goals": "Eine neue Strategie."},
        consent=True,
    )
    update_draft(session, case, applicant, expected_version=1, content=changed)
    assert case.version == 2
    assert case.contact_email == "neu@example.org"
    [event] = events(session, "case.updated", case)
    assert event.actor == applicant.label
    assert event.data["version"] == 2
    assert event.data["changes"] == {
        "answers.goals": {"old": "Eine Engagementstrategie.", "new": "Eine neue Strategie."},
        "contact.email": {"old": "kontakt@example.org", "new": "neu@example.org"},
    }


def test_update_draft_bumps_the_version_for_team_only_edits(session, factory):
    case = factory.case(factory.cohort())
    content = complete_content()
    team = [MemberInput("Neue Person", "neu@example.org", "Leitung"), content.team[1]]
    edited = CaseInput(
        contact_name=content.contact_name,
        contact_email=content.contact_email,
        contact_phone=content.contact_phone,
        team=team,
        answers=content.answers,
        consent=True,
    )
    update_draft(session, case, factory.coordinator(), expected_version=1, content=edited)
    session.commit()
    assert session.scalar(select(Case.version).where(Case.id == case.id)) == 2
    [event] = events(session, "case.updated", case)
    assert event.data["changes"] == {
        "team.0.email": {"old": "person1@example.org", "new": "neu@example.org"},
        "team.0.name": {"old": "Person 1", "new": "Neue Person"},
        "team.0.position": {"old": "Sachbearbeitung", "new": "Leitung"},
    }


def test_update_draft_removes_members_and_records_it(session, factory):
    case = factory.case(factory.cohort())
    content = complete_content()
    one = CaseInput(
        contact_name=content.contact_name,
        contact_email=content.contact_email,
        contact_phone=content.contact_phone,
        team=content.team[:1],
        answers=content.answers,
        consent=True,
    )
    update_draft(session, case, factory.coordinator(), expected_version=1, content=one)
    assert [m.name for m in case.team] == ["Person 1"]
    [event] = events(session, "case.updated", case)
    assert event.data["changes"]["team.1.name"] == {"old": "Person 2", "new": None}


def test_update_draft_refuses_a_stale_version(session, factory):
    case = factory.case(factory.cohort())
    coordinator = factory.coordinator()
    update_draft(session, case, coordinator, expected_version=1, content=complete_content(tag="x"))
    for stale in (1, 3):
        with Unchanged(session), pytest.raises(Conflict):
            update_draft(session, case, coordinator, expected_version=stale, content=complete_content())
    assert case.contact_email == "kontaktx@example.org"
    assert case.version == 2


def test_update_draft_refuses_cases_that_are_not_drafts(session, factory):
    case = factory.case(factory.cohort(), state=State.SUBMITTED)
    with Unchanged(session), pytest.raises(Conflict):
        update_draft(
            session,
            case,
            factory.coordinator(),
            expected_version=case.version,
            content=complete_content(tag="x"),
        )
    assert case.contact_email == "kontakt@example.org"


def test_update_draft_checks_who_and_what(session, factory):
    case = factory.case(factory.cohort())
    for actor in (factory.actor("applicant", ATTENDORN), factory.actor("reviewer"), factory.actor("auditor")):
        with Unchanged(session), pytest.raises(Forbidden):
            update_draft(session, case, actor, expected_version=1, content=complete_content(tag="x"))
    with Unchanged(session), pytest.raises(ValidationFailed) as info:
        update_draft(session, case, factory.coordinator(), expected_version=1, content=complete_content(3))
    assert set(info.value.errors) == {"team"}
    assert case.version == 1


# -- practice project ---------------------------------------------------------------------------------


def test_project_moves_planned_submitted_approved(session, factory):
    case = factory.case(factory.cohort(), state=State.ATTENDING)
    applicant = factory.actor("applicant", FINNENTROP)
    coordinator = factory.coordinator()

    project = update_project(session, case, applicant, title="Lotsen", summary="Ein Programm.")
    assert project.status == "planned"
    project = update_project(session, case, applicant, status="submitted")
    assert project.status == "submitted"
    with Unchanged(session, PracticeProject), pytest.raises(Conflict):
        update_project(session, case, applicant, status="approved")
    project = update_project(session, case, coordinator, status="approved")
    assert project.status == "approved"

    changes = [e.data["changes"] for e in events(session, "project.updated", case)]
    assert changes == [
        {"title": {"old": "", "new": "Lotsen"}, "summary": {"old": "", "new": "Ein Programm."}},
        {"status": {"old": "planned", "new": "submitted"}},
        {"status": {"old": "submitted", "new": "approved"}},
    ]
    actors = [e.actor for e in events(session, "project.updated", case)]
    assert actors == [applicant.label, applicant.label, coordinator.label]

    with Unchanged(session), pytest.raises(Conflict):
        update_project(session, case, applicant, title="Etwas anderes")
    with Unchanged(session), pytest.raises(Conflict):
        update_project(session, case, coordinator, status="planned", reason="Doch nicht")


def test_project_goes_back_to_planned_only_with_a_reason(session, factory):
    case = factory.case(factory.cohort(), state=State.ATTENDING)
    applicant = factory.actor("applicant", FINNENTROP)
    coordinator = factory.coordinator()
    update_project(session, case, applicant, title="Lotsen", summary="Kurz", status="submitted")

    for reason in (None, "", "  "):
        with Unchanged(session), pytest.raises(ValidationFailed) as info:
            update_project(session, case, coordinator, status="planned", reason=reason)
        assert set(info.value.errors) == {"reason"}
    with Unchanged(session), pytest.raises(Conflict):
        update_project(session, case, applicant, status="planned", reason="Ich will zurück")

    project = update_project(session, case, coordinator, status="planned", reason=" Bericht fehlt ")
    assert project.status == "planned"
    assert project.return_reason == "Bericht fehlt"
    last = events(session, "project.updated", case)[-1]
    assert last.data["changes"] == {"status": {"old": "submitted", "new": "planned"}}
    assert last.data["reason"].strip() == "Bericht fehlt"


def test_project_submission_needs_title_and_summary(session, factory):
    case = factory.case(factory.cohort(), state=State.ATTENDING)
    applicant = factory.actor("applicant", FINNENTROP)
    with pytest.raises(ValidationFailed) as info:
        update_project(session, case, applicant, title="Nur ein Titel", status="submitted")
    assert set(info.value.errors) == {"title"}
    with pytest.raises(ValidationFailed) as info:
        update_project(session, case, factory.coordinator(), status="finished")
    assert set(info.value.errors) == {"status"}


def test_project_only_by_the_case_and_only_while_attending(session, factory):
    cohort = factory.cohort()
    attending = factory.case(cohort, state=State.ATTENDING)
    admitted = factory.case(factory.cohort(), state=State.ADMITTED)
    for actor in (factory.actor("applicant", ATTENDORN), factory.actor("reviewer"), factory.actor("auditor")):
        with Unchanged(session, PracticeProject), pytest.raises(Forbidden):
            update_project(session, attending, actor, title="Fremd")
    with Unchanged(session, PracticeProject), pytest.raises(Conflict):
        update_project(session, admitted, factory.coordinator(), title="Zu früh")


# -- attendance ---------------------------------------------------------------------------------------


def test_record_attendance_audits_changes_only(session, factory):
    cohort = factory.cohort()
    workshop = factory.workshop(cohort)
    case = factory.case(cohort, state=State.ATTENDING)
    coordinator = factory.coordinator()
    member = case.team[0]

    record_attendance(
        session, case, coordinator, session_id=workshop.id, member_id=member.id, status="excused"
    )
    record_attendance(
        session, case, coordinator, session_id=workshop.id, member_id=member.id, status="excused"
    )
    record_attendance(
        session, case, coordinator, session_id=workshop.id, member_id=member.id, status="present"
    )

    assert count(session, Attendance) == 1
    recorded = [e.data for e in events(session, "attendance.recorded", case)]
    assert recorded == [
        {"session": workshop.id, "member": member.id, "old": None, "new": "excused"},
        {"session": workshop.id, "member": member.id, "old": "excused", "new": "present"},
    ]


def test_record_attendance_validates(session, factory):
    cohort = factory.cohort()
    workshop = factory.workshop(cohort)
    foreign_workshop = factory.workshop(factory.cohort())
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    other = factory.case(factory.cohort(), ATTENDORN, state=State.ATTENDING)
    coordinator = factory.coordinator()
    member = case.team[0]

    for kwargs, fields in (
        ({"session_id": workshop.id, "member_id": member.id, "status": "late"}, {"status"}),
        ({"session_id": foreign_workshop.id, "member_id": member.id, "status": "present"}, {"session"}),
        ({"session_id": 987654, "member_id": member.id, "status": "present"}, {"session"}),
        ({"session_id": workshop.id, "member_id": other.team[0].id, "status": "present"}, {"member"}),
        ({"session_id": 987654, "member_id": 987654, "status": "nope"}, {"session", "member", "status"}),
    ):
        with Unchanged(session, Attendance), pytest.raises(ValidationFailed) as info:
            record_attendance(session, case, coordinator, **kwargs)
        assert set(info.value.errors) == fields


def test_record_attendance_by_coordinators_while_attending(session, factory):
    cohort = factory.cohort()
    workshop = factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.ATTENDING)
    admitted = factory.case(cohort, ATTENDORN, state=State.REVIEWED)
    for actor in (factory.actor("applicant", FINNENTROP), factory.actor("auditor"), Actor.system("tests")):
        with Unchanged(session, Attendance), pytest.raises(Forbidden):
            record_attendance(
                session, case, actor, session_id=workshop.id, member_id=case.team[0].id, status="present"
            )
    with Unchanged(session, Attendance), pytest.raises(Conflict):
        record_attendance(
            session,
            admitted,
            factory.coordinator(),
            session_id=workshop.id,
            member_id=admitted.team[0].id,
            status="present",
        )


# -- certificates -------------------------------------------------------------------------------------


def test_certificates_are_issued_once_with_serials_and_codes(session, factory):
    cohort = factory.cohort()
    factory.workshop(cohort)
    case = factory.case(cohort, FINNENTROP, state=State.PROJECT_DONE)
    issued_at = datetime(2031, 5, 16, 10, 0, tzinfo=UTC)

    issued = issue_missing_certificates(session, case, SYSTEM, now=issued_at)
    assert case.state == State.CERTIFIED
    assert sorted(c.serial for c in issued) == [
        f"EWS{cohort.number}-2031-001",
        f"EWS{cohort.number}-2031-002",
    ]
    assert {c.member_id for c in issued} == {m.id for m in case.team}
    assert {c.holder_name for c in issued} == {"Person 1", "Person 2"}
    codes = [c.verification_code for c in issued]
    assert len(set(codes)) == len(codes)
    for code in codes:
        assert re.fullmatch(r"[A-Za-z0-9_-]+", code), code  # URL-safe, no padding
        assert len(code) * 6 >= 64  # at least 64 bits of base64url text

    again = issue_missing_certificates(session, case, SYSTEM, now=issued_at)
    assert again == []
    assert count(session, Certificate) == 2
    assert len(events(session, "certificate.issued", case)) == 2
    assert [e.actor for e in events(session, "transition.certify", case)] == ["system:issue_certificates"]
    assert chain.verify_database(session).ok


def test_serials_count_up_across_the_cases_of_a_cohort(session, factory):
    cohort = factory.cohort()
    first = factory.case(cohort, FINNENTROP, state=State.PROJECT_DONE)
    second = factory.case(cohort, ATTENDORN, state=State.PROJECT_DONE)
    other_cohort = factory.cohort()
    third = factory.case(other_cohort, FINNENTROP, state=State.PROJECT_DONE)
    now = datetime(2031, 5, 16, 10, 0, tzinfo=UTC)
    serials = [
        sorted(c.serial for c in issue_missing_certificates(session, case, SYSTEM, now=now))
        for case in (first, second, third)
    ]
    n, m = cohort.number, other_cohort.number
    assert serials == [
        [f"EWS{n}-2031-001", f"EWS{n}-2031-002"],
        [f"EWS{n}-2031-003", f"EWS{n}-2031-004"],
        [f"EWS{m}-2031-001", f"EWS{m}-2031-002"],
    ]


def test_only_members_with_enough_attendance_get_a_certificate(session, factory):
    cohort = factory.cohort()
    workshops = [factory.workshop(cohort, cohort.starts_on + timedelta(days=d)) for d in (0, 7, 14, 21)]
    case = factory.case(cohort, state=State.ATTENDING)
    coordinator = factory.coordinator()
    keen, busy = case.team
    for index, workshop in enumerate(workshops):
        record_attendance(
            session, case, coordinator, session_id=workshop.id, member_id=keen.id, status="present"
        )
        status = "present" if index < 2 else "excused"  # 50 % < 75 %
        record_attendance(
            session, case, coordinator, session_id=workshop.id, member_id=busy.id, status=status
        )
    update_project(session, case, coordinator, title="Lotsen", summary="Kurz", status="submitted")
    update_project(session, case, coordinator, status="approved")
    apply_transition(session, case, "complete_project", coordinator, case.version)
    assert case.state == State.PROJECT_DONE

    issued = issue_missing_certificates(session, case, SYSTEM)
    assert [c.member_id for c in issued] == [keen.id]
    assert case.state == State.CERTIFIED


def test_issuing_for_a_case_not_done_does_nothing(session, factory):
    case = factory.case(factory.cohort(), state=State.ATTENDING)
    with Unchanged(session, Certificate):
        assert issue_missing_certificates(session, case, SYSTEM) == []
    assert case.state == State.ATTENDING


def test_revoke_certificate_needs_a_coordinator_and_a_reason(session, factory):
    case = factory.case(factory.cohort(), state=State.CERTIFIED)
    certificate = session.scalars(select(Certificate).where(Certificate.case_id == case.id)).first()
    for actor in (
        factory.actor("applicant", FINNENTROP),
        factory.actor("auditor"),
        factory.actor("admin"),
        Actor.system("tests"),
    ):
        with Unchanged(session), pytest.raises(Forbidden):
            revoke_certificate(session, certificate, actor, "Betrug")
    coordinator = factory.coordinator()
    for reason in ("", "   "):
        with Unchanged(session), pytest.raises(ValidationFailed) as info:
            revoke_certificate(session, certificate, coordinator, reason)
        assert set(info.value.errors) == {"reason"}
    assert certificate.revoked_at is None

    revoke_certificate(session, certificate, coordinator, "  Teilnahme nicht belegt ")
    session.commit()
    assert certificate.revoked_at is not None
    assert certificate.revoked_reason == "Teilnahme nicht belegt"
    [event] = events(session, "certificate.revoked", case)
    assert event.actor == coordinator.label
    assert event.data == {"serial": certificate.serial, "reason": "Teilnahme nicht belegt"}

    with Unchanged(session), pytest.raises(Conflict):
        revoke_certificate(session, certificate, coordinator, "Noch einmal")
    assert case.state == State.CERTIFIED
    assert chain.verify_database(session).ok
