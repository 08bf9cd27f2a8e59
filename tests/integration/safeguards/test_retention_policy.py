"""Issue 8 item 2: retention per kind, holds that work, closing a case, audited purges,
``openatd retention report``; SQL-level checks that purged rows are gone."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from safeguard_helpers import T0, Stack
from typer.testing import CliRunner

from openatd.cli.main import app as cli
from openatd.safeguards.retention import RetentionPolicy, purge

OLD = T0 - timedelta(days=100)
REASON = "a reading, and notes from the phone call"


def _scalar(stack: Stack, sql: str, **params: Any) -> Any:
    with stack.container.db.engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar_one()


def _details(value: Any) -> dict[str, Any]:
    return json.loads(value) if isinstance(value, str) else dict(value)


def test_open_alert_holds_its_evidence_until_decided(stack: Stack) -> None:
    pipe = stack.pipeline()
    # Two bursts of fixes 100 days ago: one around an alert (held), one 2 days earlier.
    assert pipe.process([(stack.imei, stack.fixes(OLD - timedelta(days=2), 4))]).stored == 4
    assert pipe.process([(stack.imei, stack.fixes(OLD, 6, alarms=["power_cut"]))]).stored == 6
    with stack.container.db.engine.begin() as conn:  # the gap alerts of the rules are decided
        conn.execute(sa.text("UPDATE alerts SET status = 'resolved', resolved_at = raised_at"))
    alert_id = stack.add_alert(OLD + timedelta(minutes=2))
    with stack.container.uow() as uow:
        for when in (OLD + timedelta(minutes=1), OLD - timedelta(days=2)):
            uow.checkins.add(
                participant_id=stack.pid,
                server_time=when,
                outcome="verified",
                on_time=True,
                latitude=41.9,
                longitude=-87.6,
                accuracy_m=9.0,
            )

    with stack.container.uow() as uow:
        report = purge(uow, T0, policy=RetentionPolicy())
    by = {k.kind: k for k in report.kinds}
    assert (by["positions"].deleted, by["positions"].held) == (4, 6)
    assert by["positions"].oldest == OLD - timedelta(days=2)
    assert by["positions"].newest == OLD - timedelta(days=2) + timedelta(minutes=3)
    assert (by["checkin_locations"].deleted, by["checkin_locations"].held) == (1, 1), by
    assert by["device_events"].held == 6  # the power-cut alarms inside the evidence window
    # SQL: the 4 old fixes are gone, the 6 held ones are there.
    assert (
        _scalar(
            stack, "SELECT count(*) FROM positions WHERE fix_time < :t", t=OLD - timedelta(days=1)
        )
        == 0
    )
    assert _scalar(stack, "SELECT count(*) FROM positions") == 6
    assert _scalar(stack, "SELECT count(*) FROM checkins WHERE latitude IS NULL") == 1
    # Every kind's purge is one audit entry with the count and the span.
    with stack.container.db.engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT subject_type, details FROM audit_entries "
                "WHERE action = 'retention:purge' ORDER BY id"
            )
        ).all()
    kinds = {k: _details(d) for k, d in rows}
    assert set(kinds) >= {"positions", "device_events", "checkin_locations", "checkins", "alerts"}
    assert kinds["positions"]["count"] == 4 and kinds["positions"]["held"] == 6
    assert kinds["positions"]["oldest"] == (OLD - timedelta(days=2)).isoformat()

    # The report says what is held, why and until when.
    result = CliRunner().invoke(cli, ["retention", "report", "--database-url", stack.db_url])
    assert result.exit_code == 0, result.output
    assert f"alert {alert_id} (zone_exit, participant {stack.pid}) is open" in result.output
    assert "until a person resolves it" in result.output

    # Decided, the hold ends: the next run purges the evidence on schedule.
    with stack.container.db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE alerts SET status = 'resolved', resolution = 'technical', "
                "resolved_at = :t WHERE id = :a"
            ),
            {"t": T0, "a": alert_id},
        )
    with stack.container.uow() as uow:
        report = purge(uow, T0 + timedelta(hours=1), policy=RetentionPolicy())
    assert report.positions == 6
    assert _scalar(stack, "SELECT count(*) FROM positions") == 0
    assert _scalar(stack, "SELECT count(*) FROM events") == 0
    assert _scalar(stack, "SELECT count(*) FROM checkins WHERE latitude IS NOT NULL") == 0
    # Alerts go a year after their decision, not before.
    with stack.container.uow() as uow:
        later = purge(uow, T0 + timedelta(days=366), policy=RetentionPolicy())
    assert later.deleted("alerts") >= 1
    assert _scalar(stack, "SELECT count(*) FROM alerts WHERE id = :a", a=alert_id) == 0
    with stack.container.uow() as uow:
        from openatd.safeguards import audit

        assert audit.verify(uow)[1] is None


def test_closing_a_case(stack: Stack) -> None:
    c = stack.client
    pipe = stack.pipeline()
    assert pipe.process([(stack.imei, stack.fixes(T0 - timedelta(hours=1), 3))]).stored == 3
    with stack.container.uow() as uow:
        uow.face_templates.add(
            participant_id=stack.pid,
            ciphertext=b"sealed",
            model="m",
            consent_reason="consent on file",
            created_at=T0,
        )
    r = c.post(f"/api/participants/{stack.pid}/close", headers=stack.h("cm1"), json={"reason": ""})
    assert r.status_code == 422
    r = c.post(
        f"/api/participants/{stack.pid}/close",
        headers=stack.h("cm1"),
        json={"reason": "completed the program; court order ended"},
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["templates_deleted"] == 1 and done["devices_unassigned"] == 1
    assert done["purge_after"] == (T0 + timedelta(days=365)).isoformat()
    # Templates are gone at once; collection stops.
    assert _scalar(stack, "SELECT count(*) FROM face_templates") == 0
    pipe.invalidate(None)
    got = pipe.process([(stack.imei, stack.fixes(T0 + timedelta(minutes=5), 2))])
    assert (got.stored, got.refused) == (0, 2)
    assert (
        c.post(
            f"/api/participants/{stack.pid}/close",
            headers=stack.h("cm1"),
            json={"reason": "completed the program; court order ended"},
        ).status_code
        == 409
    )

    result = CliRunner().invoke(cli, ["retention", "report", "--database-url", stack.db_url])
    assert f"participant {stack.pid}: closed 2026-06-01, deleted after 2027-06-01" in result.output

    # Before the period: nothing of the case is deleted; after it: everything, audited.
    with stack.container.uow() as uow:
        assert (
            purge(uow, T0 + timedelta(days=364), policy=RetentionPolicy()).deleted("participants")
            == 0
        )
    assert _scalar(stack, "SELECT count(*) FROM participants WHERE id = :p", p=stack.pid) == 1
    with stack.container.uow() as uow:
        report = purge(uow, T0 + timedelta(days=366), policy=RetentionPolicy())
    assert report.deleted("participants") == 1
    for table in (
        "participants",
        "positions",
        "alerts",
        "participant_notices",
        "supervision_level_changes",
        "caseload",
    ):
        column = "id" if table == "participants" else "participant_id"
        assert _scalar(stack, f"SELECT count(*) FROM {table} WHERE {column} = :p", p=stack.pid) == 0
    # The audit log keeps the record of what was done, and still verifies.
    assert (
        _scalar(stack, "SELECT count(*) FROM audit_entries WHERE action = 'participant:close'") == 1
    )
    with stack.container.uow() as uow:
        from openatd.safeguards import audit

        assert audit.verify(uow)[1] is None


def test_audit_entries_expire_and_the_chain_still_verifies(stack: Stack) -> None:
    c = stack.client
    url = f"/api/participants/{stack.pid}"
    for _ in range(3):  # three audited reads now
        assert c.get(url, headers=stack.h("cm1")).status_code == 200
    before = _scalar(stack, "SELECT count(*) FROM audit_entries")
    later = T0 + timedelta(days=2556)
    with stack.container.uow() as uow:
        report = purge(uow, later, policy=RetentionPolicy())
    assert report.deleted("audit_entries") == before
    with stack.container.db.engine.connect() as conn:
        details = _details(
            conn.execute(
                sa.text("SELECT details FROM audit_entries WHERE subject_type = 'audit_entries'")
            ).scalar_one()
        )
    assert details["count"] == before and len(details["anchor"]) == 64
    with stack.container.uow() as uow:
        from openatd.safeguards import audit

        count, broken = audit.verify(uow)
    assert broken is None and count == _scalar(stack, "SELECT count(*) FROM audit_entries")
    # Deleting one more entry without a purge record is caught.
    with stack.container.db.engine.begin() as conn:
        first = conn.execute(sa.text("SELECT min(id) FROM audit_entries")).scalar_one()
        conn.execute(sa.text("DELETE FROM audit_entries WHERE id = :i"), {"i": first})
    with stack.container.uow() as uow:
        assert audit.verify(uow)[1] is not None


def test_the_service_enforces_every_kinds_period_from_its_settings(stack: Stack) -> None:
    """``openatd serve``'s hourly pass uses each kind's setting, not only the positions one
    (it once passed ``OPENATD_POSITION_RETENTION_DAYS`` alone, so ``OPENATD_EVENT_RETENTION_DAYS``
    and the others were ignored by the running service)."""
    import asyncio

    from openatd.api.container import Container
    from openatd.cli.serve import _retention_loop
    from openatd.settings import get_settings

    ten_days_ago = T0 - timedelta(days=10)
    stack.pipeline().process([(stack.imei, stack.fixes(ten_days_ago, 3, alarms=["power_cut"]))])
    with stack.container.db.engine.begin() as conn:  # decided: nothing is held
        conn.execute(sa.text("UPDATE alerts SET status = 'resolved', resolved_at = raised_at"))
    events = "SELECT count(*) FROM events WHERE type = 'device_alarm'"
    assert _scalar(stack, events) == 3
    settings = get_settings(
        database_url=stack.container.settings.database_url,
        env="development",
        event_retention_days=5,
    )
    container = Container(settings=settings, db=stack.container.db, clock=stack.container.clock)

    async def one_pass() -> None:
        task = asyncio.create_task(_retention_loop(container))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if _scalar(stack, events) == 0:
                break
        task.cancel()

    asyncio.run(one_pass())
    assert _scalar(stack, events) == 0  # 10 days old, the events period is 5 days
    assert _scalar(stack, "SELECT count(*) FROM positions") == 3  # positions: 90 days
