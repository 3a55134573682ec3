"""The per-state permissions beside the states (`workflows.definition.STATE_PERMISSIONS`)."""

from __future__ import annotations

from dataclasses import fields

import pytest

from workflows import STATE_PERMISSIONS, Permission, Role, State, StatePermissions, permits, states_permitting


def test_every_state_has_its_permissions_and_every_permission_a_field():
    assert set(STATE_PERMISSIONS) == set(State)
    assert [p.value for p in Permission] == [f.name for f in fields(StatePermissions)]


@pytest.mark.parametrize("state", list(State))
def test_whoever_holds_a_permission_may_view_the_case(state):
    granted = STATE_PERMISSIONS[state]
    for permission in Permission:
        assert granted.roles(permission) <= granted.view, (state, permission)


def test_the_application_is_editable_only_as_a_draft_by_the_team_and_the_office():
    for role in Role:
        expected = {State.DRAFT} if role in (Role.APPLICANT, Role.COORDINATOR) else set()
        assert states_permitting(Permission.EDIT_APPLICATION, role) == expected, role


def test_reviewers_see_no_drafts_and_review_only_submitted_cases():
    assert not permits(State.DRAFT, Permission.VIEW, Role.REVIEWER)
    assert states_permitting(Permission.VIEW, Role.REVIEWER) == set(State) - {State.DRAFT}
    assert states_permitting(Permission.REVIEW, Role.REVIEWER) == {State.SUBMITTED}


def test_applicants_never_read_reviews_or_the_timeline():
    assert states_permitting(Permission.READ_REVIEWS, Role.APPLICANT) == set()
    assert states_permitting(Permission.TIMELINE, Role.APPLICANT) == set()


def test_participation_is_recorded_only_while_attending():
    assert states_permitting(Permission.RECORD_ATTENDANCE, Role.COORDINATOR) == {State.ATTENDING}
    for role in (Role.APPLICANT, Role.COORDINATOR):
        assert states_permitting(Permission.EDIT_PROJECT, role) == {State.ATTENDING}
    assert states_permitting(Permission.PROJECT, Role.APPLICANT) == {
        State.ATTENDING,
        State.PROJECT_DONE,
        State.CERTIFIED,
    }
    assert states_permitting(Permission.CERTIFICATES, Role.COORDINATOR) == {
        State.PROJECT_DONE,
        State.CERTIFIED,
    }


def test_auditors_only_read_and_admins_hold_nothing_on_cases():
    writes = {
        Permission.EDIT_APPLICATION,
        Permission.REVIEW,
        Permission.EDIT_PROJECT,
        Permission.RECORD_ATTENDANCE,
    }
    for state in State:
        for permission in writes:
            assert not permits(state, permission, Role.AUDITOR), (state, permission)
        for permission in Permission:
            assert not permits(state, permission, Role.ADMIN), (state, permission)


def test_permits_takes_the_strings_stored_on_cases_and_users():
    assert permits("draft", Permission.EDIT_APPLICATION, "applicant")
    assert not permits("submitted", Permission.EDIT_APPLICATION, "applicant")
