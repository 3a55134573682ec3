"""Row locks that serialise changes to one case."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from ews_cases.db.engine import innermost_transaction
from ews_cases.errors import NotFound
from ews_cases.i18n.translate import N_
from ews_cases.models import Case

#: session.info key: (transaction, ids of the cases it has locked).
_LOCKED_KEY = "ews_locked_cases"
#: Built once (every request that changes a case runs it). The team comes in the same query: the services
#: read it and the API answers with it.
_LOCK_CASE = (
    select(Case)
    .where(Case.id == bindparam("case_id"))
    .options(joinedload(Case.team))
    .with_for_update(of=Case, key_share=True)
    .execution_options(populate_existing=True)
)


def lock_case(session: Session, case_id: int) -> Case:
    """Load a case with a row lock (FOR NO KEY UPDATE on PostgreSQL; SQLite holds the write lock already).

    Not FOR UPDATE: that also blocks other transactions' foreign-key checks on the case (a delivery batch
    appending an email event to the case's chain while holding the chain head), which deadlocks against
    a transition holding the case and waiting for that chain head.

    A case this transaction (or savepoint) has locked already comes from the session without asking again:
    the API locks before it checks the caller's access, then the service locks as always.
    """
    held = session.info.get(_LOCKED_KEY)
    if held is not None and held[0] is innermost_transaction(session) and case_id in held[1]:
        known = session.get(Case, case_id)
        if known is not None:
            return known
    case = session.execute(_LOCK_CASE, {"case_id": case_id}).unique().scalar_one_or_none()
    if case is None:
        raise NotFound(N_("Die Bewerbung gibt es nicht."))
    transaction = innermost_transaction(session)
    if held is None or held[0] is not transaction:
        held = (transaction, set())
        session.info[_LOCKED_KEY] = held
    held[1].add(case_id)
    return case
