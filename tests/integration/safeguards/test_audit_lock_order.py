"""The audit chain's lock is the last lock a transaction takes, so audited work never deadlocks.

CI once saw PostgreSQL abort a staff member's "resolve alert" (503) with a deadlock: the
request had appended its audit entry (taking the chain's lock) before its change to the
alert was flushed, while the alert-notice task held that alert's row and waited for the
chain's lock to append its own entry. Both orders of "change a row, audit it" must commit.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

from openatd.domain.audit import AuditAction
from openatd.safeguards import audit
from openatd.storage.db import Database

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def _alert(db: Database) -> int:
    with db.uow() as uow:
        p = uow.participants.add(
            name="P", timezone="UTC", supervision_level="gps", policy={}, active=True,
            created_at=T0,
        )  # fmt: skip
        a = uow.alerts.add(
            participant_id=p.id, device_id=None, type="zone_exit", category="compliance",
            at=T0, raised_at=T0, explanation="left the home zone", details=None, status="open",
        )  # fmt: skip
        return int(a.id)


def _notify_then_audit(
    db: Database, alert_id: int, row_held: threading.Event, errors: list[BaseException]
) -> None:
    """The alert-notice task's order: change the alert (its row lock, and on SQLite the
    database's write lock), hold it while the other thread queues behind it, then audit at
    commit. Errors go to *errors*."""
    try:
        with db.uow() as uow:
            alert = uow.alerts.get(alert_id)
            alert.notified_at = T0
            uow.flush()
            row_held.set()
            time.sleep(0.6)  # the other transaction is waiting behind this one by now
            audit.record(
                uow, at=T0, actor="system:notices", action=AuditAction.NOTICE_SEND,
                participant_id=alert.participant_id, subject_type="alert",
                subject_id=alert_id,
            )  # fmt: skip
    except BaseException as exc:  # reported by the test
        errors.append(exc)


def test_audit_first_and_audit_last_transactions_on_one_row_both_commit(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    alert_id = _alert(db)
    row_held = threading.Event()
    errors: list[BaseException] = []

    def background() -> None:
        _notify_then_audit(db, alert_id, row_held, errors)

    def request() -> None:
        """A handler's order: audit first, then change the same alert."""
        assert row_held.wait(10)
        try:
            with db.uow() as uow:
                alert = uow.alerts.get(alert_id)
                audit.record(
                    uow, at=T0, actor="user:carol", action=AuditAction.ALERT_RESOLVE,
                    participant_id=alert.participant_id, subject_type="alert",
                    subject_id=alert_id, reason="at a hospital appointment",
                )  # fmt: skip
                alert.status = "resolved"
                uow.flush()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=background), threading.Thread(target=request)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == []
    with db.uow() as uow:
        alert = uow.alerts.get(alert_id)
        assert (alert.status, alert.notified_at) == ("resolved", T0)
        checked, broken = audit.verify(uow)
        actions = [e.action for e in uow.evidence.alert_audit(alert_id)]
    assert (checked, broken) == (2, None)
    assert actions == [AuditAction.NOTICE_SEND.value, AuditAction.ALERT_RESOLVE.value]
    db.dispose()


def test_a_read_only_audited_request_beside_an_audited_write_both_commit(db_url: str) -> None:
    """CI once saw ``GET /api/alerts`` fail with SQLite's "database is locked" while the
    missed-check-in sweep wrote: the read's audit entry took the process lock and waited for
    the write lock, which the sweep held while it waited for the process lock at commit."""
    db = Database(db_url)
    db.migrate()
    alert_id = _alert(db)
    row_held = threading.Event()
    errors: list[BaseException] = []
    took: list[float] = []

    def background() -> None:
        _notify_then_audit(db, alert_id, row_held, errors)

    def request() -> None:
        """A read-only handler: read the alert, record the read, commit."""
        assert row_held.wait(10)
        start = time.monotonic()
        try:
            with db.uow() as uow:
                alert = uow.alerts.get(alert_id)
                audit.record(
                    uow, at=T0, actor="user:carol", action=AuditAction.PARTICIPANT_READ,
                    participant_id=alert.participant_id, subject_type="alert",
                    subject_id=alert_id,
                )  # fmt: skip
        except BaseException as exc:  # reported below
            errors.append(exc)
        took.append(time.monotonic() - start)

    threads = [threading.Thread(target=background), threading.Thread(target=request)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert errors == []
    assert took[0] < 5.0  # it waited for the writer's commit, not for a busy timeout
    with db.uow() as uow:
        checked, broken = audit.verify(uow)
        actions = [e.action for e in uow.evidence.alert_audit(alert_id)]
    assert (checked, broken) == (2, None)
    # PostgreSQL lets the read commit first (it waits for no row); SQLite orders the two.
    assert sorted(actions) == [AuditAction.NOTICE_SEND.value, AuditAction.PARTICIPANT_READ.value]
    db.dispose()


def test_a_transaction_reads_the_entries_it_has_queued(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        for i in range(3):
            audit.record(
                uow, at=T0, actor="user:carol", action=AuditAction.PARTICIPANT_READ,
                participant_id=None, subject_type="participant", subject_id=i,
            )  # fmt: skip
        assert uow.audit.count_since("user:carol", AuditAction.PARTICIPANT_READ.value, T0) == 3
        audit.record(
            uow, at=T0, actor="user:carol", action=AuditAction.PARTICIPANT_READ,
            subject_type="participant", subject_id=3,
        )  # fmt: skip
    with db.uow() as uow:
        assert audit.verify(uow) == (4, None)
        assert [e.subject_id for e in uow.audit.list()] == ["3", "2", "1", "0"]
    db.dispose()


def test_a_failed_transaction_keeps_neither_its_work_nor_its_entries(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    alert_id = _alert(db)
    try:
        with db.uow() as uow:
            uow.alerts.get(alert_id).status = "resolved"
            audit.record(
                uow, at=T0, actor="user:carol", action=AuditAction.ALERT_RESOLVE,
                subject_type="alert", subject_id=alert_id,
            )  # fmt: skip
            raise RuntimeError("the handler failed after auditing")
    except RuntimeError:
        pass
    with db.uow() as uow:
        assert uow.alerts.get(alert_id).status == "open"
        assert audit.verify(uow) == (0, None)
    db.dispose()
