"""The EWS case workflow: states, transitions, roles, guards, per-state permissions — pure Python, no Flask, no SQL."""

from workflows.actors import Actor, Role
from workflows.definition import (
    FINAL_STATES,
    INITIAL_STATE,
    OCCUPYING_STATES,
    STATE_LABELS,
    STATE_PERMISSIONS,
    TRANSITIONS,
    TRANSITIONS_BY_NAME,
    Effect,
    Permission,
    State,
    StatePermissions,
    TransitionSpec,
    permits,
    states_permitting,
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
    "STATE_PERMISSIONS",
    "TRANSITIONS",
    "TRANSITIONS_BY_NAME",
    "WORKFLOW",
    "Actor",
    "Attempt",
    "CaseFacts",
    "CaseWorkflow",
    "Decision",
    "Effect",
    "Permission",
    "Refusal",
    "RefusalKind",
    "Role",
    "State",
    "StatePermissions",
    "TransitionRefused",
    "TransitionSpec",
    "WorkflowSubject",
    "permits",
    "states_permitting",
]
