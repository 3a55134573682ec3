"""Who may see what (SPEC §2) — the rules the API and the pages both call."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true

from ews_cases.models import Case, Municipality
from workflows import Actor, Role, State

READ_ALL_ROLES = frozenset({Role.COORDINATOR, Role.AUDITOR})


def has_conflict_of_interest(affiliation: Municipality | None, case_municipality: Municipality) -> bool:
    """A reviewer never handles a case of the municipality or Kreis they are affiliated with.

    Both sides count with their Kreis: a reviewer from Attendorn (Kreis Olpe) is conflicted for Kreis Olpe
    and for every other municipality in it, and a reviewer from the Kreis for all of its municipalities.
    """
    if affiliation is None:
        return False
    return bool(affiliation.affiliation_keys & case_municipality.affiliation_keys)


def can_read_case(actor: Actor, case: Case, affiliation: Municipality | None = None) -> bool:
    """Applicants read their municipality's cases; reviewers submitted ones without a conflict."""
    if actor.role in READ_ALL_ROLES or actor.role is Role.SYSTEM:
        return True
    if actor.role is Role.APPLICANT:
        return actor.municipality_ags == case.municipality_ags
    if actor.role is Role.REVIEWER:
        return case.state != State.DRAFT and not has_conflict_of_interest(affiliation, case.municipality)
    return False


def visible_cases(actor: Actor, affiliation: Municipality | None = None) -> ColumnElement[bool]:
    """The same rule as `can_read_case`, as a SQL condition on `Case` for lists."""
    if actor.role in READ_ALL_ROLES or actor.role is Role.SYSTEM:
        return true()
    if actor.role is Role.APPLICANT:
        return Case.municipality_ags == actor.municipality_ags
    if actor.role is Role.REVIEWER:
        condition = Case.state != State.DRAFT.value
        if affiliation is not None:
            keys = affiliation.affiliation_keys
            in_conflict = select(Municipality.ags).where(
                or_(Municipality.ags.in_(keys), Municipality.kreis_ags.in_(keys))
            )
            condition = and_(condition, Case.municipality_ags.not_in(in_conflict))
        return condition
    return false()
