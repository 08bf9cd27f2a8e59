"""access security: audit entries per participant, staff second factor and sessions

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_entry_participants",
        sa.Column("entry_id", sa.BigInteger(), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "entry_id", "participant_id", name=op.f("pk_audit_entry_participants")
        ),
    )
    op.create_index(
        op.f("ix_audit_entry_participants_participant_id"),
        "audit_entry_participants",
        ["participant_id"],
        unique=False,
    )
    # Entries written before this revision name at most one participant.
    op.execute(
        "INSERT INTO audit_entry_participants (entry_id, participant_id) "
        "SELECT id, participant_id FROM audit_entries WHERE participant_id IS NOT NULL"
    )
    op.create_table(
        "role_policies",
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("require_totp", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_role_policies")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("totp_enabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("token_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("password_changed_at")
        batch_op.drop_column("token_version")
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_enabled")
        batch_op.drop_column("totp_secret")
    op.drop_table("role_policies")
    op.drop_index(
        op.f("ix_audit_entry_participants_participant_id"), table_name="audit_entry_participants"
    )
    op.drop_table("audit_entry_participants")
