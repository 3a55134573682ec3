"""Random sequences of actions on three cases of one cohort keep the workflow's promises.

Each example starts from an empty database: a cohort with one place (so the capacity guard matters) and
one required review, one workshop, three drafts. Steps fire transitions as any role, with the right or a
stale version, with or without a reason, at three moments (call open, after the deadline, after the
start), and also record reviews, attendance, project moves and certificates through their services.
After every step: a success moved along an edge of the machine to the spec's destination with exactly one
`transition.*` event and a version bump; a refusal changed nothing and had the kind an independent oracle
predicts; at most `capacity` cases occupy a place. At the end the audit chains verify.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.errors import DomainError
from ews_cases.models import (
    Attendance,
    AuditEvent,
    Case,
    Cohort,
    CohortSession,
    OutboxMessage,
    PracticeProject,
    Review,
    TeamMember,
)
from ews_cases.services.certificates import issue_missing_certificates
from ews_cases.services.participation import record_attendance, update_project
from ews_cases.services.reviews import record_review
from ews_cases.services.transitions import apply_transition
from testkit.factories import ATTENDORN, BONN, DUESSELDORF, FINNENTROP, Factory
from tests.conftest import reset_database
from workflows import (
    BERLIN,
    OCCUPYING_STATES,
    TRANSITIONS_BY_NAME,
    WORKFLOW,
    Actor,
    RefusalKind,
    Role,
    State,
    TransitionRefused,
)

TOWNS = (FINNENTROP, DUESSELDORF, BONN)
STRANGER = ATTENDORN  # an applicant of a municipality without a case here
CAPACITY = 1
#: The edges of the machine as the `transitions` library holds them (what it can actually do).
EDGES = frozenset(
    (source, transition.dest)
    for trigger in WORKFLOW.machine.events.values()
    for source, transitions in trigger.transitions.items()
    for transition in transitions
)
#: SPEC §4, written out for the oracle: who may fire what, from where, to where.
SPEC: dict[str, tuple[frozenset[str], frozenset[str], str]] = {
    "submit": (frozenset({"draft"}), frozenset({"applicant", "coordinator"}), "submitted"),
    "return_for_revision": (frozenset({"submitted"}), frozenset({"coordinator"}), "draft"),
    "review": (frozenset({"submitted"}), frozenset({"system"}), "reviewed"),
    "admit": (frozenset({"reviewed", "waitlisted"}), frozenset({"coordinator"}), "admitted"),
    "waitlist": (frozenset({"reviewed"}), frozenset({"coordinator"}), "waitlisted"),
    "reject": (frozenset({"reviewed", "waitlisted"}), frozenset({"coordinator"}), "rejected"),
    "withdraw": (
        frozenset({"draft", "submitted", "reviewed", "waitlisted", "admitted"}),
        frozenset({"applicant", "coordinator"}),
        "withdrawn",
    ),
    "start": (frozenset({"admitted"}), frozenset({"coordinator", "system"}), "attending"),
    "drop_out": (frozenset({"attending"}), frozenset({"coordinator"}), "dropped_out"),
    "complete_project": (frozenset({"attending"}), frozenset({"coordinator"}), "project_done"),
    "certify": (frozenset({"project_done"}), frozenset({"system"}), "certified"),
}
#: "fitting" is the role the table names for the transition; the others are tried as they come.
ROLES = ("fitting",) * 6 + (
    "own_applicant",
    "other_applicant",
    "coordinator",
    "reviewer",
    "auditor",
    "system",
)
VERSIONS = ("correct",) * 6 + ("older", "newer")
#: "natural" is after the start for `start` and while the call is open for everything else.
MOMENTS = ("natural",) * 4 + ("open", "after_deadline", "after_start")
SCORES = {"need": 3, "strategy": 3, "leadership": 3, "capacity": 3, "network": 3}


@dataclass(frozen=True)
class Fire:
    """`apply_transition` as the API would call it."""

    case: int
    name: str
    role: str = "fitting"
    version: str = "correct"
    with_reason: bool = True
    moment: str = "natural"


@dataclass(frozen=True)
class GiveReview:
    case: int
    reviewer: int


@dataclass(frozen=True)
class Attend:
    case: int
    member: int
    status: str


@dataclass(frozen=True)
class Project:
    case: int
    move: str


@dataclass(frozen=True)
class Certificates:
    case: int


@dataclass(frozen=True)
class Advance:
    """The next step of the main path for the case's current state (keeps random runs going deep)."""

    case: int


