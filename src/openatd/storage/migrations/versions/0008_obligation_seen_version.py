"""the version of each obligation the participant has seen in their app (a new or changed court
date is shown as such until acknowledged)

Revision ID: 0008
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("obligations") as b:
        b.add_column(sa.Column("seen_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("obligations") as b:
        b.drop_column("seen_version")
