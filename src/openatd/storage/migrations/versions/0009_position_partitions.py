"""positions partitioned by month of fix time on PostgreSQL (issue 11, item 6)

On PostgreSQL the positions table becomes ``PARTITION BY RANGE (fix_time)``: one partition
per month (``positions_yYYYYmMM``) for every month that holds rows and from last month to
two months ahead, plus ``positions_default``; rows are copied across, ids and their sequence
kept. The primary key becomes ``(id, fix_time)`` (a partitioned table's unique constraints
must contain the partition key); ``(device_id, fix_time)`` stays unique. SQLite is unchanged.
See :mod:`openatd.storage.partitions`.

Revision ID: 0009
Revises: 0005
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    "id, device_id, participant_id, fix_time, server_time, latitude, longitude, valid, "
    "accuracy_m, speed_mps, course_deg, altitude_m, battery_pct, attributes, in_review"
)


def _columns(sequence: str) -> str:
    return f"""
        id BIGINT NOT NULL DEFAULT nextval('{sequence}'::regclass),
        device_id BIGINT NOT NULL,
        participant_id BIGINT,
        fix_time TIMESTAMP WITH TIME ZONE NOT NULL,
        server_time TIMESTAMP WITH TIME ZONE NOT NULL,
        latitude DOUBLE PRECISION NOT NULL,
        longitude DOUBLE PRECISION NOT NULL,
        valid BOOLEAN NOT NULL,
        accuracy_m DOUBLE PRECISION,
        speed_mps DOUBLE PRECISION,
        course_deg DOUBLE PRECISION,
        altitude_m DOUBLE PRECISION,
        battery_pct DOUBLE PRECISION,
        attributes JSON,
        in_review BOOLEAN NOT NULL"""


def _swap(partitioned: bool) -> None:
    """Rebuild ``positions`` as a partitioned (or, going down, plain) table with its rows."""
    from openatd.storage.partitions import (
        DEFAULT_PARTITION,
        ensure_position_partitions,
        partition_for,
    )

    conn = op.get_bind()
    sequence = conn.execute(sa.text("SELECT pg_get_serial_sequence('positions', 'id')")).scalar()
    if sequence is None:  # a default of nextval(), not owned (only if edited by hand)
        sequence = "positions_id_seq"
    conn.execute(sa.text(f"ALTER SEQUENCE {sequence} OWNED BY NONE"))
    conn.execute(sa.text("ALTER TABLE positions RENAME TO positions_before_0009"))
    conn.execute(
        sa.text(
            "ALTER TABLE positions_before_0009 DROP CONSTRAINT pk_positions, "
            "DROP CONSTRAINT uq_positions_device_fix_time, "
            "DROP CONSTRAINT fk_positions_device_id_devices"
        )
    )
    conn.execute(sa.text("DROP INDEX ix_positions_participant_fix_time"))
    conn.execute(sa.text("DROP INDEX ix_positions_server_time"))
    key = "id, fix_time" if partitioned else "id"
    tail = " PARTITION BY RANGE (fix_time)" if partitioned else ""
    conn.execute(
        sa.text(
            f"CREATE TABLE positions ({_columns(sequence)},"
            f" CONSTRAINT pk_positions PRIMARY KEY ({key}),"
            " CONSTRAINT uq_positions_device_fix_time UNIQUE (device_id, fix_time),"
            " CONSTRAINT fk_positions_device_id_devices FOREIGN KEY (device_id)"
            f" REFERENCES devices (id) ON DELETE CASCADE){tail}"
        )
    )
    conn.execute(
        sa.text(
            "CREATE INDEX ix_positions_participant_fix_time ON positions (participant_id, fix_time)"
        )
    )
    conn.execute(sa.text("CREATE INDEX ix_positions_server_time ON positions (server_time)"))
    if partitioned:
        conn.execute(sa.text(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF positions DEFAULT"))
        months = conn.execute(
            sa.text(
                "SELECT DISTINCT date_trunc('month', fix_time AT TIME ZONE 'UTC') "
                "FROM positions_before_0009"
            )
        ).scalars()
        for month in months:
            part = partition_for(month.replace(tzinfo=UTC))
            conn.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {part.name} PARTITION OF positions "
                    f"FOR VALUES FROM ('{part.start.isoformat()}') TO ('{part.end.isoformat()}')"
                )
            )
        ensure_position_partitions(conn, datetime.now(UTC))
    conn.execute(
        sa.text(f"INSERT INTO positions ({_COLUMNS}) SELECT {_COLUMNS} FROM positions_before_0009")
    )
    conn.execute(sa.text("DROP TABLE positions_before_0009"))
    conn.execute(sa.text(f"ALTER SEQUENCE {sequence} OWNED BY positions.id"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _swap(partitioned=False)