Step = Fire | GiveReview | Attend | Project | Certificates
cases_ = st.integers(0, len(TOWNS) - 1)
advance = st.builds(Advance, cases_)
steps = st.one_of(
    advance,
    advance,
    advance,
    advance,
    st.builds(
        Fire,
        cases_,
        st.sampled_from(sorted(SPEC)),
        st.sampled_from(ROLES),
        st.sampled_from(VERSIONS),
        st.booleans(),
        st.sampled_from(MOMENTS),
    ),
    st.builds(GiveReview, cases_, st.integers(0, 1)),
    st.builds(Attend, cases_, st.integers(0, 1), st.sampled_from(("present", "present", "absent"))),
    st.builds(Project, cases_, st.sampled_from(("submit", "approve", "return"))),
    st.builds(Certificates, cases_),
)


@dataclass(frozen=True)
class CaseView:
    state: str
    version: int
    transition_events: int


@dataclass(frozen=True)
class World:
    cases: tuple[CaseView, ...]
    audit_events: int
    outbox_messages: int


def look(session: Session, ids: list[int]) -> World:
    views = []
    for case_id in ids:
        state, version = session.execute(select(Case.state, Case.version).where(Case.id == case_id)).one()
        events = session.scalar(
            select(func.count()).where(AuditEvent.case_id == case_id, AuditEvent.action.like("transition.%"))
        )
        views.append(CaseView(state, version, events))
    return World(
        cases=tuple(views),
        audit_events=session.scalar(select(func.count()).select_from(AuditEvent)),
        outbox_messages=session.scalar(select(func.count()).select_from(OutboxMessage)),
    )


def last_transition_event(session: Session, case_id: int) -> AuditEvent:
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.case_id == case_id, AuditEvent.action.like("transition.%"))
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).one()


