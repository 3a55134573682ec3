"""One `transitions` machine for all cases, built from `workflows.definition`.

No case gets a machine of its own: the single `Machine` is created with `model=None` and each call passes
the subject (an object with a `state` attribute and the `CaseFacts`) to the event explicitly. Deciding
whether a transition is allowed and firing it use the same guard functions, so the reason shown to a user
is the reason the machine would refuse with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from typing import Any

from transitions import EventData, Machine

from workflows.actors import Actor, Role
from workflows.definition import (
    FINAL_STATES,
    INITIAL_STATE,
    STATE_LABELS,
    TRANSITIONS,
    State,
    TransitionSpec,
)
from workflows.guards import Attempt, CaseFacts, Guard, reason_given
from workflows.text import N_


class RefusalKind(StrEnum):
    """Why a transition cannot happen; the API maps these to 403, 409 and 422."""

    FORBIDDEN = "forbidden"
    WRONG_STATE = "wrong_state"
    STALE_VERSION = "stale_version"
    GUARD_FAILED = "guard_failed"
    UNKNOWN = "unknown_transition"


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: RefusalKind
    code: str
    message: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def render(self, translate: Callable[[str], str] = str) -> str:
        """The message in the reader's language (`translate` is gettext or the identity)."""
        return translate(self.message).format(**self.params)


class TransitionRefused(Exception):
    """Raised when a transition is refused; carries every reason that applies."""

    def __init__(self, transition: str, refusals: Iterable[Refusal]) -> None:
        self.transition = transition
        self.refusals = tuple(refusals)
        super().__init__(f"{transition}: " + "; ".join(r.render() for r in self.refusals))

    @property
    def kind(self) -> RefusalKind:
        return self.refusals[0].kind


@dataclass(frozen=True, slots=True)
class Decision:
    """Whether `spec` may be fired now, and if not, why."""

    spec: TransitionSpec
    refusals: tuple[Refusal, ...] = ()
    overridden: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.refusals


def _refusal(kind: RefusalKind, code: str, message: str, **params: Any) -> Refusal:
    return Refusal(kind, code, message, params)


PASSED, OVERRIDDEN = "passed", "overridden"
REASON_TO_BE_GIVEN = "(reason to be given)"


