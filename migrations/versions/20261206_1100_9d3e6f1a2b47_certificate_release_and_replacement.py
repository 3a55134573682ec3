"""certificate release and replacement: released_at, replaced_by_id, early release of a cohort

Revision ID: 9d3e6f1a2b47
Revises: 4d8a2f6e1c57
Create Date: 2026-12-06 11:00:00.000000

`certificates` gains `released_at` (prepared certificates wait for the ceremony day; every existing one was
released when it was issued, so it is filled from `issued_at`) and `replaced_by_id` (a correction points the
revoked certificate at its replacement). A member may now hold a revoked and a current certificate, so the
unique constraint on `member_id` becomes a plain index. `cohorts.certificates_released_at` records an early
release by the office. Batch mode: SQLite cannot drop a constraint in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d3e6f1a2b47"
down_revision: str | None = "4d8a2f6e1c57"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cohorts", sa.Column("certificates_released_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.add_column(sa.Column("released_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("replaced_by_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_certificates_replaced_by_id_certificates"),
            "certificates",
            ["replaced_by_id"],
            ["id"],
        )
        batch_op.drop_constraint(batch_op.f("uq_certificates_member_id"), type_="unique")
        batch_op.create_index(batch_op.f("ix_certificates_member_id"), ["member_id"], unique=False)
    op.execute("UPDATE certificates SET released_at = issued_at")


def downgrade() -> None:
    with op.batch_alter_table("certificates") as batch_op:
        batch_op.drop_index(batch_op.f("ix_certificates_member_id"))
        batch_op.create_unique_constraint(batch_op.f("uq_certificates_member_id"), ["member_id"])
        batch_op.drop_constraint(
            batch_op.f("fk_certificates_replaced_by_id_certificates"), type_="foreignkey"
        )
        batch_op.drop_column("replaced_by_id")
        batch_op.drop_column("released_at")
    op.drop_column("cohorts", "certificates_released_at")
