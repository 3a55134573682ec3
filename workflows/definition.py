"""The case state machine of SPEC §4, written down once, as data.

Everything else — the `transitions` machine, the API's `/workflow`, the diagram, the web buttons — is
derived from the tuples below. User-facing strings are German msgids marked with `N_` so that
Flask-Babel can extract and translate them without this package importing Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from workflows import guards
from workflows.actors import Role
from workflows.guards import Guard
from workflows.text import N_


class State(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REVIEWED = "reviewed"
    ADMITTED = "admitted"
    WAITLISTED = "waitlisted"
    ATTENDING = "attending"
    PROJECT_DONE = "project_done"
    CERTIFIED = "certified"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    DROPPED_OUT = "dropped_out"


INITIAL_STATE = State.DRAFT
#: States from which no transition leaves.
FINAL_STATES = frozenset({State.CERTIFIED, State.REJECTED, State.WITHDRAWN, State.DROPPED_OUT})
#: Cases in these states occupy one of the cohort's places (SPEC §4, guard of `admit`).
OCCUPYING_STATES = frozenset({State.ADMITTED, State.ATTENDING})

STATE_LABELS: dict[State, str] = {
    State.DRAFT: N_("Entwurf"),
    State.SUBMITTED: N_("Eingereicht"),
    State.REVIEWED: N_("Begutachtet"),
    State.ADMITTED: N_("Zugelassen"),
    State.WAITLISTED: N_("Warteliste"),
    State.ATTENDING: N_("Teilnahme läuft"),
    State.PROJECT_DONE: N_("Praxisprojekt abgeschlossen"),
    State.CERTIFIED: N_("Zertifiziert"),
    State.REJECTED: N_("Abgelehnt"),
    State.WITHDRAWN: N_("Zurückgezogen"),
    State.DROPPED_OUT: N_("Ausgeschieden"),
}


class Permission(StrEnum):
    """What a role may see or change on a case besides firing transitions (those: `TransitionSpec.roles`)."""

    VIEW = "view"  # read the case
    EDIT_APPLICATION = "edit_application"  # change contact, team, answers and consent
    REVIEW = "review"  # give a review
    READ_REVIEWS = "read_reviews"  # read the reviews (a reviewer only their own)
    PROJECT = "project"  # open the practice project
    EDIT_PROJECT = "edit_project"  # change the practice project's texts and status
    ATTENDANCE = "attendance"  # open the attendance register
    RECORD_ATTENDANCE = "record_attendance"  # record who attended a session
    CERTIFICATES = "certificates"  # list and revoke the certificates
    TIMELINE = "timeline"  # read the case's audit timeline


_A, _R, _C, _AU, _S = Role.APPLICANT, Role.REVIEWER, Role.COORDINATOR, Role.AUDITOR, Role.SYSTEM
_NOBODY: frozenset[Role] = frozenset()
_OFFICE = frozenset({_C})
_TEAM_AND_OFFICE = frozenset({_A, _C})
#: Who reads a draft; once submitted, reviewers too.
_DRAFT_READERS = frozenset({_A, _C, _AU, _S})
_CASE_READERS = _DRAFT_READERS | {_R}


@dataclass(frozen=True, slots=True)
class StatePermissions:
    """Who holds each `Permission` while a case is in one state (Hypha keeps these per phase).

    The defaults are what holds in most states; `STATE_PERMISSIONS` names what differs. On top of it,
    applicants act only on their own municipality's case, reviewers never on one they are conflicted for.
    """

    view: frozenset[Role] = _CASE_READERS
    edit_application: frozenset[Role] = _NOBODY
    review: frozenset[Role] = _NOBODY
    read_reviews: frozenset[Role] = frozenset({_R, _C, _AU})
    project: frozenset[Role] = _NOBODY
    edit_project: frozenset[Role] = _NOBODY
    attendance: frozenset[Role] = _NOBODY
    record_attendance: frozenset[Role] = _NOBODY
    certificates: frozenset[Role] = _NOBODY
    timeline: frozenset[Role] = frozenset({_C, _AU})

    def roles(self, permission: Permission) -> frozenset[Role]:
        roles: frozenset[Role] = getattr(self, permission.value)
        return roles


_AFTER_THE_PROJECT = StatePermissions(project=_TEAM_AND_OFFICE, attendance=_OFFICE, certificates=_OFFICE)

STATE_PERMISSIONS: dict[State, StatePermissions] = {
    State.DRAFT: StatePermissions(
        view=_DRAFT_READERS,
        edit_application=_TEAM_AND_OFFICE,
        read_reviews=frozenset({_C, _AU}),  # of a case returned for revision
    ),
    State.SUBMITTED: StatePermissions(review=frozenset({_R})),
    State.REVIEWED: StatePermissions(),
    State.ADMITTED: StatePermissions(),
    State.WAITLISTED: StatePermissions(),
    State.ATTENDING: StatePermissions(
        project=_TEAM_AND_OFFICE,
        edit_project=_TEAM_AND_OFFICE,
        attendance=_OFFICE,
        record_attendance=_OFFICE,
    ),
    State.PROJECT_DONE: _AFTER_THE_PROJECT,
    State.CERTIFIED: _AFTER_THE_PROJECT,
    State.REJECTED: StatePermissions(),
    State.WITHDRAWN: StatePermissions(),
    State.DROPPED_OUT: StatePermissions(),
}


def permits(state: State | str, permission: Permission, role: Role | str) -> bool:
    """Whether `role` holds `permission` on a case in `state` (the one question pages, API and services ask)."""
    return Role(role) in STATE_PERMISSIONS[State(state)].roles(permission)


def states_permitting(permission: Permission, role: Role | str) -> frozenset[State]:
    """The states in which `role` holds `permission` (for queries over many cases)."""
    return frozenset(state for state in State if permits(state, permission, role))


class Effect(StrEnum):
    """Side effects a transition causes; what each one does: `HANDLERS` in ews_cases/services/effects.py."""

    CONFIRM_SUBMISSION = "confirm_submission"
    EXPLAIN_REVISION = "explain_revision"
    NOTIFY_COORDINATORS_REVIEWED = "notify_coordinators_reviewed"
    ANNOUNCE_ADMISSION = "announce_admission"
    ANNOUNCE_WAITLIST = "announce_waitlist"
    EXPLAIN_REJECTION = "explain_rejection"
    CONFIRM_WITHDRAWAL = "confirm_withdrawal"
    ANNOUNCE_FREE_PLACE = "announce_free_place"
    WELCOME_WITH_CALENDAR = "welcome_with_calendar"
    EXPLAIN_DROP_OUT = "explain_drop_out"
    QUEUE_CERTIFICATES = "queue_certificates"
    SEND_CERTIFICATES = "send_certificates"


@dataclass(frozen=True, slots=True)
class TransitionSpec:
    """One row of the SPEC §4 table."""

    name: str
    sources: tuple[State, ...]
    dest: State
    roles: frozenset[Role]
    label: str
    guards: tuple[Guard, ...] = ()
    effects: tuple[Effect, ...] = ()
    #: Applicants may fire it only on their own municipality's case.
    own_case_only: bool = True
    #: Whether the person firing it must give a reason (always required for an override).
    requires_reason: bool = False
    #: Guards a coordinator may override by giving a reason (SPEC §4: region of the call).
    overridable: frozenset[str] = field(default_factory=frozenset)


TRANSITIONS: tuple[TransitionSpec, ...] = (
    TransitionSpec(
        "submit",
        (State.DRAFT,),
        State.SUBMITTED,
        frozenset({_A, _C}),
        N_("Bewerbung einreichen"),
        guards=(
            guards.before_deadline,
            guards.answers_given,
            guards.team_complete,
            guards.consent_given,
            guards.within_region,
        ),
        effects=(Effect.CONFIRM_SUBMISSION,),
        overridable=frozenset({guards.within_region.code}),
    ),
    TransitionSpec(
        "return_for_revision",
        (State.SUBMITTED,),
        State.DRAFT,
        frozenset({_C}),
        N_("Zur Überarbeitung zurückgeben"),
        guards=(guards.before_deadline, guards.reason_given),
        effects=(Effect.EXPLAIN_REVISION,),
        requires_reason=True,
    ),
    TransitionSpec(
        "review",
        (State.SUBMITTED,),
        State.REVIEWED,
        frozenset({_S}),
        N_("Begutachtung abschließen"),
        guards=(guards.enough_reviews,),
        effects=(Effect.NOTIFY_COORDINATORS_REVIEWED,),
    ),
    TransitionSpec(
        "admit",
        (State.REVIEWED, State.WAITLISTED),
        State.ADMITTED,
        frozenset({_C}),
        N_("Zulassen"),
        guards=(guards.place_available,),
        effects=(Effect.ANNOUNCE_ADMISSION,),
    ),
    TransitionSpec(
        "waitlist",
        (State.REVIEWED,),
        State.WAITLISTED,
        frozenset({_C}),
        N_("Auf die Warteliste setzen"),
        effects=(Effect.ANNOUNCE_WAITLIST,),
    ),
    TransitionSpec(
        "reject",
        (State.REVIEWED, State.WAITLISTED),
        State.REJECTED,
        frozenset({_C}),
        N_("Ablehnen"),
        guards=(guards.reason_given,),
        effects=(Effect.EXPLAIN_REJECTION,),
        requires_reason=True,
    ),
    TransitionSpec(
        "withdraw",
        (State.DRAFT, State.SUBMITTED, State.REVIEWED, State.WAITLISTED, State.ADMITTED),
        State.WITHDRAWN,
        frozenset({_A, _C}),
        N_("Bewerbung zurückziehen"),
        effects=(Effect.CONFIRM_WITHDRAWAL, Effect.ANNOUNCE_FREE_PLACE),
    ),
    TransitionSpec(
        "start",
        (State.ADMITTED,),
        State.ATTENDING,
        frozenset({_C, _S}),
        N_("Teilnahme beginnen"),
        guards=(guards.start_date_reached,),
        effects=(Effect.WELCOME_WITH_CALENDAR,),
    ),
    TransitionSpec(
        "drop_out",
        (State.ATTENDING,),
        State.DROPPED_OUT,
        frozenset({_C}),
        N_("Ausscheiden vermerken"),
        guards=(guards.reason_given,),
        effects=(Effect.EXPLAIN_DROP_OUT,),
        requires_reason=True,
    ),
    TransitionSpec(
        "complete_project",
        (State.ATTENDING,),
        State.PROJECT_DONE,
        frozenset({_C}),
        N_("Praxisprojekt abschließen"),
        guards=(guards.project_approved, guards.attendance_reached),
        effects=(Effect.QUEUE_CERTIFICATES,),
    ),
    TransitionSpec(
        "certify",
        (State.PROJECT_DONE,),
        State.CERTIFIED,
        frozenset({_S}),
        N_("Zertifizieren"),
        guards=(guards.certificates_issued,),
        effects=(Effect.SEND_CERTIFICATES,),
    ),
)

TRANSITIONS_BY_NAME: dict[str, TransitionSpec] = {spec.name: spec for spec in TRANSITIONS}
