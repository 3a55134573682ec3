"""reminders sent, applicant opt-out, cancelled outbox status

Revision ID: 8c4d2b9e1f03
Revises: 3f9a1c2e7b10
Create Date: 2026-11-21 08:26:45.326874
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "8c4d2b9e1f03"
down_revision: str | None = "3f9a1c2e7b10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
STATUS_OLD = "status IN ('pending', 'sent', 'failed')"
STATUS_NEW = "status IN ('pending', 'sent', 'failed', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "reminders_sent",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("cohort_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("offset_days", sa.Integer(), nullable=False),
        sa.Column("municipality_ags", sa.String(length=8), nullable=False),
        sa.Column("outbox_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cohort_id"], ["cohorts.id"], name=op.f("fk_reminders_sent_cohort_id_cohorts")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_ags"],
            ["municipalities.ags"],
            name=op.f("fk_reminders_sent_municipality_ags_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders_sent")),
        sa.UniqueConstraint(
            "cohort_id",
            "recipient",
            "offset_days",
            name=op.f("uq_reminders_sent_cohort_id_recipient_offset_days"),
        ),
    )
    # New NOT NULL column on existing users: add it nullable, give every row its own token, then tighten.
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("unsubscribe_token", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("reminders_opted_out_at", sa.DateTime(timezone=True), nullable=True))
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("unsubscribe_token", sa.String))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(
            users.update().where(users.c.id == user_id).values(unsubscribe_token=secrets.token_urlsafe(24))
        )
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("unsubscribe_token", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_users_unsubscribe_token"), ["unsubscribe_token"])
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.drop_constraint(op.f("ck_outbox_messages_status"), type_="check")
        batch_op.create_check_constraint("status", STATUS_NEW)
        batch_op.add_column(sa.Column("headers", JSON_TYPE, nullable=False, server_default=sa.text("'{}'")))


def downgrade() -> None:
    op.execute("UPDATE outbox_messages SET status = 'failed' WHERE status = 'cancelled'")
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.drop_column("headers")
        batch_op.drop_constraint(op.f("ck_outbox_messages_status"), type_="check")
        batch_op.create_check_constraint("status", STATUS_OLD)
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_users_unsubscribe_token"), type_="unique")
        batch_op.drop_column("reminders_opted_out_at")
        batch_op.drop_column("unsubscribe_token")
    op.drop_table("reminders_sent")
