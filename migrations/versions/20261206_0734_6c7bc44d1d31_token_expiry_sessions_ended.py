"""API token expiry; the moment a deactivation ended a person's web sessions

Revision ID: 6c7bc44d1d31
Revises: 2a4230d8330c
Create Date: 2026-12-06 07:34:00.000000

`api_tokens.expires_at`: a token is refused from this moment on (NULL: until revoked). `users.sessions_ended_at`:
web sessions opened before it are over, so that reactivating a person does not revive the sessions their
deactivation ended. Both nullable, so existing rows keep working unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6c7bc44d1d31"
down_revision: str | None = "2a4230d8330c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("sessions_ended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("sessions_ended_at")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("expires_at")
