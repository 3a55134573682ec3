"""The case state machine against SPEC §4, written out here independently of `workflows.definition`.

The expected table below is copied from the specification, not read from `TRANSITIONS`, so that a wrong
source state, role, destination or guard in the definition makes these tests fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import NamedTuple

import pytest

from workflows import BERLIN, WORKFLOW, Actor, Attempt, Role, TransitionRefused, WorkflowSubject

OWN_AGS = "05382068"  # Siegburg
OTHER_AGS = "05315000"  # Köln
NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
DEADLINE = datetime(2026, 6, 30, 23, 59, 59, tzinfo=BERLIN)

STATES = (
    "draft",
    "submitted",
    "reviewed",
    "admitted",
    "waitlisted",
    "attending",
    "project_done",
    "certified",
    "rejected",
    "withdrawn",
    "dropped_out",
)


class Row(NamedTuple):
    sources: frozenset[str]
    dest: str
    roles: frozenset[str]
    guards: tuple[str, ...]


def _row(sources: str, dest: str, roles: str, guards: str = "") -> Row:
    return Row(frozenset(sources.split()), dest, frozenset(roles.split()), tuple(guards.split()))


#: SPEC §4, one row per transition: from, to, by, guard codes (in the order the spec names them).
SPEC_TABLE: dict[str, Row] = {
    "submit": _row(
        "draft",
        "submitted",
        "applicant coordinator",
        "deadline_passed answers_missing team_incomplete consent_missing outside_region",
    ),
    "return_for_revision": _row("submitted", "draft", "coordinator", "deadline_passed reason_missing"),
    "review": _row("submitted", "reviewed", "system", "reviews_missing"),
    "admit": _row("reviewed waitlisted", "admitted", "coordinator", "capacity_reached"),
    "waitlist": _row("reviewed", "waitlisted", "coordinator"),
    "reject": _row("reviewed waitlisted", "rejected", "coordinator", "reason_missing"),
    "withdraw": _row("draft submitted reviewed waitlisted admitted", "withdrawn", "applicant coordinator"),
    "start": _row("admitted", "attending", "coordinator system", "not_started"),
    "drop_out": _row("attending", "dropped_out", "coordinator", "reason_missing"),
    "complete_project": _row(
        "attending", "project_done", "coordinator", "project_not_approved attendance_too_low"
    ),
    "certify": _row("project_done", "certified", "system", "certificates_missing"),
}
#: Applicants may fire these only on their own municipality's case.
OWN_CASE_ONLY = frozenset({"submit", "withdraw"})

ACTORS: dict[str, Actor] = {
    "applicant_own": Actor(Role.APPLICANT, user_id=1, municipality_ags=OWN_AGS),
    "applicant_other": Actor(Role.APPLICANT, user_id=2, municipality_ags=OTHER_AGS),
    "reviewer": Actor(Role.REVIEWER, user_id=3),
    "coordinator": Actor(Role.COORDINATOR, user_id=4),
    "auditor": Actor(Role.AUDITOR, user_id=5),
    "admin": Actor(Role.ADMIN, user_id=6),
    "system": Actor.system("test"),
}


@dataclass
class Facts(WorkflowSubject):
    """A case whose every guard is satisfied at `NOW` unless a test changes a field."""

    state: str = "draft"
    municipality_ags: str = OWN_AGS
    deadline_at: datetime = DEADLINE
    missing_answers: list[str] = field(default_factory=list)
    team_problems: list[str] = field(default_factory=list)
    consent: bool = True
    cohort_region: str | None = "Köln"
    municipality_region: str = "Köln"
    review_count: int = 2
    required_reviews: int = 2
    occupied_places: int = 9
    capacity: int = 10
    starts_on: date | None = date(2026, 6, 1)
    project_status: str | None = "approved"
    min_attendance: float = 0.75
    members_meeting_attendance: int = 1
    certificates_missing: int = 0


def attempt(actor: str = "coordinator", **changes: object) -> Attempt:
    values: dict[str, object] = {"now": NOW, "reason": "Begründung"} | changes
    return Attempt(ACTORS[actor], **values)


def expected_outcome(name: str, state: str, actor: str) -> str:
    row = SPEC_TABLE[name]
    if ACTORS[actor].role.value not in row.roles:
        return "forbidden"
    if actor == "applicant_other" and name in OWN_CASE_ONLY:
        return "forbidden"
    if state not in row.sources:
        return "wrong_state"
    return "allowed"


def actors_for(name: str) -> list[str]:
    """The actors that may fire `name` on the default (own) case."""
    return [
        key
        for key, actor in ACTORS.items()
        if expected_outcome(name, next(iter(SPEC_TABLE[name].sources)), key) == "allowed"
    ]


# -- the definition covers exactly the spec ------------------------------------------------------------


def test_definition_has_exactly_the_spec_transitions_and_states():
    assert set(WORKFLOW.specs) == set(SPEC_TABLE)
    assert set(WORKFLOW.machine.states) == set(STATES)


# -- every transition × state × role -------------------------------------------------------------------

MATRIX = [
    pytest.param(name, state, actor, id=f"{name}-{state}-{actor}")
    for name in SPEC_TABLE
    for state in STATES
    for actor in ACTORS
]


@pytest.mark.parametrize(("name", "state", "actor"), MATRIX)
def test_who_may_fire_what_from_where(name, state, actor):
    facts = Facts(state=state)
    expected = expected_outcome(name, state, actor)

    decision = WORKFLOW.decide(facts, name, attempt(actor))

    assert decision.spec.name == name
    if expected == "allowed":
        assert decision.allowed, [r.render() for r in decision.refusals]
        assert WORKFLOW.may(facts, name, attempt(actor))
        WORKFLOW.fire(facts, name, attempt(actor))
        assert facts.state == SPEC_TABLE[name].dest
    else:
        assert [r.kind for r in decision.refusals] == [expected]
        assert "{" not in decision.refusals[0].render()
        assert not WORKFLOW.may(facts, name, attempt(actor))
        with pytest.raises(TransitionRefused) as refused:
            WORKFLOW.fire(facts, name, attempt(actor))
        assert refused.value.kind == expected
        assert facts.state == state


def test_role_is_checked_before_state_and_state_before_guards():
    broken = {"consent": False, "missing_answers": ["goals"], "deadline_at": datetime(2026, 1, 1, tzinfo=UTC)}
    forbidden = WORKFLOW.decide(Facts(state="attending", **broken), "submit", attempt("auditor"))
    assert [r.kind for r in forbidden.refusals] == ["forbidden"]
    wrong_state = WORKFLOW.decide(Facts(state="submitted", **broken), "submit", attempt("coordinator"))
    assert [r.kind for r in wrong_state.refusals] == ["wrong_state"]


# -- guards ----------------------------------------------------------------------------------------------

#: How to make each guard fail (fact changes, attempt changes) and the German message it must render.
FAILURES: dict[str, tuple[dict[str, object], dict[str, object], str]] = {
    "deadline_passed": (
        {"deadline_at": datetime(2026, 6, 1, 23, 59, 59, tzinfo=BERLIN)},
        {},
        "Die Bewerbungsfrist ist am 01.06.2026 23:59 abgelaufen.",
    ),
    "answers_missing": (
        {"missing_answers": ["motivation", "goals"]},
        {},
        "Nicht alle Fragen sind beantwortet: motivation, goals.",
    ),
    "team_incomplete": (
        {"team_problems": ["2 Mitglieder erforderlich", "E-Mail fehlt"]},
        {},
        "Das Entwicklungsteam ist unvollständig: 2 Mitglieder erforderlich; E-Mail fehlt.",
    ),
    "consent_missing": ({"consent": False}, {}, "Die Einwilligung in die Datenverarbeitung fehlt."),
    "outside_region": (
        {"cohort_region": "Arnsberg", "municipality_region": "Köln"},
        {},
        "Die Ausschreibung ist auf den Regierungsbezirk Arnsberg beschränkt; die Kommune liegt im "
        "Regierungsbezirk Köln.",
    ),
    "reason_missing": ({}, {"reason": None}, "Bitte geben Sie eine Begründung an."),
    "reviews_missing": ({"review_count": 1}, {}, "Es liegen 1 von 2 erforderlichen Gutachten vor."),
    "capacity_reached": (
        {"occupied_places": 10},
        {},
        "Alle 10 Plätze des Durchgangs sind vergeben.",
    ),
    "not_started": ({"starts_on": date(2026, 9, 1)}, {}, "Der Durchgang beginnt erst am 01.09.2026."),
    "project_not_approved": (
        {"project_status": "submitted"},
        {},
        "Das Praxisprojekt ist noch nicht freigegeben.",
    ),
    "attendance_too_low": (
        {"members_meeting_attendance": 0},
        {},
        "Kein Teammitglied hat mindestens 75 Prozent der Workshops besucht.",
    ),
    "certificates_missing": ({"certificates_missing": 2}, {}, "Es fehlen noch 2 Zertifikate."),
}

GUARD_CASES = [
    pytest.param(name, code, source, actor, id=f"{name}-{code}-{source}-{actor}")
    for name, row in SPEC_TABLE.items()
    for code in row.guards
    for source in sorted(row.sources)
    for actor in actors_for(name)
]


@pytest.mark.parametrize(("name", "code", "source", "actor"), GUARD_CASES)
def test_each_guard_refuses_alone_with_its_german_message(name, code, source, actor):
    fact_changes, attempt_changes, message = FAILURES[code]
    facts = Facts(state=source, **fact_changes)

    decision = WORKFLOW.decide(facts, name, attempt(actor, **attempt_changes))

    assert [(r.kind, r.code) for r in decision.refusals] == [("guard_failed", code)]
    assert decision.refusals[0].render() == message
    with pytest.raises(TransitionRefused) as refused:
        WORKFLOW.fire(facts, name, attempt(actor, **attempt_changes))
    assert refused.value.kind == "guard_failed"
    assert refused.value.refusals[0].code == code
    assert message in str(refused.value)
    assert facts.state == source


@pytest.mark.parametrize(
    ("name", "source", "fact_changes", "attempt_changes", "code"),
    [
        pytest.param("reject", "reviewed", {}, {"reason": "   "}, "reason_missing", id="blank-reason"),
        pytest.param("drop_out", "attending", {}, {"reason": ""}, "reason_missing", id="empty-reason"),
        pytest.param("start", "admitted", {"starts_on": None}, {}, "not_started", id="no-start-date"),
        pytest.param(
            "complete_project",
            "attending",
            {"project_status": None},
            {},
            "project_not_approved",
            id="no-project",
        ),
        pytest.param(
            "admit", "waitlisted", {"occupied_places": 11}, {}, "capacity_reached", id="over-capacity"
        ),
    ],
)
def test_guard_edge_values(name, source, fact_changes, attempt_changes, code):
    decision = WORKFLOW.decide(Facts(state=source, **fact_changes), name, attempt(**attempt_changes))
    assert [r.code for r in decision.refusals] == [code]
    assert "{" not in decision.refusals[0].render()


ALL_BROKEN_FACTS: dict[str, object] = {}
ALL_BROKEN_ATTEMPT: dict[str, object] = {}
for _facts, _attempt, _ in FAILURES.values():
    ALL_BROKEN_FACTS |= _facts
    ALL_BROKEN_ATTEMPT |= _attempt


@pytest.mark.parametrize(
    ("name", "source", "actor"),
    [
        pytest.param(name, source, actor, id=f"{name}-{source}-{actor}")
        for name, row in SPEC_TABLE.items()
        for source in sorted(row.sources)
        for actor in actors_for(name)
    ],
)
def test_all_failing_guards_are_reported_together(name, source, actor):
    facts = Facts(state=source, **ALL_BROKEN_FACTS)
    decision = WORKFLOW.decide(facts, name, attempt(actor, **ALL_BROKEN_ATTEMPT))
    assert sorted(r.code for r in decision.refusals) == sorted(SPEC_TABLE[name].guards)
    assert all(r.kind == "guard_failed" for r in decision.refusals)
    assert all("{" not in r.render() for r in decision.refusals)


# -- region override -------------------------------------------------------------------------------------

OUTSIDE = {"cohort_region": "Arnsberg", "municipality_region": "Köln"}


def test_coordinator_overrides_region_with_a_reason():
    facts = Facts(**OUTSIDE)
    override = attempt("coordinator", override=True, reason="Nachzügler aus dem Nachbarbezirk")

    decision = WORKFLOW.decide(facts, "submit", override)

    assert decision.allowed
    assert decision.overridden == ("outside_region",)
    assert WORKFLOW.fire(facts, "submit", override).overridden == ("outside_region",)
    assert facts.state == "submitted"


@pytest.mark.parametrize("reason", [None, "", "  "])
def test_region_override_needs_a_reason(reason):
    facts = Facts(**OUTSIDE)
    decision = WORKFLOW.decide(facts, "submit", attempt("coordinator", override=True, reason=reason))
    assert [r.kind for r in decision.refusals] == ["guard_failed"]
    assert decision.refusals[0].code == "reason_missing"
    assert decision.overridden == ()
    with pytest.raises(TransitionRefused):
        WORKFLOW.fire(facts, "submit", attempt("coordinator", override=True, reason=reason))
    assert facts.state == "draft"


def test_applicant_cannot_override_region():
    decision = WORKFLOW.decide(
        Facts(**OUTSIDE), "submit", attempt("applicant_own", override=True, reason="Bitte trotzdem")
    )
    assert [r.code for r in decision.refusals] == ["outside_region"]
    assert decision.overridden == ()


def test_coordinator_without_override_flag_is_refused_outside_region():
    decision = WORKFLOW.decide(Facts(**OUTSIDE), "submit", attempt("coordinator"))
    assert [r.code for r in decision.refusals] == ["outside_region"]


def test_override_covers_only_the_region():
    facts = Facts(consent=False, deadline_at=datetime(2026, 6, 1, tzinfo=BERLIN), **OUTSIDE)
    decision = WORKFLOW.decide(facts, "submit", attempt("coordinator", override=True, reason="Ausnahme"))
    assert sorted(r.code for r in decision.refusals) == ["consent_missing", "deadline_passed"]
    assert decision.overridden == ("outside_region",)


def test_override_within_region_overrides_nothing():
    decision = WORKFLOW.decide(Facts(), "submit", attempt("coordinator", override=True, reason="Ausnahme"))
    assert decision.allowed
    assert decision.overridden == ()


# -- unknown transitions, fire -----------------------------------------------------------------------------


@pytest.mark.parametrize("actor", list(ACTORS))
def test_unknown_transition_is_refused_before_anything_else(actor):
    facts = Facts()
    decision = WORKFLOW.decide(facts, "teleport", attempt(actor))
    assert [r.kind for r in decision.refusals] == ["unknown_transition"]
    assert "teleport" in decision.refusals[0].render()
    with pytest.raises(TransitionRefused) as refused:
        WORKFLOW.fire(facts, "teleport", attempt(actor))
    assert refused.value.kind == "unknown_transition"
    assert facts.state == "draft"


def test_main_path_fires_through_to_certified():
    facts = Facts()
    steps = [
        ("submit", "applicant_own"),
        ("review", "system"),
        ("waitlist", "coordinator"),
        ("admit", "coordinator"),
        ("start", "system"),
        ("complete_project", "coordinator"),
        ("certify", "system"),
    ]
    for name, actor in steps:
        WORKFLOW.fire(facts, name, attempt(actor))
        assert facts.state == SPEC_TABLE[name].dest
    assert facts.state == "certified"
    assert WORKFLOW.options(facts, attempt("coordinator")) == []


# -- time: deadline and start date in Europe/Berlin ---------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "allowed"),
    [
        pytest.param(datetime(2026, 6, 30, 21, 59, 59, tzinfo=UTC), True, id="23:59:59-berlin"),
        pytest.param(datetime(2026, 6, 30, 22, 0, 0, tzinfo=UTC), False, id="00:00:00-berlin"),
        pytest.param(datetime(2026, 6, 30, 23, 59, 59, tzinfo=BERLIN), True, id="berlin-last-second"),
        pytest.param(datetime(2026, 7, 1, 0, 0, 0, tzinfo=BERLIN), False, id="berlin-next-day"),
        pytest.param(datetime(2026, 6, 30, 23, 30, 0, tzinfo=UTC), False, id="utc-still-june-30"),
    ],
)
@pytest.mark.parametrize(("name", "source"), [("submit", "draft"), ("return_for_revision", "submitted")])
def test_deadline_closes_at_23_59_59_berlin(name, source, now, allowed):
    decision = WORKFLOW.decide(Facts(state=source), name, attempt("coordinator", now=now))
    if allowed:
        assert decision.allowed
    else:
        assert [r.code for r in decision.refusals] == ["deadline_passed"]
        assert decision.refusals[0].render() == "Die Bewerbungsfrist ist am 30.06.2026 23:59 abgelaufen."


@pytest.mark.parametrize(
    ("starts_on", "now", "allowed"),
    [
        # Summer time (UTC+2): 1 September starts at 31 August 22:00 UTC.
        pytest.param(
            date(2026, 9, 1), datetime(2026, 8, 31, 21, 59, 59, tzinfo=UTC), False, id="cest-day-before"
        ),
        pytest.param(date(2026, 9, 1), datetime(2026, 8, 31, 22, 0, 0, tzinfo=UTC), True, id="cest-midnight"),
        pytest.param(
            date(2026, 9, 1), datetime(2026, 8, 31, 23, 30, 0, tzinfo=UTC), True, id="cest-utc-date-behind"
        ),
        pytest.param(date(2026, 9, 1), datetime(2026, 9, 1, 21, 59, 0, tzinfo=UTC), True, id="cest-same-day"),
        # Winter time (UTC+1): 15 January starts at 14 January 23:00 UTC.
        pytest.param(
            date(2027, 1, 15), datetime(2027, 1, 14, 22, 59, 59, tzinfo=UTC), False, id="cet-day-before"
        ),
        pytest.param(date(2027, 1, 15), datetime(2027, 1, 14, 23, 0, 0, tzinfo=UTC), True, id="cet-midnight"),
    ],
)
@pytest.mark.parametrize("actor", ["coordinator", "system"])
def test_start_allowed_from_the_berlin_day_of_starts_on(starts_on, now, allowed, actor):
    decision = WORKFLOW.decide(Facts(state="admitted", starts_on=starts_on), "start", attempt(actor, now=now))
    if allowed:
        assert decision.allowed
    else:
        assert [r.code for r in decision.refusals] == ["not_started"]


# -- options, description, the one shared machine ---------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "actor"), [pytest.param(s, a, id=f"{s}-{a}") for s in STATES for a in ACTORS]
)
def test_options_are_the_transitions_out_of_the_state_for_the_role(state, actor):
    role = ACTORS[actor].role.value
    expected = {name for name, row in SPEC_TABLE.items() if state in row.sources and role in row.roles}

    decisions = WORKFLOW.options(Facts(state=state), attempt(actor))

    assert {d.spec.name for d in decisions} == expected
    assert len(decisions) == len(expected)
    for decision in decisions:
        assert decision.allowed == (expected_outcome(decision.spec.name, state, actor) == "allowed")


def test_as_data_lists_every_state_and_transition():
    data = WORKFLOW.as_data()
    assert data["initial"] == "draft"
    assert [s["name"] for s in data["states"]] == list(STATES)
    assert {s["name"] for s in data["states"] if s["final"]} == {
        "certified",
        "rejected",
        "withdrawn",
        "dropped_out",
    }
    assert all(s["label"] for s in data["states"])
    described = {t["name"]: t for t in data["transitions"]}
    assert set(described) == set(SPEC_TABLE)
    for name, row in SPEC_TABLE.items():
        t = described[name]
        assert set(t["from"]) == row.sources, name
        assert t["to"] == row.dest, name
        assert set(t["roles"]) == row.roles, name
        assert sorted(g["code"] for g in t["guards"]) == sorted(row.guards), name
        assert t["label"], name
    assert described["submit"]["overridable"] == ["outside_region"]
    assert {n for n, t in described.items() if t["requires_reason"]} == {
        "return_for_revision",
        "reject",
        "drop_out",
    }


def test_one_machine_without_auto_transitions_or_registered_cases():
    machine = WORKFLOW.machine
    assert machine.auto_transitions is False
    assert set(machine.events) == set(SPEC_TABLE)
    assert not [e for e in machine.events if e.startswith("to_")]

    cases = [Facts() for _ in range(50)]
    for facts in cases:
        for name, actor in [("submit", "applicant_own"), ("review", "system"), ("admit", "coordinator")]:
            WORKFLOW.decide(facts, name, attempt(actor))
            WORKFLOW.fire(facts, name, attempt(actor))
        with pytest.raises(TransitionRefused):
            WORKFLOW.fire(facts, "certify", attempt("system"))
        WORKFLOW.options(facts, attempt("coordinator"))

    assert machine.models == []
    assert all(facts.state == "admitted" for facts in cases)
    # `add_model` would have bound triggers and state checks to the case object.
    assert not hasattr(cases[0], "to_draft")
    assert not hasattr(cases[0], "is_admitted")
    assert not hasattr(cases[0], "trigger")
    assert set(vars(cases[0])) == set(vars(Facts()))


def test_may_transition_on_the_facts_object():
    facts = Facts(state="reviewed")
    assert facts.may_admit(attempt("coordinator")) is True
    assert facts.may_admit(attempt("applicant_own")) is False
    assert Facts(state="draft").may_admit(attempt("coordinator")) is False
    assert Facts(state="reviewed", occupied_places=10).may_admit(attempt("coordinator")) is False
    assert facts.may_withdraw(attempt("applicant_own")) is True
    assert facts.may_withdraw(attempt("applicant_other")) is False
    assert facts.state == "reviewed"
    with pytest.raises(AttributeError):
        _ = facts.may_teleport