class CaseWorkflow:
    """The state machine of SPEC §4 plus the role and guard checks around it."""

    def __init__(self, specs: Iterable[TransitionSpec] = TRANSITIONS) -> None:
        self.specs: dict[str, TransitionSpec] = {spec.name: spec for spec in specs}
        self.machine = Machine(
            model=None,
            states=[state.value for state in State],
            initial=INITIAL_STATE.value,
            transitions=[self._machine_transition(spec) for spec in self.specs.values()],
            auto_transitions=False,
            send_event=True,
            model_attribute="state",
        )

    # -- building -----------------------------------------------------------------------------------
    def _machine_transition(self, spec: TransitionSpec) -> dict[str, Any]:
        return {
            "trigger": spec.name,
            "source": [state.value for state in spec.sources],
            "dest": spec.dest.value,
            "conditions": [partial(self._condition, spec, guard) for guard in spec.guards],
        }

    def _condition(self, spec: TransitionSpec, guard: Guard, event: EventData) -> bool:
        attempt: Attempt = event.kwargs["attempt"]
        return self._check_guard(spec, guard, event.model, attempt) in (PASSED, OVERRIDDEN)

    # -- deciding -----------------------------------------------------------------------------------
    def _check_guard(
        self, spec: TransitionSpec, guard: Guard, facts: CaseFacts, attempt: Attempt
    ) -> Refusal | str:
        """PASSED, OVERRIDDEN (a coordinator's reasoned exception), or the refusal."""
        params = guard(facts, attempt)
        if params is None:
            return PASSED
        if attempt.override and guard.code in spec.overridable and self.may_override(spec, attempt.actor):
            if attempt.has_reason:
                return OVERRIDDEN
            return _refusal(
                RefusalKind.GUARD_FAILED,
                reason_given.code,
                N_("Eine Ausnahme ist nur mit Begründung möglich."),
            )
        return Refusal(RefusalKind.GUARD_FAILED, guard.code, guard.message, dict(params))

    def may_override(self, spec: TransitionSpec, actor: Actor) -> bool:
        """Whether `actor` may override some of `spec`'s guards with a reason (the programme office only)."""
        return bool(spec.overridable) and actor.role is Role.COORDINATOR

    def overridable(self, decision: Decision, actor: Actor) -> bool:
        """Whether a refused `decision` would be allowed if `actor` overrode it with a reason."""
        refusals = decision.refusals
        return (
            bool(refusals)
            and self.may_override(decision.spec, actor)
            and all(r.code in decision.spec.overridable for r in refusals)
        )

    def decide(self, facts: CaseFacts, name: str, attempt: Attempt) -> Decision:
        """Check role, state and guards, in that order; a role or state refusal stops there."""
        spec = self.specs.get(name)
        if spec is None:
            unknown = TransitionSpec(name, (), State.DRAFT, frozenset(), name)
            return Decision(
                unknown,
                (
                    _refusal(
                        RefusalKind.UNKNOWN,
                        "unknown_transition",
                        N_("Die Aktion „{name}“ gibt es nicht."),
                        name=name,
                    ),
                ),
            )
        actor = attempt.actor
        if actor.role not in spec.roles:
            return Decision(
                spec,
                (
                    _refusal(
                        RefusalKind.FORBIDDEN,
                        "role",
                        N_("Ihre Rolle darf „{label}“ nicht ausführen."),
                        label=spec.label,
                    ),
                ),
            )
        if (
            actor.role is Role.APPLICANT
            and spec.own_case_only
            and actor.municipality_ags != facts.municipality_ags
        ):
            return Decision(
                spec,
                (
                    _refusal(
                        RefusalKind.FORBIDDEN,
                        "not_own_case",
                        N_("Sie dürfen nur Bewerbungen Ihrer eigenen Kommune bearbeiten."),
                    ),
                ),
            )
        if not self.machine.get_transitions(trigger=name, source=facts.state):
            return Decision(
                spec,
                (
                    _refusal(
                        RefusalKind.WRONG_STATE,
                        "wrong_state",
                        N_("Im Status „{state}“ ist „{label}“ nicht möglich."),
                        state=STATE_LABELS[State(facts.state)],
                        label=spec.label,
                    ),
                ),
            )
        refusals = []
        overridden = []
        for guard in spec.guards:
            outcome = self._check_guard(spec, guard, facts, attempt)
            if outcome is OVERRIDDEN:
                overridden.append(guard.code)
            elif isinstance(outcome, Refusal):
                refusals.append(outcome)
        return Decision(spec, tuple(refusals), tuple(overridden))

    def may(self, facts: CaseFacts, name: str, attempt: Attempt) -> bool:
        return self.decide(facts, name, attempt).allowed

    def options(self, facts: CaseFacts, attempt: Attempt) -> list[Decision]:
        """Every transition out of the current state that the actor's role may fire, allowed or not.

        A reason is asked for when the person chooses the action, so listing the options assumes one will
        be given; every other guard is checked as it stands.
        """
        decisions = []
        for spec in self.specs.values():
            if attempt.actor.role in spec.roles and State(facts.state) in spec.sources:
                probe = attempt
                if spec.requires_reason and not attempt.has_reason:
                    probe = replace(attempt, reason=REASON_TO_BE_GIVEN)
                decisions.append(self.decide(facts, spec.name, probe))
        return decisions

    def fire(self, facts: CaseFacts, name: str, attempt: Attempt) -> Decision:
        """Move `facts.state` along `name` or raise `TransitionRefused`; nothing else changes here."""
        decision = self.decide(facts, name, attempt)
        if not decision.allowed:
            raise TransitionRefused(name, decision.refusals)
        if not self.machine.events[name].trigger(facts, attempt=attempt):
            # The conditions run the same guards as `decide`; a difference means the facts changed.
            raise TransitionRefused(
                name,
                (
                    _refusal(
                        RefusalKind.GUARD_FAILED,
                        "facts_changed",
                        N_("Die Voraussetzungen haben sich gerade geändert."),
                    ),
                ),
            )
        return decision

    # -- describing ---------------------------------------------------------------------------------
    def as_data(self) -> dict[str, Any]:
        """The machine for `GET /api/v1/workflow`: states, transitions, roles, guards, effects."""
        return {
            "initial": INITIAL_STATE.value,
            "states": [
                {"name": s.value, "label": STATE_LABELS[s], "final": s in FINAL_STATES} for s in State
            ],
            "transitions": [
                {
                    "name": spec.name,
                    "label": spec.label,
                    "from": [s.value for s in spec.sources],
                    "to": spec.dest.value,
                    "roles": sorted(r.value for r in spec.roles),
                    "requires_reason": spec.requires_reason,
                    "guards": [{"code": g.code, "message": g.message} for g in spec.guards],
                    "overridable": sorted(spec.overridable),
                    "effects": [e.value for e in spec.effects],
                }
                for spec in self.specs.values()
            ],
        }

    def mermaid(self) -> str:
        """A Mermaid state diagram of the machine."""
        lines = ["stateDiagram-v2", f"    [*] --> {INITIAL_STATE.value}"]
        for spec in self.specs.values():
            roles = ", ".join(sorted(r.value for r in spec.roles))
            for source in spec.sources:
                lines.append(f"    {source.value} --> {spec.dest.value}: {spec.name} ({roles})")
        lines.extend(f"    {state.value} --> [*]" for state in State if state in FINAL_STATES)
        return "\n".join(lines) + "\n"


WORKFLOW = CaseWorkflow()


class WorkflowSubject:
    """Mixin for fact objects: `subject.may_admit(attempt)` asks the one shared machine."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("may_") and name[4:] in WORKFLOW.specs:
            return partial(WORKFLOW.may, self, name[4:])
        raise AttributeError(name)


__all__ = [
    "WORKFLOW",
    "Actor",
    "Attempt",
    "CaseWorkflow",
    "Decision",
    "Refusal",
    "RefusalKind",
    "TransitionRefused",
    "WorkflowSubject",
]
