"""obligations, reminders through an outbox with a delivery log, SMS replies, visits, contact
fields, quiet hours, calendar feed token, telephone PIN, staff notification preferences

Revision ID: 0006
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users") as b:
        b.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        b.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        b.add_column(
            sa.Column(
                "notify_channel", sa.String(length=10), nullable=False, server_default="email"
            )
        )
        b.add_column(
            sa.Column("notify_digest", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("participants") as b:
        b.add_column(sa.Column("email", sa.String(length=320), nullable=True))
        b.add_column(
            sa.Column("language", sa.String(length=35), nullable=False, server_default="en")
        )
        b.add_column(sa.Column("quiet_start", sa.String(length=5), nullable=True))
        b.add_column(sa.Column("quiet_end", sa.String(length=5), nullable=True))
        b.add_column(sa.Column("calendar_token_hash", sa.String(length=64), nullable=True))
        b.add_column(sa.Column("phone_pin_hash", sa.String(length=255), nullable=True))
        b.create_unique_constraint(
            op.f("uq_participants_calendar_token_hash"), ["calendar_token_hash"]
        )
    with op.batch_alter_table("users") as b:
        b.alter_column("notify_channel", server_default=None)
        b.alter_column("notify_digest", server_default=None)
    with op.batch_alter_table("participants") as b:
        b.alter_column("language", server_default=None)

    op.create_table(
        "obligations",
        sa.Column("id", BigId, nullable=False),
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("location", sa.String(length=500), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source_uid", sa.String(length=255), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_obligations_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligations")),
    )
    op.create_index("ix_obligations_participant_start", "obligations", ["participant_id", "start"])
    op.create_table(
        "outbox_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("obligation_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_messages")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_messages_dedupe_key")),
    )
    op.create_index(
        "ix_outbox_messages_status_next", "outbox_messages", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_outbox_messages_participant", "outbox_messages", ["participant_id", "due_at"]
    )
    op.create_table(
        "deliveries",
        sa.Column("id", BigId, nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outbox_messages.id"],
            name=op.f("fk_deliveries_message_id_outbox_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    op.create_index(op.f("ix_deliveries_message_id"), "deliveries", ["message_id"])
    op.create_table(
        "participant_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("participant_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_participant_messages")),
    )
    op.create_index(
        op.f("ix_participant_messages_participant_id"), "participant_messages", ["participant_id"]
    )
    op.create_table(
        "visits",
        sa.Column("id", BigId, nullable=False),
        sa.Column(
            "participant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("counts_as_checkin", sa.Boolean(), nullable=False),
        sa.Column("checkin_id", sa.BigInteger(), nullable=True),
        sa.Column("alert_id", sa.BigInteger(), nullable=True),
        sa.Column("officer_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["participant_id"],
            ["participants.id"],
            name=op.f("fk_visits_participant_id_participants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visits")),
    )
    op.create_index(op.f("ix_visits_participant_id"), "visits", ["participant_id"])


def downgrade() -> None:
    op.drop_table("visits")
    op.drop_table("participant_messages")
    op.drop_table("deliveries")
    op.drop_table("outbox_messages")
    op.drop_table("obligations")
    with op.batch_alter_table("participants") as b:
        b.drop_constraint(op.f("uq_participants_calendar_token_hash"), type_="unique")
        for col in (
            "phone_pin_hash",
            "calendar_token_hash",
            "quiet_end",
            "quiet_start",
            "language",
            "email",
        ):
            b.drop_column(col)
    with op.batch_alter_table("users") as b:
        for col in ("notify_digest", "notify_channel", "phone", "email"):
            b.drop_column(col)
