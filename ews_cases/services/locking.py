"""Row locks that serialise changes to one case."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ews_cases.errors import NotFound
from ews_cases.i18n import N_
from ews_cases.models import Case


def lock_case(session: Session, case_id: int) -> Case:
    """Load a case with a row lock (FOR UPDATE on PostgreSQL; SQLite holds the write lock already)."""
    case = (
        session.execute(
            select(Case)
            .where(Case.id == case_id)
            .with_for_update(of=Case)
            .execution_options(populate_existing=True)
        )
        .unique()
        .scalar_one_or_none()
    )
    if case is None:
        raise NotFound(N_("Die Bewerbung gibt es nicht."))
    return case
