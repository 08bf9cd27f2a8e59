"""due process, least surveillance, retention (issue 8)

Revision ID: 0005
Revises: 0007

- participants: ``level_since``, ``level_until`` (escalation end), ``level_review_due_at``,
  ``closed_at``, ``closed_reason``.
- devices: ``status`` (active | returned | retired) and ``status_reason``.
- alerts: notice and response window (``notified_at``, ``response_due_at``,
  ``responded_at``), a first staff member's proposal of a violation, the frozen evidence
  packet, and the participant's request for review.
- participant_notices: what the participant was told (portal; the outbox sends it on).
- supervision_level_changes: every level change with its reason and end date.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("participants", schema=None) as b:
        for name in ("level_since", "level_until", "level_review_due_at", "closed_at"):
            b.add_column(sa.Column(name, TS, nullable=True))
        b.add_column(sa.Column("closed_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("devices", schema=None) as b:
        b.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
        b.add_column(sa.Column("status_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("alerts", schema=None) as b:
        for name in ("notified_at", "response_due_at", "responded_at", "violation_proposed_at"):
            b.add_column(sa.Column(name, TS, nullable=True))
        b.add_column(sa.Column("violation_proposed_by", sa.BigInteger(), nullable=True))
        b.add_column(sa.Column("violation_proposal_reason", sa.Text(), nullable=True))
        b.add_column(sa.Column("evidence", sa.JSON(), nullable=True))
        b.add_column(sa.Column("review_requested_at", TS, nullable=True))
        b.add_column(sa.Column("review_request_reason", sa.Text(), nullable=True))
    op.create_table(
        "participant_notices",
        sa.Column("id", BigId, nullable=False),
        sa.Column("participant_id", BigId, nullable=False),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("read_at", TS, nullable=True),
        sa.Column("outbox_queued_at", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_participant_notices_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant_notices")),
    )
    op.create_index(
        op.f("ix_participant_notices_participant_id"),
        "participant_notices",
        ["participant_id"],
    )
    op.create_table(
        "supervision_level_changes",
        sa.Column("id", BigId, nullable=False),
        sa.Column("participant_id", BigId, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("old_level", sa.String(length=20), nullable=True),
        sa.Column("new_level", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", TS, nullable=True),
        sa.Column("by_user", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_supervision_level_changes_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_level_changes")),
    )
    op.create_index(
        op.f("ix_supervision_level_changes_participant_id"),
        "supervision_level_changes",
        ["participant_id"],
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_supervision_level_changes_participant_id"), table_name="supervision_level_changes"
    )
    op.drop_table("supervision_level_changes")
    op.drop_index(op.f("ix_participant_notices_participant_id"), table_name="participant_notices")
    op.drop_table("participant_notices")
    with op.batch_alter_table("alerts", schema=None) as b:
        for name in (
            "review_request_reason",
            "review_requested_at",
            "evidence",
            "violation_proposal_reason",
            "violation_proposed_by",
            "violation_proposed_at",
            "responded_at",
            "response_due_at",
            "notified_at",
        ):
            b.drop_column(name)
    with op.batch_alter_table("devices", schema=None) as b:
        b.drop_column("status_reason")
        b.drop_column("status")
    with op.batch_alter_table("participants", schema=None) as b:
        for name in (
            "closed_reason",
            "closed_at",
            "level_review_due_at",
            "level_until",
            "level_since",
        ):
            b.drop_column(name)
