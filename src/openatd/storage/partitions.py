"""Positions partitioned by month of fix time on PostgreSQL (issue 11, item 6).

At national scale the positions table is the only one that grows with time and with the
number of devices (378,000 participants at one fix a minute is ~545 million rows a day).
On PostgreSQL it is therefore a declaratively partitioned table, ``PARTITION BY RANGE
(fix_time)``, one partition per calendar month (UTC), named ``positions_yYYYYmMM``, plus a
``positions_default`` partition for fixes outside every monthly range (a device's old
buffered fix, a clock far ahead). The partition key is the fix time because the table's
unique constraint ``(device_id, fix_time)`` (a re-sent fix is stored once) must contain it.

What lives here:

* :func:`ensure_position_partitions`: creates the months from *behind* months before the
  given instant to *ahead* months after it (the service calls it at start and every hour,
  :class:`PartitionKeeper`); rows already in the default partition for a month being
  created are moved into it, in the same transaction;
* :func:`position_partitions`: the monthly partitions with their ranges;
* :func:`drop_position_partition`: retention by dropping whole partitions
  (``RetentionRepository.purge_positions``). Retention of positions is by *server* time
  and honours holds (:mod:`openatd.safeguards.retention`), so a partition is dropped only
  when every row in it would be deleted anyway; otherwise its rows are deleted one by one
  as before. Dropping is an optimisation that never changes what is kept.

On SQLite (the embedded single-machine default) positions are one table and every function
here does nothing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from openatd.domain.clock import Clock
from openatd.tasks import PeriodicTask

log = logging.getLogger(__name__)

DEFAULT_PARTITION = "positions_default"
"""The partition that takes fixes outside every monthly range."""
MONTHS_AHEAD = 2
"""Months created ahead of the current one (a fix time up to two months ahead of the clock
still lands in its own partition)."""
MONTHS_BEHIND = 1
"""Months created behind the current one (late, buffered fixes of last month)."""
_NAME = re.compile(r"^positions_y(\d{4})m(\d{2})$")


@dataclass(frozen=True, slots=True)
class MonthPartition:
    """One monthly partition: fixes with ``start <= fix_time < end`` (UTC)."""

    name: str
    start: datetime
    end: datetime


def month_start(at: datetime, shift: int = 0) -> datetime:
    """The first instant (UTC) of the month of *at* moved by *shift* months.

    >>> month_start(datetime(2026, 12, 5, 11, tzinfo=UTC), 1)
    datetime.datetime(2027, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """
    at = at.astimezone(UTC)
    index = at.year * 12 + (at.month - 1) + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_for(at: datetime) -> MonthPartition:
    """The monthly partition that holds fix time *at*."""
    start = month_start(at)
    return MonthPartition(
        f"positions_y{start.year:04d}m{start.month:02d}", start, month_start(at, 1)
    )


def is_partition(name: str) -> bool:
    """Whether table *name* is a partition of ``positions`` (not in the models)."""
    return name == DEFAULT_PARTITION or _NAME.match(name) is not None


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's ``include_name`` hook: leave the partitions (created at run time, not part
    of the models) out of autogenerate comparisons."""
    return not (type_ == "table" and name is not None and is_partition(name))


def is_partitioned(conn: Connection) -> bool:
    """Whether ``positions`` is a partitioned table here (PostgreSQL after migration 0009)."""
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.execute(
        sa.text("SELECT c.relkind FROM pg_class c WHERE c.oid = to_regclass('positions')")
    ).scalar()
    return kind == "p"


def position_partitions(conn: Connection) -> list[MonthPartition]:
    """The monthly partitions of ``positions``, oldest first (not the default partition)."""
    if not is_partitioned(conn):
        return []
    names = conn.execute(
        sa.text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('positions')"
        )
    ).scalars()
    found = []
    for name in names:
        m = _NAME.match(name)
        if m:
            found.append(partition_for(datetime(int(m[1]), int(m[2]), 1, tzinfo=UTC)))
    return sorted(found, key=lambda p: p.start)


def _create(conn: Connection, part: MonthPartition) -> int:
    """Create *part*, moving the default partition's rows of its range into it; returns the
    rows moved. PostgreSQL refuses to create a partition whose range the default partition
    already holds rows of, so the default is detached, emptied of that range and attached
    again, all in the caller's transaction."""
    lo, hi = part.start.isoformat(), part.end.isoformat()
    in_range = "fix_time >= CAST(:lo AS timestamptz) AND fix_time < CAST(:hi AS timestamptz)"
    waiting = conn.execute(
        sa.text(f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE {in_range}"), {"lo": lo, "hi": hi}
    ).scalar_one()
    bounds = f"FOR VALUES FROM ('{lo}') TO ('{hi}')"
    if not waiting:
        conn.execute(sa.text(f"CREATE TABLE {part.name} PARTITION OF positions {bounds}"))
        return 0
    conn.execute(sa.text(f"ALTER TABLE positions DETACH PARTITION {DEFAULT_PARTITION}"))
    conn.execute(sa.text(f"CREATE TABLE {part.name} PARTITION OF positions {bounds}"))
    conn.execute(
        sa.text(f"INSERT INTO {part.name} SELECT * FROM {DEFAULT_PARTITION} WHERE {in_range}"),
        {"lo": lo, "hi": hi},
    )
    conn.execute(sa.text(f"DELETE FROM {DEFAULT_PARTITION} WHERE {in_range}"), {"lo": lo, "hi": hi})
    conn.execute(sa.text(f"ALTER TABLE positions ATTACH PARTITION {DEFAULT_PARTITION} DEFAULT"))
    return int(waiting)


def ensure_position_partitions(
    conn: Connection,
    now: datetime,
    ahead: int = MONTHS_AHEAD,
    behind: int = MONTHS_BEHIND,
) -> list[str]:
    """Create the monthly partitions from *behind* months before *now* to *ahead* months
    after it that do not exist yet; returns their names (empty on SQLite).

    Runs in the caller's transaction; takes a transaction-scoped advisory lock so that two
    processes never create the same month at once.
    """
    if not is_partitioned(conn):
        return []
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('openatd.position_partitions'))"))
    have = {p.name for p in position_partitions(conn)}
    created = []
    for shift in range(-behind, ahead + 1):
        part = partition_for(month_start(now, shift))
        if part.name in have:
            continue
        moved = _create(conn, part)
        created.append(part.name)
        log.info("created position partition %s (%d rows moved from the default)", part.name, moved)
    return created


def drop_position_partition(conn: Connection, part: MonthPartition) -> None:
    """Detach and drop *part* (its rows go with it) in the caller's transaction."""
    conn.execute(sa.text(f"ALTER TABLE positions DETACH PARTITION {part.name}"))
    conn.execute(sa.text(f"DROP TABLE {part.name}"))
    log.info("dropped position partition %s (retention)", part.name)


class PartitionKeeper(PeriodicTask):
    """Creates the coming months' position partitions at start and every *interval_s*
    seconds (default an hour), so that a new month never begins in the default partition.
    On SQLite each pass does nothing.

    Args:
        engine: the service's database engine.
        clock: gives "now" (UTC).
        interval_s: seconds between passes.
    """

    def __init__(self, engine: Engine, clock: Clock, interval_s: float = 3600.0) -> None:
        super().__init__(interval_s, "openatd-partitions", "creating position partitions")
        self.engine = engine
        self.clock = clock

    def run_once(self) -> list[str]:
        """One pass: the names of the partitions created (usually none)."""
        if self.engine.dialect.name != "postgresql":
            return []
        with self.engine.begin() as conn:
            return ensure_position_partitions(conn, self.clock.now())
