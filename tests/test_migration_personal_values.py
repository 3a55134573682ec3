"""Must-hold 5 of issue 17: the migration to commitments converts a database of the previous release.

The previous release's trail (personal values in clear) is made by loading the demo at the head and
migrating down to the revision before it (`PREVIOUS`), whose downgrade writes the values back into the
events and recomputes every chain. The old trail verifies there; migrating up converts it: every chain
verifies, every value is shown as before, and `audit.converted` names each chain's old and new head.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from ews_cases.audit.chain import iter_db_records, verify_database, verify_records
from ews_cases.audit.personal import commitments
from ews_cases.audit.queries import resolved_data
from ews_cases.db.engine import Database
from ews_cases.db.migrate import downgrade, upgrade
from ews_cases.demo.loader import load_demo
from ews_cases.models import AuditChainHead, AuditEvent
from tests.conftest import BACKEND, _postgres_database

PREVIOUS = "9d3e6f1a2b47"  # the revision the personal-values migration (9d41f7a3c2b8) follows


@pytest.fixture
def url(tmp_path) -> Iterator[str]:
    if BACKEND == "postgresql":
        yield from _postgres_database(f"ews_conv_{uuid.uuid4().hex[:8]}")
    else:
        yield f"sqlite:///{tmp_path / 'conversion.sqlite3'}"


def _heads(session) -> dict[str, str]:
    return dict(session.execute(select(AuditChainHead.chain, AuditChainHead.hash)).all())


def _data_by_event(session) -> dict[int, object]:
    return {e.id: e.data for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))}


def test_the_migration_converts_a_trail_of_the_previous_release(url, app):
    upgrade(url)
    database = Database(url)
    try:
        with app.app_context(), database.transaction() as session:
            load_demo(session)
        downgrade(url, PREVIOUS)
        with database.sessionmaker() as session:
            old_heads = _heads(session)
            clear = _data_by_event(session)
            events = len(clear)
            # The previous release's trail: values in clear, every chain verifying with its own algorithm.
            assert verify_records(iter_db_records(session), old_heads).ok
            assert any("Sachbearbeitung" in str(d) or "@" in str(d) for d in clear.values())
        upgrade(url)
        with app.app_context(), database.sessionmaker() as session:
            assert verify_database(session).ok
            converted = _data_by_event(session)
            assert len(converted) == events + 1
            committed = 0
            for event_id, data in clear.items():
                committed += len(list(commitments(converted[event_id])))
                assert resolved_data(session, converted[event_id]) == data, event_id
            assert committed > 100
            assert not any("@" in str(converted[i]) for i in clear)  # no address left in a hashed payload
            [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "audit.converted")).all()
            assert (event.chain, event.actor) == ("global", "system:migration")
            new_heads = _heads(session)
            listed = {c["chain"]: (c["old_head"], c["new_head"]) for c in event.data["chains"]}
            assert set(listed) == set(old_heads)
            for chain, (old, new) in listed.items():
                assert old == old_heads[chain]
                # The global chain's head has moved on by the conversion event itself.
                assert new == (event.prev_hash if chain == "global" else new_heads[chain])
    finally:
        database.dispose()
