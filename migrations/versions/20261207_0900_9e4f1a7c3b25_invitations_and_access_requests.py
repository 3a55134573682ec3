"""invitations and access requests

Revision ID: 9e4f1a7c3b25
Revises: 5b7e2c4d9a61
Create Date: 2026-12-07 09:00:00.000000

`invitations` holds a person's single-use link to an account (its hash and the salt it is derived from),
the role and municipality it grants, who invited and, for invitations a reminder scan made, the contact and
cohort (at most one open invitation per contact and cohort: a partial unique index). `access_requests`
holds the requests of `/zugang/beantragen` with the office's decision.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e4f1a7c3b25"
down_revision: str | None = "5b7e2c4d9a61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_CONTACT = "status = 'open' AND contact_id IS NOT NULL"


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("municipality_ags", sa.String(length=8), nullable=True),
        sa.Column("token_salt", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("cohort_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'accepted', 'expired', 'revoked')", name=op.f("ck_invitations_status")
        ),
        sa.CheckConstraint(
            "role IN ('applicant', 'reviewer', 'coordinator', 'auditor', 'admin')",
            name=op.f("ck_invitations_role"),
        ),
        sa.CheckConstraint(
            "role <> 'applicant' OR municipality_ags IS NOT NULL",
            name=op.f("ck_invitations_applicant_municipality"),
        ),
        sa.ForeignKeyConstraint(
            ["municipality_ags"],
            ["municipalities.ags"],
            name=op.f("fk_invitations_municipality_ags_municipalities"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_invitations_user_id_users")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_invitations_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(["cohort_id"], ["cohorts.id"], name=op.f("fk_invitations_cohort_id_cohorts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invitations")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invitations_token_hash")),
        sa.UniqueConstraint("token_salt", name=op.f("uq_invitations_token_salt")),
    )
    op.create_index(op.f("ix_invitations_email"), "invitations", ["email"])
    op.create_index(
        "uq_invitations_open_contact_cohort",
        "invitations",
        ["contact_id", "cohort_id"],
        unique=True,
        sqlite_where=sa.text(OPEN_CONTACT),
        postgresql_where=sa.text(OPEN_CONTACT),
    )
    op.create_table(
        "access_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("municipality_ags", sa.String(length=8), nullable=False),
        sa.Column("position", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.Column("invitation_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed', 'declined')", name=op.f("ck_access_requests_status")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_ags"],
            ["municipalities.ags"],
            name=op.f("fk_access_requests_municipality_ags_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["invitation_id"], ["invitations.id"], name=op.f("fk_access_requests_invitation_id_invitations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_requests")),
    )
    op.create_index(op.f("ix_access_requests_email"), "access_requests", ["email"])


def downgrade() -> None:
    op.drop_index(op.f("ix_access_requests_email"), table_name="access_requests")
    op.drop_table("access_requests")
    op.drop_index("uq_invitations_open_contact_cohort", table_name="invitations")
    op.drop_index(op.f("ix_invitations_email"), table_name="invitations")
    op.drop_table("invitations")
