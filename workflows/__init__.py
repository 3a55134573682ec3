"""The EWS case workflow: states, transitions, roles and guards — pure Python, no Flask, no SQL."""

from workflows.actors import Actor, Role
from workflows.definition import (
    FINAL_STATES,
    INITIAL_STATE,
    OCCUPYING_STATES,
    STATE_LABELS,
    TRANSITIONS,
    TRANSITIONS_BY_NAME,
    Effect,
    State,
    TransitionSpec,
)
from workflows.guards import BERLIN, Attempt, CaseFacts
from workflows.machine import (
    WORKFLOW,
    CaseWorkflow,
    Decision,
    Refusal,
    RefusalKind,
    TransitionRefused,
    WorkflowSubject,
)

__all__ = [
    "BERLIN",
    "FINAL_STATES",
    "INITIAL_STATE",
    "OCCUPYING_STATES",
    "STATE_LABELS",
    "TRANSITIONS",
    "TRANSITIONS_BY_NAME",
    "WORKFLOW",
    "Actor",
    "Attempt",
    "CaseFacts",
    "CaseWorkflow",
    "Decision",
    "Effect",
    "Refusal",
    "RefusalKind",
    "Role",
    "State",
    "TransitionRefused",
    "TransitionSpec",
    "WorkflowSubject",
]
