"""Saved rule state per device (table ``rule_states``; format in ``openatd.rules.state``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Table, Text, bindparam, cast, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from openatd.storage import tables as t
from openatd.storage.position_rows import attributes_json

_UPSERTS: dict[str, Any] = {}
"""The upsert statement, built once per dialect name."""


def _upsert(dialect: str) -> Any:
    """``INSERT … ON CONFLICT (device_id) DO UPDATE`` taking the state as JSON *text*.

    The text is made once per state by orjson (:func:`attributes_json`); binding a dict to
    the JSON type would run :func:`json.dumps` per row, which was the pipeline's largest
    single cost with thousands of devices in a batch (bench/README.md, issue 11). On
    PostgreSQL the text is cast to the column's type; SQLite stores it as it is.
    """
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        table = t.RuleState.__table__
        assert isinstance(table, Table)
        text = bindparam("state_json", type_=Text)
        ins = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
        ins = ins.values(
            device_id=bindparam("state_device", type_=table.c.device_id.type),
            state=cast(text, table.c.state.type) if dialect == "postgresql" else text,
            updated_at=bindparam("state_at", type_=table.c.updated_at.type),
        )
        stmt = _UPSERTS[dialect] = ins.on_conflict_do_update(
            index_elements=["device_id"],
            set_={"state": ins.excluded.state, "updated_at": ins.excluded.updated_at},
        )
    return stmt


def save_rule_states(session: Session, states: Mapping[int, dict[str, Any]], at: datetime) -> None:
    """Upsert each device's state (device id → snapshot) in *session*'s transaction, in one
    batched statement; *at* (UTC) is recorded as ``updated_at``."""
    if not states:
        return
    stmt = _upsert(session.get_bind().dialect.name)
    session.connection().execute(
        stmt,
        [
            {"state_device": k, "state_json": attributes_json(v) or "{}", "state_at": at}
            for k, v in states.items()
        ],
    )


def load_rule_states(
    session: Session, device_ids: Iterable[int] | None = None
) -> dict[int, dict[str, Any]]:
    """Saved states by device id: all of them, or those of *device_ids*."""
    q = select(t.RuleState.device_id, t.RuleState.state)
    if device_ids is not None:
        q = q.where(t.RuleState.device_id.in_(list(device_ids)))
    return {int(d): s for d, s in session.execute(q).all()}
