"""Saved rule state per device (table ``rule_states``; format in ``openatd.rules.state``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from openatd.storage import tables as t
from openatd.storage.position_rows import driver_executemany, sqlite_time

_UPSERT = (
    "INSERT INTO rule_states (device_id, state, updated_at) VALUES (?, {state}, ?) "
    "ON CONFLICT (device_id) DO UPDATE SET state = excluded.state, "
    "updated_at = excluded.updated_at"
)


def save_rule_states(session: Session, states: Mapping[int, str], at: datetime) -> None:
    """Upsert each device's state (device id → the snapshot as JSON text,
    ``openatd.rules.state.snapshot_json``) in *session*'s transaction, in one batched
    statement; *at* (UTC, timezone-aware) is recorded as ``updated_at``.

    Through the driver (:func:`driver_executemany`), the state already JSON text: binding a
    dict to the JSON type ran :func:`json.dumps` per row, and SQLAlchemy's per-value
    conversion of the other two was most of the rest (issue 11, py-spy of the pipeline at
    6,300 devices a batch). On PostgreSQL the text is cast to the column's ``json`` type.

    Raises:
        ValueError: *at* is naive.
    """
    if not states:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        stamp: Any = sqlite_time(at)
        sql = _UPSERT.format(state="?")
    else:
        if at.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        stamp = at
        sql = _UPSERT.format(state="CAST(? AS json)")
    driver_executemany(session, sql, [(k, v, stamp) for k, v in states.items()])


def load_rule_states(
    session: Session, device_ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Saved states by device id: all of them, or those of *device_ids*."""
    q = select(t.RuleState.device_id, t.RuleState.state)
    if device_ids is not None:
        q = q.where(t.RuleState.device_id.in_(list(device_ids)))
    return {int(d): s for d, s in session.execute(q).all()}
