"""check-ins: participant app sign-in, review fields, missed-window sweep state

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 18:45:00

- participants: ``app_code_hash`` (argon2id of the one-time sign-in code),
  ``app_code_expires_at``, ``app_code_failures`` and ``app_token_version``.
- checkin_schedules: ``reason`` (ad-hoc requests) and ``checked_until`` (how far the
  missed-check-in sweep has judged the schedule's windows).
- checkins: ``attempt``, ``quality_report``, and the review fields ``review_kind``,
  ``review_resolution``, ``review_reason``, ``reviewed_by``, ``reviewed_at``; an index on
  ``(schedule_id, window_start)`` for the per-window look-ups.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("app_code_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(
            sa.Column("app_code_expires_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("app_code_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("app_token_version", sa.Integer(), nullable=False, server_default="0")
        )

    with op.batch_alter_table("checkin_schedules", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("checked_until", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("quality_report", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("review_kind", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("review_resolution", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_by", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_checkins_schedule_window", ["schedule_id", "window_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("checkins", schema=None) as batch_op:
        batch_op.drop_index("ix_checkins_schedule_window")
        for name in (
            "reviewed_at",
            "reviewed_by",
            "review_reason",
            "review_resolution",
            "review_kind",
            "quality_report",
            "attempt",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("checkin_schedules", schema=None) as batch_op:
        batch_op.drop_column("checked_until")
        batch_op.drop_column("reason")
    with op.batch_alter_table("participants", schema=None) as batch_op:
        for name in (
            "app_token_version",
            "app_code_failures",
            "app_code_expires_at",
            "app_code_hash",
        ):
            batch_op.drop_column(name)
