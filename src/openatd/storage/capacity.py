"""Capacity check: no record id may run out (case B29).

Every table that grows with traffic has a 64-bit key. This check reads each
table's largest id and the column's integer width and reports the fraction
of the limit used; anything above :data:`WARN_FRACTION` is a warning an
operator must see (exposed as the ``openatd_id_capacity_ratio`` metric).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import BigInteger, Integer, func, inspect, select

from openatd.storage import tables as t
from openatd.storage.db import Database

WARN_FRACTION = 0.8
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


@dataclass(frozen=True, slots=True)
class IdCapacity:
    """One table's id use: largest id, the column's limit, fraction used, warning flag."""

    table: str
    max_id: int
    limit: int

    @property
    def fraction(self) -> float:
        return self.max_id / self.limit

    @property
    def warning(self) -> bool:
        return self.fraction > WARN_FRACTION


def id_capacity(db: Database) -> list[IdCapacity]:
    """Read every table's largest id and the width of its id column (as the database has it).

    On SQLite an ``INTEGER PRIMARY KEY`` is the 64-bit rowid; on PostgreSQL the
    column type decides (``integer`` 32-bit, ``bigint`` 64-bit).
    """
    out = []
    insp = inspect(db.engine)
    with db.engine.connect() as conn:
        for table in t.Base.metadata.sorted_tables:
            cols = {c["name"]: c["type"] for c in insp.get_columns(table.name)}
            col_type = cols.get("id")
            if col_type is None:
                continue
            if db.dialect == "sqlite" or isinstance(col_type, BigInteger):
                limit = INT64_MAX
            elif isinstance(col_type, Integer):
                limit = INT32_MAX
            else:
                continue
            max_id = conn.execute(select(func.max(table.c.id))).scalar() or 0
            out.append(IdCapacity(table.name, int(max_id), limit))
    return out
