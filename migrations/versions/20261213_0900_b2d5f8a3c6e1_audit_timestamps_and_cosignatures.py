"""RFC 3161 timestamps of checkpoints, auditors' cosigning keys and their cosignatures

Revision ID: b2d5f8a3c6e1
Revises: a1c4e7f2b9d0
Create Date: 2026-12-13 09:00:00.000000

Creates `audit_timestamps` (one token per checkpoint), `audit_cosigners` (registered Ed25519 cosigning keys)
and `audit_cosignatures` (verified cosignature lines), all append-only like `audit_events`: PostgreSQL
triggers `<table>_no_update_delete` and `<table>_no_truncate` calling `audit_append_only()` of 7c5e2a9f4b13,
SQLite triggers `<table>_no_update` and `<table>_no_delete`.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b2d5f8a3c6e1"
down_revision: str | None = "a1c4e7f2b9d0"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_timestamps", "audit_cosigners", "audit_cosignatures")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_timestamps",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", BIG_ID, nullable=False),
        sa.Column("tsa_url", sa.String(length=500), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.Column("imprint", sa.String(length=64), nullable=False),
        sa.Column("gen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("serial_number", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=200), nullable=False),
        sa.Column("signature_checked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["audit_checkpoints.id"],
            name=op.f("fk_audit_timestamps_checkpoint_id_audit_checkpoints"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_timestamps")),
        sa.UniqueConstraint("checkpoint_id", name=op.f("uq_audit_timestamps_checkpoint_id")),
    )
    op.create_table(
        "audit_cosigners",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("verifier_key", sa.String(length=400), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_cosigners_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cosigners")),
        sa.UniqueConstraint("verifier_key", name=op.f("uq_audit_cosigners_verifier_key")),
    )
    op.create_table(
        "audit_cosignatures",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("checkpoint_id", BIG_ID, nullable=False),
        sa.Column("cosigner_id", BIG_ID, nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("cosigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkpoint_id"],
            ["audit_checkpoints.id"],
            name=op.f("fk_audit_cosignatures_checkpoint_id_audit_checkpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["cosigner_id"],
            ["audit_cosigners.id"],
            name=op.f("fk_audit_cosignatures_cosigner_id_audit_cosigners"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_audit_cosignatures_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_cosignatures")),
        sa.UniqueConstraint(
            "checkpoint_id", "cosigner_id", name=op.f("uq_audit_cosignatures_checkpoint_id_cosigner_id")
        ),
    )
    op.create_index(
        op.f("ix_audit_cosignatures_checkpoint_id"), "audit_cosignatures", ["checkpoint_id"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for operation in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
                )


def downgrade() -> None:
    # Dropping the tables drops their triggers.
    op.drop_index(op.f("ix_audit_cosignatures_checkpoint_id"), table_name="audit_cosignatures")
    op.drop_table("audit_cosignatures")
    op.drop_table("audit_cosigners")
    op.drop_table("audit_timestamps")
