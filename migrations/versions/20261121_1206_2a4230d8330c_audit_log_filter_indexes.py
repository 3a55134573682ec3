"""audit log filter indexes: keyset pages by cohort, action and actor; actor with action prefix and time

Revision ID: 2a4230d8330c
Revises: 8c4d2b9e1f03
Create Date: 2026-11-21 12:06:00.000000

The global audit log pages by id (`WHERE <filters> AND id > :cursor ORDER BY id LIMIT n`). With an index on
the filter column alone, PostgreSQL either sorts every matching row or walks the primary key hoping to meet
matches early. At 10 million events (`bench/audit_scale.py`, p99) the first page of one cohort took 5 s, of
one coordinator 0.5 s, of a coordinator's transitions in six months 0.3 s; with these indexes 5, 9 and 18 ms.
`(cohort_number, id)`, `(action, id)` and `(actor, id)` hand out the matches in page order;
`(actor, action varchar_pattern_ops, occurred_at)` answers "what did this person do, of this kind, in this
period": the pattern operator class lets a prefix such as `transition.*` (`LIKE 'transition.%'`) bound the
scan whatever the database's collation. They replace the single-column indexes on their first columns.

Plain CREATE/DROP INDEX (no batch mode): on SQLite a batch operation would rebuild the table and drop the
append-only triggers (docs/audit.md §5).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "2a4230d8330c"
down_revision: str | None = "8c4d2b9e1f03"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_audit_events_cohort_number_id", "audit_events", ["cohort_number", "id"])
    op.create_index("ix_audit_events_action_id", "audit_events", ["action", "id"])
    op.create_index("ix_audit_events_actor_id", "audit_events", ["actor", "id"])
    op.create_index(
        "ix_audit_events_actor_action_occurred_at",
        "audit_events",
        ["actor", "action", "occurred_at"],
        postgresql_ops={"action": "varchar_pattern_ops"},
    )
    op.drop_index("ix_audit_events_cohort_number", table_name="audit_events")
    op.drop_index("ix_audit_events_action", table_name="audit_events")
    op.drop_index("ix_audit_events_actor", table_name="audit_events")


def downgrade() -> None:
    op.create_index("ix_audit_events_actor", "audit_events", ["actor"])
    op.create_index("ix_audit_events_action", "audit_events", ["action"])
    op.create_index("ix_audit_events_cohort_number", "audit_events", ["cohort_number"])
    op.drop_index("ix_audit_events_actor_action_occurred_at", table_name="audit_events")
    op.drop_index("ix_audit_events_actor_id", table_name="audit_events")
    op.drop_index("ix_audit_events_action_id", table_name="audit_events")
    op.drop_index("ix_audit_events_cohort_number_id", table_name="audit_events")
