"""session sequence and cancellation: iCalendar SEQUENCE and cancellation time on cohort_sessions

Revision ID: 9d3e7a1b5c20
Revises: 9e4f1a7c3b25
Create Date: 2026-12-06 10:30:00.000000

A moved or cancelled session is sent again to its invitees with the same UID and a higher SEQUENCE, so the
session keeps its sequence number. Existing sessions start at 0 (what every invitation so far carried,
implicitly); `cancelled_at` is nullable. Plain ADD COLUMN suffices on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9d3e7a1b5c20"
down_revision: str | None = "9e4f1a7c3b25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cohort_sessions", sa.Column("sequence", sa.Integer(), server_default="0", nullable=False))
    op.add_column("cohort_sessions", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cohort_sessions") as batch:
        batch.drop_column("cancelled_at")
        batch.drop_column("sequence")
