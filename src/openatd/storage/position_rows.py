"""The position row path: accepted fixes into ``positions`` without the ORM's value conversion.

The pipeline stores thousands of fixes a second; building a dict per row and letting
SQLAlchemy run each value through its column type's bind processor cost about 16 µs per
position (issue 11, py-spy), more than the database's own work. Here a row is a plain
tuple in :data:`POSITION_COLUMNS` order, its attributes already JSON text (serialised once,
by :func:`attributes_json`), and it goes to the driver directly:

* **SQLite**: ``sqlite3``'s ``executemany`` of ``INSERT … ON CONFLICT (device_id, fix_time)
  DO NOTHING``; times as SQLAlchemy's SQLite ``DateTime`` stores them
  (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC), so the ORM reads them back unchanged. The
  driver's row count is exact.
* **PostgreSQL**: ``COPY positions (…) FROM STDIN`` (psycopg 3), inside a savepoint. COPY
  has no ``ON CONFLICT``: duplicates are expected to be gone already, because the position
  filter remembers the fix times it accepted per device (``rules/filter.py``,
  ``DUPLICATE_MEMORY``). When a duplicate still reaches the table (a fix stored just before
  a restart, re-sent by a device that never got its ACK), the unique constraint refuses the
  COPY, the savepoint is rolled back, and the batch goes through a temporary table and one
  ``INSERT … SELECT … ON CONFLICT DO NOTHING`` instead, so it is stored exactly once and
  counted exactly.

Either way a row is stored as the ORM would store it, except that attributes ``None`` is
SQL ``NULL`` (the ORM's JSON type wrote the JSON text ``null``); both read back as ``None``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.orm import Session

POSITION_COLUMNS = (
    "device_id",
    "participant_id",
    "fix_time",
    "server_time",
    "latitude",
    "longitude",
    "valid",
    "accuracy_m",
    "speed_mps",
    "course_deg",
    "altitude_m",
    "battery_pct",
    "attributes",
    "in_review",
)
"""Column order of a position row tuple."""

PositionRow = tuple[
    int,  # device_id
    int | None,  # participant_id
    datetime,  # fix_time (timezone-aware)
    datetime,  # server_time (timezone-aware)
    float,  # latitude, degrees WGS84
    float,  # longitude, degrees WGS84
    bool,  # valid
    float | None,  # accuracy_m
    float | None,  # speed_mps
    float | None,  # course_deg
    float | None,  # altitude_m
    float | None,  # battery_pct
    str | None,  # attributes as JSON text
    bool,  # in_review
]
"""One ``positions`` row, in :data:`POSITION_COLUMNS` order."""

_COLS = ", ".join(POSITION_COLUMNS)


def attributes_json(attributes: Mapping[str, Any] | None) -> str | None:
    """*attributes* as compact JSON text (orjson), ``None`` for no attributes.

    Falls back to :func:`json.dumps` for what orjson refuses (integers beyond 64 bits);
    like the ORM's JSON type, a value neither can serialise raises ``TypeError``.
    """
    if not attributes:
        return None
    try:
        return orjson.dumps(attributes, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        return json.dumps(attributes, separators=(",", ":"))


def sqlite_time(t: datetime) -> str:
    """A timezone-aware time as SQLAlchemy's SQLite DateTime stores it (naive UTC, µs:
    ``YYYY-MM-DD HH:MM:SS.ffffff``), for rows written through the driver.

    Raises:
        ValueError: *t* is naive.
    """
    if t.tzinfo is not UTC:
        if t.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        t = t.astimezone(UTC)
    return t.isoformat(" ", "microseconds")[:26]


def insert_position_rows(session: Session, rows: Sequence[PositionRow]) -> int:
    """Store *rows*; a row whose (device, fix time) is already stored is skipped.

    Runs in *session*'s transaction. Returns the number of rows stored.

    Raises:
        ValueError: a naive datetime.
        Whatever the driver raises for anything but a duplicate (the transaction is then
        to be rolled back by the caller, as for any failed statement).
    """
    if not rows:
        return 0
    dialect, raw = driver_connection(session)
    if dialect == "sqlite":
        return _insert_sqlite(raw, rows)
    return _copy_postgres(raw, rows)


def driver_connection(session: Session) -> tuple[str, Any]:
    """The dialect name (``sqlite`` / ``postgresql``) and the DB-API connection under
    *session*'s transaction (``sqlite3`` or psycopg 3), for statements that skip
    SQLAlchemy's per-value conversion; what they write commits or rolls back with the
    session."""
    conn = session.connection()
    raw = conn.connection.driver_connection
    assert raw is not None
    return conn.dialect.name, raw


def driver_executemany(session: Session, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
    """Run *sql* (``?`` placeholders, as sqlite3 takes them; turned into psycopg's ``%s``
    on PostgreSQL) once per tuple of *params* in *session*'s transaction, through the driver.

    The caller converts values itself (times by :func:`sqlite_time` on SQLite; psycopg
    adapts timezone-aware datetimes). Raises whatever the driver raises.
    """
    if not params:
        return
    dialect, raw = driver_connection(session)
    if dialect != "sqlite":
        sql = sql.replace("?", "%s")
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, params)
    finally:
        cursor.close()


def _insert_sqlite(raw: Any, rows: Sequence[PositionRow]) -> int:
    times: dict[datetime, str] = {}  # server_time repeats across a batch: convert it once
    params = []
    for r in rows:
        st = r[3]
        s = times.get(st)
        if s is None:
            s = times[st] = sqlite_time(st)
        params.append((r[0], r[1], sqlite_time(r[2]), s, *r[4:]))
    sql = (
        f"INSERT INTO positions ({_COLS}) VALUES ({', '.join('?' * len(POSITION_COLUMNS))}) "
        "ON CONFLICT (device_id, fix_time) DO NOTHING"
    )
    cursor = raw.cursor()
    try:
        cursor.executemany(sql, params)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def _copy_postgres(raw: Any, rows: Sequence[PositionRow]) -> int:
    import psycopg

    for r in rows:
        if r[2].tzinfo is None or r[3].tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
    with raw.cursor() as cur:
        cur.execute("SAVEPOINT openatd_positions_copy")
        try:
            with cur.copy(f"COPY positions ({_COLS}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
        except psycopg.errors.UniqueViolation:
            # a fix stored before (see the module docstring): the slower exact path below
            cur.execute("ROLLBACK TO SAVEPOINT openatd_positions_copy")
        else:
            stored = int(cur.rowcount)
            cur.execute("RELEASE SAVEPOINT openatd_positions_copy")
            return stored
    with raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS openatd_positions_in "
            "(LIKE positions INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        cur.execute("DELETE FROM openatd_positions_in")
        with cur.copy(f"COPY openatd_positions_in ({_COLS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        cur.execute(
            f"INSERT INTO positions ({_COLS}) SELECT {_COLS} FROM openatd_positions_in "
            "ORDER BY fix_time ON CONFLICT (device_id, fix_time) DO NOTHING"
        )
        stored = int(cur.rowcount)
        cur.execute("DELETE FROM openatd_positions_in")
        return stored
