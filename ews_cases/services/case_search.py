"""Finding cases: by cohort, state and a search over reference and municipality (name or AGS).

One rule for the API's case list and the auditor's case list; who sees which case is
`services.permissions.visible_cases`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, or_, select

from ews_cases.models import Case, Cohort, Municipality
from ews_cases.services.permissions import visible_cases
from workflows import Actor


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """What to keep; empty keeps everything. `text` matches part of the reference or the municipality's
    name, or the start of its AGS."""

    cohort: int | None = None
    state: str | None = None
    text: str = ""


def case_conditions(filters: CaseFilter) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.cohort is not None:
        where.append(Case.cohort_id.in_(select(Cohort.id).where(Cohort.number == filters.cohort)))
    if filters.state:
        where.append(Case.state == filters.state)
    needle = filters.text.strip()
    if needle:
        # % and _ are searched for as themselves, not as LIKE wildcards
        municipality = Municipality.name.icontains(needle, autoescape=True)
        if needle.isdigit():
            municipality = or_(municipality, Municipality.ags.startswith(needle, autoescape=True))
        where.append(
            or_(
                Case.reference.icontains(needle, autoescape=True),
                Case.municipality_ags.in_(select(Municipality.ags).where(municipality)),
            )
        )
    return where


def select_cases(actor: Actor, affiliation: Municipality | None, filters: CaseFilter) -> Select[tuple[Case]]:
    """The cases `actor` may read that match `filters`, unordered (callers order: by id for the API's
    cursor, by cohort and number for pages)."""
    return select(Case).where(visible_cases(actor, affiliation), *case_conditions(filters))
