"""signed checkpoints of the audit log, the keys that signed them, auditors' checkpoint mail

Revision ID: a1c4e7f2b9d0
Revises: 7c5e2a9f4b13
Create Date: 2026-12-12 09:00:00.000000

Creates `audit_checkpoints` (append-only like `audit_events`: PostgreSQL triggers
`audit_checkpoints_no_update_delete` and `audit_checkpoints_no_truncate` calling `audit_append_only()` of
7c5e2a9f4b13; SQLite triggers `audit_checkpoints_no_update` and `audit_checkpoints_no_delete`),
`audit_signing_keys` (public keys only; their first and latest checkpoint change, so no triggers), and
`users.checkpoint_mail_since` (an auditor's subscription to the checkpoint mail).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a1c4e7f2b9d0"
down_revision: str | None = "7c5e2a9f4b13"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "audit_checkpoints"
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_audit_checkpoints_tree_size")),
    )
    op.create_table(
        "audit_signing_keys",
        sa.Column("verifier_key", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("first_checkpoint_id", BIG_ID, nullable=False),
        sa.Column("last_checkpoint_id", BIG_ID, nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["first_checkpoint_id"],
            ["audit_checkpoints.id"],
            name=op.f("fk_audit_signing_keys_first_checkpoint_id_audit_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["last_checkpoint_id"],
            ["audit_checkpoints.id"],
            name=op.f("fk_audit_signing_keys_last_checkpoint_id_audit_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("verifier_key", name=op.f("pk_audit_signing_keys")),
    )
    op.add_column("users", sa.Column("checkpoint_mail_since", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_update_delete BEFORE UPDATE OR DELETE ON {TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {TABLE}_no_{operation.lower()} BEFORE {operation} ON {TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{TABLE} is append-only: {operation} refused'); END"
            )


def downgrade() -> None:
    # A plain ALTER TABLE … DROP COLUMN, also on SQLite (3.35+): batch mode would copy `users` and drop the
    # old table, which SQLite refuses while other tables' rows refer to users (foreign keys are on).
    op.execute("ALTER TABLE users DROP COLUMN checkpoint_mail_since")
    op.drop_table("audit_signing_keys")
    op.drop_table(TABLE)  # and its triggers
