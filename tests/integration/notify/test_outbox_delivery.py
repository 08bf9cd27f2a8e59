"""The outbox over real sockets: e-mail to a real SMTP server, SMS to a loopback provider;
a failing recipient or channel never blocks the others; retries back off; every attempt is in
the delivery log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify_helpers import SmsProvider, SmtpServer, free_port

from openatd.notify.channels import SmsChannel, SmtpChannel
from openatd.notify.outbox import enqueue, send_due
from openatd.storage.db import Database

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def _queue(db: Database, *items: tuple[str, str]) -> list[int]:
    ids = []
    with db.uow() as uow:
        for channel, recipient in items:
            m = enqueue(
                uow,
                kind="reminder",
                channel=channel,
                recipient=recipient,
                subject="Reminder: hearing",
                body=f"Hello {recipient}",
                due_at=NOW,
                now=NOW - timedelta(days=1),
                dedupe_key=f"k:{channel}:{recipient}",
            )
            assert m is not None
            ids.append(m.id)
    return ids


def _channels(smtp_port: int, sms: SmsProvider) -> dict[str, SmtpChannel | SmsChannel]:
    return {
        "email": SmtpChannel("127.0.0.1", smtp_port, "court-reminders@example.org", timeout_s=3),
        "sms": SmsChannel(sms.url, sms.sid, sms.token, "+13125550100"),
    }


def test_a_down_smtp_server_and_a_refused_number_block_nothing_else(
    db_url: str, smtp: SmtpServer, sms: SmsProvider
) -> None:
    db = Database(db_url)
    db.migrate()
    sms.invalid.add("+13125550199")
    dead_port = free_port()  # nothing listens here: the e-mail channel is down
    ids = _queue(
        db,
        ("email", "maria@example.org"),
        ("sms", "+13125550199"),
        ("sms", "+13125550143"),
        ("email", "juan@example.org"),
    )
    down = _channels(dead_port, sms)
    report = send_due(db.uow, down, NOW, retry_base_s=30)
    assert report.sent == [ids[2]]
    assert report.failed == [ids[1]]  # 400 from the provider: permanent, no retry
    assert report.retrying == [ids[0], ids[3]]
    assert [m["Body"] for m in sms.to("+13125550143")] == ["Hello +13125550143"]
    with db.uow() as uow:
        refused = uow.outbox.get(ids[1])
        assert refused.status == "failed"
        assert refused.last_error == "SMS provider answered 400: Invalid 'To' Phone Number"
        mail = uow.outbox.get(ids[0])
        assert mail.status == "pending" and mail.attempts == 1
        assert mail.next_attempt_at == NOW + timedelta(seconds=30)
        assert "SMTP server 127.0.0.1" in (mail.last_error or "")
        log = uow.outbox.deliveries(ids[0])
        assert [(d.status, d.at) for d in log] == [("error", NOW)]

    # Not due yet: nothing is retried early.
    assert send_due(db.uow, down, NOW + timedelta(seconds=29)).sent == []
    # Second failure doubles the delay (30 s, then 60 s).
    report = send_due(db.uow, down, NOW + timedelta(seconds=30))
    assert report.retrying == [ids[0], ids[3]]
    with db.uow() as uow:
        assert uow.outbox.get(ids[0]).next_attempt_at == NOW + timedelta(seconds=90)

    # The SMTP server is back: both e-mails go, once each.
    up = _channels(smtp.port, sms)
    report = send_due(db.uow, up, NOW + timedelta(seconds=90))
    assert sorted(report.sent) == sorted([ids[0], ids[3]])
    assert [m["Subject"] for m in smtp.sink.to("maria@example.org")] == ["Reminder: hearing"]
    assert smtp.sink.to("juan@example.org")[0].get_content().strip() == "Hello juan@example.org"
    assert send_due(db.uow, up, NOW + timedelta(hours=1)).sent == []
    with db.uow() as uow:
        mail = uow.outbox.get(ids[0])
        assert (mail.status, mail.attempts, mail.sent_at) == (
            "sent",
            3,
            NOW + timedelta(seconds=90),
        )
        assert [d.status for d in uow.outbox.deliveries(ids[0])] == ["error", "error", "sent"]
    db.dispose()


def test_a_refused_mailbox_fails_for_good_and_retries_stop_after_max_attempts(
    db_url: str, smtp: SmtpServer, sms: SmsProvider
) -> None:
    db = Database(db_url)
    db.migrate()
    smtp.sink.refuse.add("gone@example.org")
    sms.down = True
    ids = _queue(db, ("email", "gone@example.org"), ("sms", "+13125550143"))
    channels = _channels(smtp.port, sms)
    at = NOW
    for attempt in range(1, 4):
        report = send_due(db.uow, channels, at, max_attempts=3, retry_base_s=10)
        if attempt == 1:
            assert report.failed == [ids[0]]  # 550: permanent
        at += timedelta(seconds=10 * 2 ** (attempt - 1))
    with db.uow() as uow:
        sms_msg = uow.outbox.get(ids[1])
        assert (sms_msg.status, sms_msg.attempts) == ("failed", 3)
        assert sms_msg.last_error == "SMS provider answered 503: service unavailable"
        assert uow.outbox.get(ids[0]).last_error is not None
        assert "550" in (uow.outbox.get(ids[0]).last_error or "")
    assert smtp.sink.messages == [] and sms.sent == []
    db.dispose()


def test_a_channel_that_is_not_configured_fails_its_attempt_with_the_reason(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    (mid,) = _queue(db, ("sms", "+13125550143"))
    report = send_due(db.uow, {}, NOW)
    assert report.retrying == [mid]
    with db.uow() as uow:
        assert uow.outbox.get(mid).last_error == "no sms channel is configured on this server"
    db.dispose()


def test_the_same_key_is_enqueued_once(db_url: str) -> None:
    db = Database(db_url)
    db.migrate()
    _queue(db, ("sms", "+13125550143"))
    with db.uow() as uow:
        again = enqueue(
            uow,
            kind="reminder",
            channel="sms",
            recipient="+13125550143",
            subject="s",
            body="b",
            due_at=NOW,
            now=NOW,
            dedupe_key="k:sms:+13125550143",
        )
        assert again is None
    db.dispose()


def test_staff_notification_preferences_from_the_cli(db_url: str) -> None:
    from typer.testing import CliRunner

    from openatd.cli.main import app

    runner = CliRunner()
    base = ["user", "create", "--password", "correct horse battery", "--database-url", db_url]
    done = runner.invoke(app, [*base, "dana", "--phone", "+1 312 555 0188", "--notify", "sms"])
    assert done.exit_code == 0, done.output
    done = runner.invoke(app, [*base, "erin", "--notify", "sms"])
    assert done.exit_code == 2 and "phone number (E.164) is needed" in done.output
    done = runner.invoke(app, [*base, "fay", "--email", "fay@", "--notify", "email"])
    assert done.exit_code == 2 and "email 'fay@' is not valid" in done.output
    db = Database(db_url)
    with db.uow() as uow:
        dana = uow.users.by_username("dana")
        assert dana is not None
        assert (dana.phone, dana.notify_channel, dana.notify_digest) == (
            "+13125550188",
            "sms",
            False,
        )
        assert uow.users.by_username("erin") is None  # refused: nothing stored
    db.dispose()


def test_portal_notices_go_out_by_email_and_sms_once_and_not_in_quiet_hours(
    db_url: str, smtp: SmtpServer, sms: SmsProvider
) -> None:
    """Issue 8 item 1: the participant told in the portal of an alert (or a decision) is
    told by e-mail and SMS too, through the outbox, once, after their quiet hours."""
    from openatd.alerts.notices import NoticeKind, alert_notice_text, notify_participant
    from openatd.notify.worker import forward_participant_notices

    db = Database(db_url)
    db.migrate()
    chicago_3am = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 03:00 CST, inside 22:00-07:00
    chicago_7am = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
    with db.uow() as uow:
        p = uow.participants.add(
            name="Maria", timezone="America/Chicago", supervision_level="gps", policy={},
            active=True, created_at=NOW, email="maria@example.org", phone="+13125550143",
            quiet_start="22:00", quiet_end="07:00",
        )  # fmt: skip
        quiet = uow.participants.add(
            name="No contact", timezone="UTC", supervision_level="gps", policy={},
            active=True, created_at=NOW,
        )  # fmt: skip
        a = uow.alerts.add(
            participant_id=p.id, device_id=None, type="zone_exit", category="compliance",
            at=chicago_3am, raised_at=chicago_3am, explanation="You left the home zone.",
            details=None, status="open",
        )  # fmt: skip
        text = alert_notice_text(a, chicago_3am + timedelta(hours=72))
        for who in (p.id, quiet.id):
            notify_participant(
                uow, chicago_3am, participant_id=who, kind=NoticeKind.ALERT_RAISED,
                text=text, alert_id=a.id,
            )  # fmt: skip
        pid = p.id
    with db.uow() as uow:
        assert forward_participant_notices(uow, chicago_3am) == 2  # e-mail and SMS
    with db.uow() as uow:
        assert forward_participant_notices(uow, chicago_3am) == 0  # once
    channels = _channels(smtp.port, sms)
    assert send_due(db.uow, channels, chicago_3am).sent == []  # quiet hours
    report = send_due(db.uow, channels, chicago_7am)
    assert len(report.sent) == 2
    assert [m["Body"] for m in sms.to("+13125550143")] == [text]
    mail = smtp.sink.to("maria@example.org")
    assert mail[0]["Subject"] == "An alert was raised about you: you can answer"
    assert "This is not a decision that you broke a rule." in mail[0].get_content()
    with db.uow() as uow:
        assert all(n.outbox_queued_at == chicago_3am for n in uow.notices.for_participant(pid))
    db.dispose()


def test_the_daily_digest_reaches_a_digest_preferring_case_manager_once_a_day(
    db_url: str, smtp: SmtpServer, sms: SmsProvider
) -> None:
    """Issue 12: a case manager who chose the digest gets one e-mail a day, at the digest
    hour, listing the open alerts of their own caseload and nothing else."""
    from openatd.notify.outbox import set_notifications
    from openatd.notify.worker import send_digests

    db = Database(db_url)
    db.migrate()
    before, at_hour, next_day = (
        datetime(2026, 3, 3, 6, 59, tzinfo=UTC),
        datetime(2026, 3, 3, 7, 30, tzinfo=UTC),
        datetime(2026, 3, 4, 7, 0, tzinfo=UTC),
    )
    with db.uow() as uow:
        carol = uow.users.add("carol", "x", "case_manager", NOW)
        set_notifications(
            carol, email="carol@example.org", phone=None, channel="email", digest=True
        )
        dave = uow.users.add("dave", "x", "case_manager", NOW)  # wants each alert, no digest
        set_notifications(dave, email="dave@example.org", phone=None, channel="email", digest=False)
        mine = uow.participants.add(
            name="Mine", timezone="UTC", supervision_level="gps", policy={}, active=True,
            created_at=NOW,
        )  # fmt: skip
        other = uow.participants.add(
            name="Other", timezone="UTC", supervision_level="gps", policy={}, active=True,
            created_at=NOW,
        )  # fmt: skip
        uow.participants.assign(carol.id, mine.id, NOW)
        uow.participants.assign(dave.id, other.id, NOW)
        ids = {}
        for who, kind, status in (
            (mine, "zone_exit", "open"),
            (mine, "missed_check_in", "open"),
            (mine, "low_battery", "resolved"),
            (other, "zone_exit", "open"),
        ):
            a = uow.alerts.add(
                participant_id=who.id, device_id=None, type=kind, category="compliance",
                at=NOW, raised_at=NOW, explanation=f"{who.name}: {kind}", details=None,
                status=status,
            )  # fmt: skip
            ids[(who.name, kind)] = a.id
    with db.uow() as uow:
        assert send_digests(uow, before, hour_utc=7) == 0  # not yet the digest hour
    with db.uow() as uow:
        assert send_digests(uow, at_hour, hour_utc=7) == 1  # carol only
    with db.uow() as uow:
        assert send_digests(uow, at_hour, hour_utc=7) == 0  # once a day
    report = send_due(db.uow, _channels(smtp.port, sms), at_hour)
    assert len(report.sent) == 1
    assert smtp.sink.to("dave@example.org") == []
    (mail,) = smtp.sink.to("carol@example.org")
    assert mail["Subject"] == "OpenATD daily digest 2026-03-03: 2 open alert(s)"
    body = mail.get_content()
    assert f"alert {ids[('Mine', 'zone_exit')]} (zone_exit, compliance)" in body
    assert f"alert {ids[('Mine', 'missed_check_in')]} (missed_check_in" in body
    assert "low_battery" not in body and "Other" not in body
    with db.uow() as uow:
        assert send_digests(uow, next_day, hour_utc=7) == 1  # the next day's digest
    db.dispose()
