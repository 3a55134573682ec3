"""Who may see what (SPEC §2) — the rules the API and the pages both call."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from ews_cases.models import Case, Municipality
from workflows import Actor, Permission, Role, State, permits, states_permitting


def has_conflict_of_interest(affiliation: Municipality | None, case_municipality: Municipality) -> bool:
    """A reviewer never handles a case of the municipality or Kreis they are affiliated with.

    Both sides count with their Kreis: a reviewer from Attendorn (Kreis Olpe) is conflicted for Kreis Olpe
    and for every other municipality in it, and a reviewer from the Kreis for all of its municipalities.
    """
    if affiliation is None:
        return False
    return bool(affiliation.affiliation_keys & case_municipality.affiliation_keys)


def can_read_case(actor: Actor, case: Case, affiliation: Municipality | None = None) -> bool:
    """Who may view a case in its state (the workflow's per-state permissions); applicants only their
    municipality's cases, reviewers only those without a conflict of interest."""
    if not permits(case.state, Permission.VIEW, actor.role):
        return False
    if actor.role is Role.APPLICANT:
        return actor.municipality_ags == case.municipality_ags
    if actor.role is Role.REVIEWER:
        return not has_conflict_of_interest(affiliation, case.municipality)
    return True


def in_states(states: Collection[State]) -> ColumnElement[bool]:
    """`Case.state` in `states`, written as the shorter of IN and NOT IN (true or false when trivial)."""
    others = set(State) - set(states)
    if not others:
        return true()
    if not states:
        return false()
    if len(others) < len(states):
        return Case.state.not_in(sorted(s.value for s in others))
    return Case.state.in_(sorted(s.value for s in states))


def visible_cases(actor: Actor, affiliation: Municipality | None = None) -> ColumnElement[bool]:
    """The same rule as `can_read_case`, as a SQL condition on `Case` for lists."""
    condition = in_states(states_permitting(Permission.VIEW, actor.role))
    if actor.role is Role.APPLICANT:
        return and_(condition, Case.municipality_ags == actor.municipality_ags)
    if actor.role is Role.REVIEWER and affiliation is not None:
        keys = affiliation.affiliation_keys
        in_conflict = select(Municipality.ags).where(
            or_(Municipality.ags.in_(keys), Municipality.kreis_ags.in_(keys))
        )
        return and_(condition, Case.municipality_ags.not_in(in_conflict))
    return condition
