"""Reminders at local wall-clock times across DST (cases B18/B19 of shared/data/cases.md),
planned by the notification worker from real check-in schedules in the database and delivered
to a real SMTP server; and a missed hearing whose reminders failed is classified technical."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from notify_helpers import SmsProvider, SmtpServer

from openatd.accounts import create_user
from openatd.checkins.service import create_schedule, sweep_missed_check_ins
from openatd.domain.obligations import ReminderPolicy
from openatd.notify.channels import SmsChannel, SmtpChannel
from openatd.notify.outbox import send_due
from openatd.notify.worker import plan_checkin_reminders
from openatd.obligations import service
from openatd.participants.portal import report_problem
from openatd.safeguards.auth import ParticipantClaims, Role, TokenClaims
from openatd.storage.db import Database
from openatd.storage.tables import OutboxMessage

EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _setup(
    db_url: str, tz: str, days: list[str], created: datetime
) -> tuple[Database, TokenClaims, int]:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        user = create_user(uow, created, "alice", "correct horse battery", "case_manager")
        claims = TokenClaims(user.id, "alice", Role.CASE_MANAGER, created + timedelta(days=999))
        p = uow.participants.add(
            name="P. One",
            timezone=tz,
            supervision_level="app",
            policy={},
            email="p.one@example.org",
            language="en",
            active=True,
            created_at=created,
        )
        uow.participants.assign(user.id, p.id, created)
        create_schedule(
            uow,
            claims,
            created,
            p.id,
            kind="weekly",
            windows=[{"days": days, "start": "09:00", "end": "10:00"}],
        )
        pid = p.id
    return db, claims, pid


def _reminders_planned_hourly(
    db: Database, morning: str, start: datetime, end: datetime
) -> list[datetime]:
    """Run the worker's planning step every 6 hours over ``[start, end)`` (it plans 36 hours
    ahead); every due instant planned."""
    policy = ReminderPolicy.parse("7d,3d,1d,2h", morning)
    at = start
    while at < end:
        with db.uow() as uow:
            plan_checkin_reminders(uow, at, policy)
        at += timedelta(hours=6)
    with db.uow() as uow:
        rows = uow.outbox.for_participant(1)
        return sorted(m.due_at for m in rows if isinstance(m, OutboxMessage))


def test_b19_nonexistent_and_repeated_local_times_each_fire_once_per_local_date(
    db_url: str, smtp: SmtpServer
) -> None:
    db, _, _ = _setup(db_url, "America/New_York", EVERY_DAY, utc("2024-03-01T00:00:00Z"))
    spring = _reminders_planned_hourly(
        db, "02:30", utc("2024-03-08T12:00:00Z"), utc("2024-03-11T12:00:00Z")
    )
    in_range = [d for d in spring if utc("2024-03-09T05:00:00Z") <= d < utc("2024-03-12T04:00:00Z")]
    assert in_range == [
        utc("2024-03-09T07:30:00Z"),  # 02:30 EST
        utc("2024-03-10T07:30:00Z"),  # 02:30 does not exist: read before the gap, RFC 5545
        utc("2024-03-11T06:30:00Z"),  # 02:30 EDT
    ]
    # Delivered at those instants, to a real SMTP server, once each.
    channels = {"email": SmtpChannel("127.0.0.1", smtp.port, "openatd@example.org")}
    for due in in_range:
        assert send_due(db.uow, channels, due - timedelta(seconds=1)).sent == []
        assert len(send_due(db.uow, channels, due).sent) == 1
    assert len(smtp.sink.to("p.one@example.org")) == 3
    db.dispose()


def test_b19_fall_back_reminder_is_the_first_0130(db_url: str) -> None:
    db, _, _ = _setup(db_url, "America/New_York", EVERY_DAY, utc("2024-10-25T00:00:00Z"))
    fall = _reminders_planned_hourly(
        db, "01:30", utc("2024-11-01T12:00:00Z"), utc("2024-11-04T12:00:00Z")
    )
    in_range = [d for d in fall if utc("2024-11-02T04:00:00Z") <= d < utc("2024-11-05T05:00:00Z")]
    assert in_range == [
        utc("2024-11-02T05:30:00Z"),  # 01:30 EDT
        utc("2024-11-03T05:30:00Z"),  # the first 01:30 (EDT); nothing at 06:30Z
        utc("2024-11-04T06:30:00Z"),  # 01:30 EST
    ]
    db.dispose()


def test_b18_daily_midnight_after_spring_forward_is_local_midnight(db_url: str) -> None:
    db, _, _ = _setup(db_url, "America/Los_Angeles", EVERY_DAY, utc("2022-03-01T00:00:00Z"))
    got = _reminders_planned_hourly(
        db, "00:00", utc("2022-03-12T12:00:00Z"), utc("2022-03-14T12:00:00Z")
    )
    last_sent = utc("2022-03-13T08:00:00Z")  # 2022-03-13T00:00-08:00
    assert last_sent in got
    assert next(d for d in got if d > last_sent) == utc("2022-03-14T07:00:00Z")
    db.dispose()


def test_b18_weekdays_only_no_weekend_reminder_none_skipped(db_url: str) -> None:
    db, _, _ = _setup(
        db_url, "America/Chicago", ["mon", "tue", "wed", "thu", "fri"], utc("2021-03-01T00:00:00Z")
    )
    now = utc("2021-03-12T06:00:00.000001Z")  # Friday, just after that day's 00:00 reminder
    got = _reminders_planned_hourly(db, "00:00", now - timedelta(hours=40), now + timedelta(days=3))
    after = [d for d in got if d > now]
    assert after[0] == utc("2021-03-15T05:00:00Z")  # Monday 00:00 CDT
    assert utc("2021-03-12T06:00:00Z") in got  # Friday's (00:00 CST) was planned too
    db.dispose()


def test_missed_hearing_whose_reminders_all_failed_is_technical_with_the_delivery_log(
    db_url: str, sms: SmsProvider
) -> None:
    created = utc("2026-03-01T15:00:00Z")
    db, claims, pid = _setup(db_url, "America/Chicago", EVERY_DAY, created)
    with db.uow() as uow:
        p = uow.participants.get(pid)
        p.email, p.phone = None, "+13125550143"
    policy = ReminderPolicy()
    with db.uow() as uow:
        ob = service.create_obligation(
            uow,
            claims,
            created,
            pid,
            policy,
            kind="court_hearing",
            title="Status hearing",
            start="2026-03-09T09:00",
            location="2650 S California Ave",
        )
        oid = ob.id
    sms.down = True
    channels = {"sms": SmsChannel(sms.url, sms.sid, sms.token, "+13125550100")}
    at = created
    while at < utc("2026-03-09T14:00:00Z"):
        send_due(db.uow, channels, at, max_attempts=2, retry_base_s=60)
        at += timedelta(minutes=30)
    with db.uow() as uow:
        ob = service.update_obligation(
            uow, claims, utc("2026-03-09T16:00:00Z"), oid, policy, {"outcome": "missed"}
        )
        alerts = uow.alerts.list(participant_ids=[pid])
        assert len(alerts) == 1
        alert = alerts[0]
        assert (alert.type, alert.category, alert.status) == (
            "missed_obligation",
            "technical",
            "open",
        )
        details = alert.details or {}
        assert details["undelivered"] == 4
        assert [r["status"] for r in details["reminders"]] == ["failed"] * 4
        assert all(
            r["last_error"] == "SMS provider answered 503: service unavailable"
            for r in details["reminders"]
        )
        assert "a delivery failure is ours, not theirs" in alert.explanation
    db.dispose()


def test_missed_hearing_after_delivered_reminders_is_for_review_with_context(
    db_url: str, sms: SmsProvider
) -> None:
    created = utc("2026-03-01T15:00:00Z")
    db, claims, pid = _setup(db_url, "America/Chicago", EVERY_DAY, created)
    with db.uow() as uow:
        p = uow.participants.get(pid)
        p.email, p.phone = None, "+13125550143"
    policy = ReminderPolicy()
    with db.uow() as uow:
        oid = service.create_obligation(
            uow,
            claims,
            created,
            pid,
            policy,
            kind="court_hearing",
            title="Status hearing",
            start="2026-03-09T09:00",
        ).id
    channels = {"sms": SmsChannel(sms.url, sms.sid, sms.token, "+13125550100")}
    at = created
    while at < utc("2026-03-09T14:00:00Z"):
        send_due(db.uow, channels, at)
        at += timedelta(minutes=30)
    assert len(sms.to("+13125550143")) == 4
    # The participant's own reports: one 10.5 h before (named), one two days before (not).
    with db.uow() as uow:
        version = uow.participants.get(pid).app_token_version
        me = ParticipantClaims(pid, version, utc("2026-03-10T00:00:00Z"))
        early = report_problem(uow, me, utc("2026-03-07T15:00:00Z"), "other", "flu")
        named = report_problem(
            uow, me, utc("2026-03-09T03:30:00Z"), "other", "the bus route 52 is cancelled"
        )
        early_id, named_id = early.id, named.id
    with db.uow() as uow:
        service.update_obligation(
            uow, claims, utc("2026-03-09T16:00:00Z"), oid, policy, {"outcome": "missed"}
        )
        (alert,) = [a for a in uow.alerts.list(participant_ids=[pid]) if a.id > named_id]
        assert alert.category == "compliance"  # for a person to review; never a violation
        assert (alert.details or {})["undelivered"] == 0
        assert (alert.details or {})["problem_report_ids"] == [named_id]
        assert early_id not in (alert.details or {})["problem_report_ids"]
        assert "Reminders delivered: 4; not delivered: 0." in alert.explanation
        assert (
            "The participant reported a problem on Sunday, March 8, 2026 at 10:30 PM: "
            "“the bus route 52 is cancelled”." in alert.explanation
        )
    db.dispose()


def _missed_checkin_alert(db_url: str, sms: SmsProvider) -> dict[str, Any]:
    created = utc("2026-03-02T12:00:00Z")
    db, _, pid = _setup(db_url, "America/Chicago", EVERY_DAY, created)
    with db.uow() as uow:
        p = uow.participants.get(pid)
        p.email, p.phone = None, "+13125550143"
        uow.face_templates.add(
            participant_id=pid,
            ciphertext=b"x",
            model="test",
            consent_reason="enrolled for the test",
            created_at=created,
        )
    policy = ReminderPolicy.parse("7d,3d,1d,2h", "08:00")
    with db.uow() as uow:
        plan_checkin_reminders(uow, utc("2026-03-03T00:00:00Z"), policy)
    channels = {"sms": SmsChannel(sms.url, sms.sid, sms.token, "+13125550100")}
    send_due(db.uow, channels, utc("2026-03-03T14:00:00Z"), max_attempts=1)  # 08:00 CST
    with db.uow() as uow:
        alerts = [
            a
            for a in sweep_missed_check_ins(uow, utc("2026-03-03T16:30:00Z"))
            if (a.details or {}).get("window_start") == "2026-03-03T15:00:00+00:00"
        ]
        assert len(alerts) == 1
        got = {"category": alerts[0].category, **(alerts[0].details or {})}
    db.dispose()
    return got


def test_a_missed_check_in_whose_reminder_failed_is_technical(
    db_url: str, sms: SmsProvider
) -> None:
    sms.down = True
    got = _missed_checkin_alert(db_url, sms)
    assert got["category"] == "technical"
    assert got["reminders_undelivered"] is True
    assert [(r["channel"], r["status"]) for r in got["reminders"]] == [("sms", "failed")]


def test_a_missed_check_in_after_a_delivered_reminder_is_for_review(
    db_url: str, sms: SmsProvider
) -> None:
    got = _missed_checkin_alert(db_url, sms)
    assert got["category"] == "compliance"
    assert [(r["channel"], r["status"]) for r in got["reminders"]] == [("sms", "sent")]
    assert len(sms.to("+13125550143")) == 1
