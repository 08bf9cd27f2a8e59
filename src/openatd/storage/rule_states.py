"""Saved rule state per device (table ``rule_states``; format in ``openatd.rules.state``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from openatd.storage import tables as t


def save_rule_states(session: Session, states: Mapping[int, dict[str, Any]], at: datetime) -> None:
    """Upsert each device's state (device id → snapshot) in *session*'s transaction, in one
    batched statement; *at* (UTC) is recorded as ``updated_at``."""
    if not states:
        return
    table = t.RuleState.__table__
    assert isinstance(table, Table)
    dialect = session.get_bind().dialect.name
    ins = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    stmt = ins.on_conflict_do_update(
        index_elements=["device_id"],
        set_={"state": ins.excluded.state, "updated_at": ins.excluded.updated_at},
    )
    session.connection().execute(
        stmt, [{"device_id": k, "state": v, "updated_at": at} for k, v in states.items()]
    )


def load_rule_states(
    session: Session, device_ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Saved states by device id: all of them, or those of *device_ids*."""
    q = select(t.RuleState.device_id, t.RuleState.state)
    if device_ids is not None:
        q = q.where(t.RuleState.device_id.in_(list(device_ids)))
    return {int(d): s for d, s in session.execute(q).all()}
