"""Every row of the SPEC §4 table through `apply_transition` on the real database.

The table is written out again here, independently of `workflows.definition`, so that a drift of the
definition from the specification fails a test instead of silently changing what the tests check.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ews_cases.audit import chain
from ews_cases.audit.queries import resolved_data
from ews_cases.models import AuditEvent, Case, Certificate, OutboxMessage, User, utcnow
from ews_cases.services import cohorts
from ews_cases.services.reviews import record_review
from ews_cases.services.transitions import apply_transition
from testkit.factories import (
    ATTENDORN,
    BONN,
    FINNENTROP,
    OLPE_KREIS,
    Factory,
)
from workflows import TRANSITIONS, Actor, RefusalKind, Role, State, TransitionRefused

SCORES = {"need": 4, "strategy": 3, "leadership": 5, "capacity": 4, "network": 3}
REASON = "Begründung für die Akte"
_A, _C, _S = Role.APPLICANT, Role.COORDINATOR, Role.SYSTEM
S = State


@dataclass(frozen=True)
class Row:
    """One row of the SPEC §4 table: name, from, to, by."""

    name: str
    sources: tuple[State, ...]
    dest: State
    roles: frozenset[Role]


SPEC_TABLE = (
    Row("submit", (S.DRAFT,), S.SUBMITTED, frozenset({_A, _C})),
    Row("return_for_revision", (S.SUBMITTED,), S.DRAFT, frozenset({_C})),
    Row("review", (S.SUBMITTED,), S.REVIEWED, frozenset({_S})),
    Row("admit", (S.REVIEWED, S.WAITLISTED), S.ADMITTED, frozenset({_C})),
    Row("waitlist", (S.REVIEWED,), S.WAITLISTED, frozenset({_C})),
    Row("reject", (S.REVIEWED, S.WAITLISTED), S.REJECTED, frozenset({_C})),
    Row(
        "withdraw",
        (S.DRAFT, S.SUBMITTED, S.REVIEWED, S.WAITLISTED, S.ADMITTED),
        S.WITHDRAWN,
        frozenset({_A, _C}),
    ),
    Row("start", (S.ADMITTED,), S.ATTENDING, frozenset({_C, _S})),
    Row("drop_out", (S.ATTENDING,), S.DROPPED_OUT, frozenset({_C})),
    Row("complete_project", (S.ATTENDING,), S.PROJECT_DONE, frozenset({_C})),
    Row("certify", (S.PROJECT_DONE,), S.CERTIFIED, frozenset({_S})),
)
ROWS = {row.name: row for row in SPEC_TABLE}
NEEDS_REASON = frozenset({"return_for_revision", "reject", "drop_out"})

CONTACT = "kontakt@example.org"
MEMBERS = frozenset({"person1@example.org", "person2@example.org"})
APPLICANTS = MEMBERS | {CONTACT}
#: Outbox kinds each transition queues, and for whom: "team" = contact and every team member,
#: "contact" = at least the contact (any subset of the applicants), "coordinators" = every coordinator,
#: "members" = every team member (certificate holders).
EXPECTED_EMAILS: dict[str, tuple[tuple[str, str], ...]] = {
    "submit": (("confirm_submission", "team"),),
    "return_for_revision": (("explain_revision", "team"),),
    "review": (("notify_coordinators_reviewed", "coordinators"),),
    "admit": (("announce_admission", "team"),),
    "waitlist": (("announce_waitlist", "contact"),),
    "reject": (("explain_rejection", "team"),),
    "withdraw": (("confirm_withdrawal", "contact"),),
    "start": (("welcome_with_calendar", "team"),),
    "drop_out": (("explain_drop_out", "team"),),
    # Certificates are issued by the certificate worker after the commit; `certify` mails each holder's PDF.
    "complete_project": (),
    "certify": (("send_certificates", "members"),),
}

ALLOWED = [
    (row.name, source, role) for row in SPEC_TABLE for source in row.sources for role in sorted(row.roles)
]


# -- helpers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    state: str
    version: int
    audit_events: int
    outbox_messages: int


def snapshot(session: Session, case: Case) -> Snapshot:
    """What a refusal must leave untouched, read from the database (pending changes autoflush first)."""
    state, version = session.execute(select(Case.state, Case.version).where(Case.id == case.id)).one()
    return Snapshot(
        state=state,
        version=version,
        audit_events=session.scalar(select(func.count()).select_from(AuditEvent)),
        outbox_messages=session.scalar(select(func.count()).select_from(OutboxMessage)),
    )


def refuse(session: Session, case: Case, name: str, actor: Actor, **kwargs) -> TransitionRefused:
    """Fire `name`, expect a refusal, and check that it changed nothing, in memory or in the database."""
    session.flush()
    before = snapshot(session, case)
    version = kwargs.pop("expected_version", case.version)
    state_in_memory, version_in_memory = case.state, case.version
    with pytest.raises(TransitionRefused) as info:
        apply_transition(session, case, name, actor, version, **kwargs)
    assert not session.new
    assert not session.dirty
    assert not session.deleted
    assert (case.state, case.version) == (state_in_memory, version_in_memory)
    assert snapshot(session, case) == before
    return info.value


def last_event_id(session: Session) -> int:
    return session.scalar(select(func.max(AuditEvent.id))) or 0


def events_since(session: Session, event_id: int) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id)))


def messages_for(session: Session, case: Case) -> list[OutboxMessage]:
    return list(
        session.scalars(
            select(OutboxMessage).where(OutboxMessage.case_id == case.id).order_by(OutboxMessage.id)
        )
    )


def coordinator_emails(session: Session) -> set[str]:
    return set(session.scalars(select(User.email).where(User.role == "coordinator")))


def actor_as(factory: Factory, role: Role, case: Case) -> Actor:
    if role is Role.SYSTEM:
        return Actor.system("tests")
    if role is Role.COORDINATOR:
        return factory.coordinator()
    if role is Role.APPLICANT:
        return factory.actor("applicant", case.municipality_ags)
    return factory.actor(role.value)


def ready_case(session: Session, factory: Factory, name: str, source: State) -> tuple[Case, dict]:
    """A case in `source` whose guards for `name` all hold; returns it with the arguments to fire it."""
    cohort = factory.cohort()
    case = factory.case(cohort, state=source)
    kwargs: dict = {"reason": REASON if name in NEEDS_REASON else None, "now": factory.now}
    if name == "review":
        # One of two required reviews, then the coordinator lowers the requirement: the guard holds
        # while the case is still `submitted` (record_review would otherwise fire `review` itself).
        record_review(session, case, factory.user("reviewer"), scores=SCORES, recommendation="admit")
        cohorts.update_cohort(session, factory.coordinator(), cohort, {"required_reviews": 1})
    elif name == "start":
        kwargs["now"] = factory.after_start(case)
    elif name == "complete_project":
        factory.prepare_completion(case)
    elif name == "certify":
        for member in case.team:
            session.add(
                Certificate(
                    case_id=case.id,
                    member_id=member.id,
                    serial=f"TEST-{member.id}",
                    verification_code=f"test-code-{member.id}",
                    holder_name=member.name,
                    issued_at=utcnow(),
                    released_at=utcnow(),
                    pdf_path=f"/nonexistent/TEST-{member.id}.pdf",
                )
            )
    session.flush()
    assert case.state == source
    return case, kwargs


# -- the table ---------------------------------------------------------------------------------------


def test_the_machine_is_the_spec_table():
    defined = {(s.name, s.sources, s.dest, s.roles) for s in TRANSITIONS}
    assert defined == {(r.name, r.sources, r.dest, r.roles) for r in SPEC_TABLE}


@pytest.mark.parametrize(
    ("name", "source", "role"), ALLOWED, ids=[f"{n}-{s.value}-{r.value}" for n, s, r in ALLOWED]
)
def test_allowed_transition_changes_state_version_audit_and_outbox(session, factory, name, source, role):
    factory.actor("coordinator")  # a second coordinator: coordinator emails go to each of them
    case, kwargs = ready_case(session, factory, name, source)
    actor = actor_as(factory, role, case)
    version = case.version
    first_new_event = last_event_id(session)
    old_messages = {m.id for m in messages_for(session, case)}

    result = apply_transition(session, case, name, actor, version, **kwargs)
    session.commit()

    row = ROWS[name]
    assert result.id == case.id
    assert case.state == row.dest
    assert case.version == version + 1
    stored = session.execute(select(Case.state, Case.version).where(Case.id == case.id)).one()
    assert tuple(stored) == (row.dest.value, version + 1)

    events = events_since(session, first_new_event)
    assert len(events) == 1, [e.action for e in events]
    event = events[0]
    assert event.action == f"transition.{name}"
    assert event.case_id == case.id
    assert (event.from_state, event.to_state) == (source.value, row.dest.value)
    assert event.actor == actor.label
    assert event.actor_role == role.value
    assert event.data["transition"] == name
    assert event.data["version"] == version + 1
    assert resolved_data(session, event.data)["reason"] == kwargs["reason"]

    new = [m for m in messages_for(session, case) if m.id not in old_messages]
    assert sorted(e["id"] for e in event.data["emails"]) == sorted(m.id for m in new)
    expected = list(EXPECTED_EMAILS[name])
    if name == "withdraw" and source is State.ADMITTED:
        expected.append(("announce_free_place", "coordinators"))
    assert {m.kind for m in new} == {kind for kind, _ in expected}
    for kind, audience in expected:
        recipients = sorted(m.recipient for m in new if m.kind == kind)
        assert len(recipients) == len(set(recipients)), f"{kind} queued twice for one address"
        if audience == "team":
            assert set(recipients) == APPLICANTS
        elif audience == "members":
            assert set(recipients) == MEMBERS
        elif audience == "contact":
            assert CONTACT in recipients
            assert set(recipients) <= APPLICANTS
        else:
            assert set(recipients) == coordinator_emails(session)
            assert len(recipients) == 2
    if name in NEEDS_REASON:
        assert all(REASON in m.body for m in new)
    assert all(m.status == "pending" for m in new)
    assert chain.verify_database(session).ok


def test_start_welcome_email_carries_the_sessions_as_icalendar(session, factory):
    cohort = factory.cohort()
    workshops = [factory.workshop(cohort, cohort.starts_on + timedelta(days=d)) for d in (0, 14)]
    case = factory.case(cohort, state=State.ADMITTED)
    apply_transition(
        session, case, "start", factory.coordinator(), case.version, now=factory.after_start(case)
    )
    welcome = [m for m in messages_for(session, case) if m.kind == "welcome_with_calendar"]
    assert {m.recipient for m in welcome} == APPLICANTS
    for message in welcome:
        [attachment] = message.attachments
        assert attachment["content_type"].startswith("text/calendar")
        assert attachment["filename"].endswith(".ics")
        ics = base64.b64decode(attachment["content_b64"]).decode("utf-8")
        assert ics.startswith("BEGIN:VCALENDAR")
        assert ics.count("BEGIN:VEVENT") == len(workshops)
        for workshop in workshops:
            assert workshop.title in ics


# -- refusals: role, state, version ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ROWS))
def test_every_other_role_is_forbidden(session, factory, name):
    row = ROWS[name]
    case, kwargs = ready_case(session, factory, name, row.sources[0])
    for role in sorted(set(Role) - row.roles):
        refusal = refuse(session, case, name, actor_as(factory, role, case), **kwargs)
        assert refusal.kind is RefusalKind.FORBIDDEN, role
        assert refusal.refusals[0].code == "role"
    # The same case and arguments work for an allowed role: the refusals were about the role alone.
    allowed = sorted(row.roles)[0]
    apply_transition(session, case, name, actor_as(factory, allowed, case), case.version, **kwargs)
    assert case.state == row.dest


@pytest.mark.parametrize("name", [row.name for row in SPEC_TABLE if _A in row.roles])
def test_applicant_of_another_municipality_is_forbidden(session, factory, name):
    row = ROWS[name]
    case, kwargs = ready_case(session, factory, name, row.sources[0])
    for other in (ATTENDORN, OLPE_KREIS, BONN):  # same Kreis, its Kreis, elsewhere
        refusal = refuse(session, case, name, factory.actor("applicant", other), **kwargs)
        assert refusal.kind is RefusalKind.FORBIDDEN
        assert refusal.refusals[0].code == "not_own_case"
    apply_transition(session, case, name, factory.actor("applicant", FINNENTROP), case.version, **kwargs)
    assert case.state == row.dest


@pytest.mark.parametrize("state", list(State), ids=[s.value for s in State])
def test_transitions_from_other_states_are_wrong_state(session, factory, state):
    case = factory.case(factory.cohort(), state=state)
    tried = 0
    for row in SPEC_TABLE:
        if state in row.sources:
            continue
        role = _C if _C in row.roles else _S
        refusal = refuse(
            session,
            case,
            row.name,
            actor_as(factory, role, case),
            reason=REASON,
            now=factory.after_start(case),
        )
        assert refusal.kind is RefusalKind.WRONG_STATE, row.name
        assert refusal.refusals[0].code == "wrong_state"
        tried += 1
    assert tried == sum(state not in row.sources for row in SPEC_TABLE)


@pytest.mark.parametrize("name", list(ROWS))
def test_stale_version_is_refused(session, factory, name):
    row = ROWS[name]
    case, kwargs = ready_case(session, factory, name, row.sources[0])
    actor = actor_as(factory, sorted(row.roles)[0], case)
    for wrong in (case.version - 1, case.version + 1, 0):
        refusal = refuse(session, case, name, actor, expected_version=wrong, **kwargs)
        assert refusal.kind is RefusalKind.STALE_VERSION
        assert refusal.refusals[0].code == "stale_version"
        assert refusal.refusals[0].params == {"current": case.version, "expected": wrong}
    apply_transition(session, case, name, actor, case.version, **kwargs)
    assert case.state == row.dest


def test_unknown_transition_is_refused(session, factory):
    case = factory.case(factory.cohort())
    refusal = refuse(session, case, "promote", factory.coordinator())
    assert refusal.kind is RefusalKind.UNKNOWN


def test_version_from_a_second_session_is_stale_after_the_first_commits(db):
    with db.transaction() as s:
        factory = Factory(s)
        case = factory.case(factory.cohort(), state=State.REVIEWED)
        coordinator = factory.coordinator()
    seen_version = case.version
    with db.transaction() as s:
        apply_transition(s, s.get(Case, case.id), "waitlist", coordinator, seen_version)
    with db.transaction() as s:
        loaded = s.get(Case, case.id)
        refusal = refuse(s, loaded, "admit", coordinator, expected_version=seen_version)
        assert refusal.kind is RefusalKind.STALE_VERSION
        assert loaded.state == State.WAITLISTED


def test_two_coordinators_at_once_one_wins_the_other_is_stale(db):
    with db.transaction() as s:
        factory = Factory(s)
        case = factory.case(factory.cohort(), state=State.REVIEWED)
        coordinators = [factory.coordinator(), factory.actor("coordinator")]
    version = case.version
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def act(name: str, actor: Actor) -> None:
        barrier.wait()
        try:
            with db.transaction() as s:
                apply_transition(s, s.get(Case, case.id), name, actor, version)
            outcomes[name] = "ok"
        except TransitionRefused as refusal:
            outcomes[name] = refusal.kind
        except Exception as exc:  # reported by the assertion below
            outcomes[name] = exc

    threads = [
        threading.Thread(target=act, args=(name, actor))
        for name, actor in zip(("admit", "waitlist"), coordinators, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(map(str, outcomes.values())) == ["ok", RefusalKind.STALE_VERSION.value], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome == "ok")
    with db.transaction() as s:
        stored = s.get(Case, case.id)
        assert stored.state == ROWS[winner].dest
        assert stored.version == version + 1
        transitions = s.scalars(
            select(AuditEvent.action).where(
                AuditEvent.case_id == case.id, AuditEvent.action.like("transition.%")
            )
        ).all()
        assert transitions.count(f"transition.{winner}") == 1
        assert chain.verify_database(s).ok
