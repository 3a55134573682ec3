"""personal values out of the hashed audit payload; legal hold and erasure marks on cases

Revision ID: 9d41f7a3c2b8
Revises: 9d3e6f1a2b47
Create Date: 2026-12-10 09:00:00.000000

Creates `personal_values` (docs/audit.md §7) and the legal-hold and erasure columns of `cases`, then converts
an existing trail once: every event's personal values (as declared in `ews_cases.audit.personal`) move into
`personal_values` and the event's `data` holds commitments instead; every chain is recomputed from position 1
and its head moved; one event `audit.converted` in the `global` chain lists each chain's old and new head.
The append-only triggers are lifted for the rewrite only, inside this migration's transaction.

The conversion uses the declaration and the canonical JSON of the application at this revision. An
installation that holds signed checkpoints of its heads (the audit-trust issue) keeps the conversion event:
it names each old head, so a checkpoint signed before the conversion is matched against the `old` head of
its chain and one signed after against the new chain; see docs/privacy.md.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "9d41f7a3c2b8"
down_revision: str | None = "9d3e6f1a2b47"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONVERSION_ACTION = "audit.converted"
CONVERSION_ACTOR = "system:migration"


def upgrade() -> None:
    op.create_table(
        "personal_values",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subject_kind", sa.String(length=20), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erasure_category", sa.String(length=60), nullable=True),
        sa.Column("erasure_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_personal_values_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personal_values")),
    )
    op.create_index(op.f("ix_personal_values_case_id"), "personal_values", ["case_id"])
    op.create_index(
        "ix_personal_values_subject_kind_subject_id", "personal_values", ["subject_kind", "subject_id"]
    )
    op.add_column("cases", sa.Column("legal_hold_reason", sa.Text(), nullable=True))
    op.add_column("cases", sa.Column("legal_hold_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("cases", sa.Column("personal_data_erasure_category", sa.String(length=60), nullable=True))
    _rewrite_chains(_to_commitments, record_conversion=True)


def downgrade() -> None:
    _rewrite_chains(_to_values, record_conversion=False)
    op.drop_column("cases", "personal_data_erasure_category")
    op.drop_column("cases", "personal_data_erased_at")
    op.drop_column("cases", "legal_hold_at")
    op.drop_column("cases", "legal_hold_reason")
    op.drop_index("ix_personal_values_subject_kind_subject_id", table_name="personal_values")
    op.drop_index(op.f("ix_personal_values_case_id"), table_name="personal_values")
    op.drop_table("personal_values")


# -- the conversion -------------------------------------------------------------------------------------


def _to_commitments(connection: Any, event: Any) -> dict[str, Any]:
    from ews_cases.audit.chain import commit_personal

    return commit_personal(
        connection, event.action, copy.deepcopy(event.data), event.case_id, datetime.now(UTC)
    )


def _to_values(connection: Any, event: Any) -> dict[str, Any]:
    """Back to values in clear (erased ones become null), for the downgrade."""
    from ews_cases.audit import personal
    from ews_cases.models import PersonalValue

    table = PersonalValue.__table__
    ids = [c[personal.PD_KEY] for c in personal.commitments(event.data)]
    if not ids:
        return event.data
    rows = connection.execute(sa.select(table.c.id, table.c.value).where(table.c.id.in_(ids))).all()
    held = {
        row.id: personal.Held(row.id, row.value, "", None, None, None)
        for row in rows
        if row.value is not None
    }
    return personal.resolve(event.data, held, lambda _entry: None)


def _rewrite_chains(convert: Callable[[Any, Any], dict[str, Any]], *, record_conversion: bool) -> None:
    from ews_cases.audit.chain import GENESIS_HASH, chain_hash, event_record, format_time
    from ews_cases.models import GLOBAL_CHAIN, AuditChainHead, AuditEvent

    connection = op.get_bind()
    events, heads = AuditEvent.__table__, AuditChainHead.__table__
    chains = list(connection.execute(sa.select(heads.c.chain, heads.c.hash).order_by(heads.c.chain)))
    if not connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one():
        return
    _lift_triggers(connection)
    moved: list[dict[str, str]] = []
    for chain, old_head in chains:
        prev_hash = GENESIS_HASH
        rows = connection.execute(
            sa.select(events).where(events.c.chain == chain).order_by(events.c.position)
        )
        for row in list(rows):
            data = convert(connection, row)
            record = {**event_record(row), "data": data}
            digest = chain_hash(prev_hash, record)
            connection.execute(
                events.update()
                .where(events.c.id == row.id)
                .values(data=data, prev_hash=prev_hash, hash=digest)
            )
            prev_hash = digest
        connection.execute(heads.update().where(heads.c.chain == chain).values(hash=prev_hash))
        moved.append({"chain": chain, "old_head": old_head, "new_head": prev_hash})
    _restore_triggers(connection)
    if not record_conversion:
        return
    head = connection.execute(
        sa.select(heads.c.position, heads.c.hash).where(heads.c.chain == GLOBAL_CHAIN)
    ).one_or_none()
    position, prev_hash = head if head is not None else (0, GENESIS_HASH)
    now = datetime.now(UTC)
    record = {
        "chain": GLOBAL_CHAIN,
        "position": position + 1,
        "case_id": None,
        "cohort": None,
        "occurred_at": format_time(now),
        "actor": CONVERSION_ACTOR,
        "actor_role": "system",
        "action": CONVERSION_ACTION,
        "from_state": None,
        "to_state": None,
        "data": {"revision": revision, "chains": moved},
        "request_id": None,
    }
    digest = chain_hash(prev_hash, record)
    columns = {k: v for k, v in record.items() if k not in ("cohort", "occurred_at")}
    connection.execute(
        events.insert().values(
            **columns, cohort_number=None, occurred_at=now, prev_hash=prev_hash, hash=digest
        )
    )
    if head is None:
        connection.execute(heads.insert().values(chain=GLOBAL_CHAIN, position=1, hash=digest))
    else:
        connection.execute(
            heads.update().where(heads.c.chain == GLOBAL_CHAIN).values(position=position + 1, hash=digest)
        )


def _lift_triggers(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")


def _restore_triggers(connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END"
        )
