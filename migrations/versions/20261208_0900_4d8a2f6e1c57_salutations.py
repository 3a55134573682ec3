"""salutations

Revision ID: 4d8a2f6e1c57
Revises: 9d3e7a1b5c20
Create Date: 2026-12-08 09:00:00.000000

An optional salutation ("Frau", "Herr", or empty: none stated) for the people letters greet by name: the
contacts of a municipality, the contact person of a case and the members of its development team.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4d8a2f6e1c57"
down_revision: str | None = "9d3e7a1b5c20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("contacts", "salutation"), ("cases", "contact_salutation"), ("team_members", "salutation"))


def upgrade() -> None:
    for table, column in COLUMNS:
        with op.batch_alter_table(table) as batch_op:
            batch_op.add_column(sa.Column(column, sa.String(length=10), server_default="", nullable=False))


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_column(column)