class Scenario:
    """The arranged world of one example and the actions a step can take in it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        factory = Factory(session)
        self.cohort: Cohort = factory.cohort(capacity=CAPACITY, required_reviews=1)
        self.workshop: CohortSession = factory.workshop(self.cohort)
        self.cases = [factory.case(self.cohort, ags) for ags in TOWNS]
        self.ids = [case.id for case in self.cases]
        self.coordinator = factory.coordinator()
        self.applicants = [factory.actor("applicant", ags) for ags in TOWNS]
        self.actors = {
            "other_applicant": factory.actor("applicant", STRANGER),
            "coordinator": self.coordinator,
            "reviewer": factory.actor("reviewer"),
            "auditor": factory.actor("auditor"),
            "system": Actor.system("property_test"),
        }
        self.reviewers = [factory.user("reviewer", DUESSELDORF), factory.user("reviewer", ATTENDORN)]
        self.moments = {
            "open": factory.now,
            "after_deadline": self.cohort.deadline_at + timedelta(days=1),
            "after_start": factory.after_start(self.cases[0]),
        }
        session.commit()

    def role(self, step: Fire) -> str:
        if step.role != "fitting":
            return step.role
        return "coordinator" if "coordinator" in SPEC[step.name][1] else "system"

    def actor(self, step: Fire) -> Actor:
        role = self.role(step)
        return self.applicants[step.case] if role == "own_applicant" else self.actors[role]

    def moment(self, step: Fire) -> datetime:
        if step.moment == "natural":
            return self.moments["after_start" if step.name == "start" else "open"]
        return self.moments[step.moment]

    def resolve(self, step: Step | Advance) -> Step:
        """Turn `Advance` into the concrete step that moves the case along the main path."""
        if not isinstance(step, Advance):
            return step
        index, state = step.case, self.stored_state(step.case)
        if state == State.SUBMITTED:
            return GiveReview(index, index % 2)
        if state == State.ATTENDING:
            project = self.session.scalar(
                select(PracticeProject.status).where(PracticeProject.case_id == self.ids[index])
            )
            if project in (None, "planned"):
                return Project(index, "submit")
            if project == "submitted":
                return Project(index, "approve")
            present = self.session.scalar(
                select(func.count())
                .select_from(Attendance)
                .join(TeamMember, TeamMember.id == Attendance.member_id)
                .where(TeamMember.case_id == self.ids[index], Attendance.status == "present")
            )
            return Fire(index, "complete_project") if present else Attend(index, 0, "present")
        if state == State.PROJECT_DONE:
            return Certificates(index)
        following = {
            State.DRAFT: "submit",
            State.REVIEWED: "admit",
            State.WAITLISTED: "admit",
            State.ADMITTED: "start",
        }
        return Fire(index, following.get(State(state), "withdraw"))

    def run(self, step: Step) -> None:
        case = self.session.get(Case, self.ids[step.case])
        if isinstance(step, Fire):
            version = self.stored_version(step.case)
            version += {"correct": 0, "older": -1, "newer": 1}[step.version]
            apply_transition(
                self.session,
                case,
                step.name,
                self.actor(step),
                version,
                "Begründung" if step.with_reason else None,
                now=self.moment(step),
            )
        elif isinstance(step, GiveReview):
            record_review(
                self.session, case, self.reviewers[step.reviewer], scores=SCORES, recommendation="admit"
            )
        elif isinstance(step, Attend):
            record_attendance(
                self.session,
                case,
                self.coordinator,
                session_id=self.workshop.id,
                member_id=case.team[step.member].id,
                status=step.status,
            )
        elif isinstance(step, Project):
            if step.move == "submit":
                update_project(
                    self.session,
                    case,
                    self.applicants[step.case],
                    title="Engagementlotsen",
                    summary="Ein Lotsenprogramm.",
                    status="submitted",
                )
            elif step.move == "approve":
                update_project(self.session, case, self.coordinator, status="approved")
            else:
                update_project(
                    self.session, case, self.coordinator, status="planned", reason="Bitte ergänzen"
                )
        else:
            issue_missing_certificates(self.session, case, Actor.system("issue_certificates"))

    def stored_version(self, index: int) -> int:
        return self.session.scalar(select(Case.version).where(Case.id == self.ids[index]))

    def stored_state(self, index: int) -> str:
        return self.session.scalar(select(Case.state).where(Case.id == self.ids[index]))

    # -- the oracle ------------------------------------------------------------------------------------
    def predicted(self, step: Fire, before: World) -> RefusalKind | str | None:
        """The refusal kind SPEC §4 demands, None for "must succeed", "guards" for "success or guard"."""
        sources, roles, _dest = SPEC[step.name]
        state = before.cases[step.case].state
        role = self.role(step)
        if role.removeprefix("own_") not in roles:
            return RefusalKind.FORBIDDEN
        if step.version != "correct":
            return RefusalKind.STALE_VERSION
        if state not in sources:
            return RefusalKind.WRONG_STATE
        now = self.moment(step)
        failing = {
            "submit": now > self.cohort.deadline_at,
            "return_for_revision": now > self.cohort.deadline_at or not step.with_reason,
            "review": self.review_count(step.case) < 1,
            "admit": sum(c.state in OCCUPYING_STATES for c in before.cases) >= CAPACITY,
            "waitlist": False,
            "reject": not step.with_reason,
            "withdraw": False,
            "start": now.astimezone(BERLIN).date() < self.cohort.starts_on,
            "drop_out": not step.with_reason,
        }
        if step.name not in failing:
            return "guards"  # project, attendance and certificates: checked by the targeted tests
        return RefusalKind.GUARD_FAILED if failing[step.name] else None

    def review_count(self, index: int) -> int:
        return self.session.scalar(select(func.count()).where(Review.case_id == self.ids[index]))


def check_success(session: Session, scenario: Scenario, step: Step, before: World, after: World) -> None:
    for index, (old, new) in enumerate(zip(before.cases, after.cases, strict=True)):
        if old.state == new.state:
            assert new.version == old.version, (step, index)
            assert new.transition_events == old.transition_events, (step, index)
            continue
        assert (old.state, new.state) in EDGES, (step, index, old.state, new.state)
        assert new.version == old.version + 1, (step, index)
        assert new.transition_events == old.transition_events + 1, (step, index)
        recorded = last_transition_event(session, scenario.ids[index])
        assert (recorded.from_state, recorded.to_state) == (old.state, new.state)
        spec = TRANSITIONS_BY_NAME[recorded.action.removeprefix("transition.")]
        assert new.state == spec.dest
        assert old.state in spec.sources
        assert recorded.data["version"] == new.version
        if isinstance(step, Fire):
            assert index == step.case
            assert recorded.action == f"transition.{step.name}"
            assert new.state == SPEC[step.name][2]
            assert recorded.actor == scenario.actor(step).label
        elif isinstance(step, GiveReview):
            assert recorded.action == "transition.review"
            assert recorded.actor == "system:record_review"
        elif isinstance(step, Certificates):
            assert recorded.action == "transition.certify"
        else:
            raise AssertionError(f"{step} changed the state of case {index}")
    assert sum(c.state in OCCUPYING_STATES for c in after.cases) <= CAPACITY


def attempt(scenario: Scenario, step: Step) -> Exception | None:
    """Run one step; a refusal is returned, not raised."""
    try:
        scenario.run(step)
    except (TransitionRefused, DomainError) as refusal:
        return refusal
    return None


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(steps, min_size=10, max_size=60))
def test_random_actions_keep_the_workflow_promises(database, actions):
    reset_database(database)
    with database.sessionmaker() as session:
        scenario = Scenario(session)
        for action in actions:
            step = scenario.resolve(action)
            before = look(session, scenario.ids)
            predicted = scenario.predicted(step, before) if isinstance(step, Fire) else "any"
            refusal = attempt(scenario, step)
            if refusal is None:
                assert not isinstance(predicted, RefusalKind), (step, predicted)
                session.commit()
                check_success(session, scenario, step, before, look(session, scenario.ids))
                for view in look(session, scenario.ids).cases:
                    event(f"reached {view.state}")
                continue
            if isinstance(refusal, TransitionRefused):
                assert predicted is not None, (step, refusal)
                if isinstance(predicted, RefusalKind):
                    assert refusal.kind is predicted, (step, refusal)
                elif predicted == "guards":
                    assert refusal.kind is RefusalKind.GUARD_FAILED, (step, refusal)
                assert not session.new
                assert not session.dirty
            else:
                assert not isinstance(step, Fire), (step, refusal)
            assert look(session, scenario.ids) == before, (step, refusal)
            session.rollback()  # as the API does after any refusal
        verification = chain.verify_database(session)
        assert verification.ok, verification.as_dict()


def test_the_oracle_and_the_machine_agree_on_the_edges():
    assert {(source, dest) for sources, _roles, dest in SPEC.values() for source in sources} == EDGES
    assert {
        name: (spec.dest.value, frozenset(s.value for s in spec.sources))
        for name, spec in TRANSITIONS_BY_NAME.items()
    } == {name: (dest, sources) for name, (sources, _r, dest) in SPEC.items()}
    assert {Role(role) for _s, roles, _d in SPEC.values() for role in roles} <= set(Role)
    assert set(State) >= {State(dest) for _s, _r, dest in SPEC.values()}
