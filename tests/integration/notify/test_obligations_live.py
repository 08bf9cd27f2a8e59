"""Obligations through the real API of a running ``openatd serve``: a hearing entered in local
time, its reminder delivered to a real SMTP server and an SMS provider on loopback within 60 s,
a changed date noticed at once, refusals (4xx, nothing stored), the private calendar feed, an
iCalendar import, and a missed hearing's alert carrying the delivery status of its reminders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from live import start_live_server
from notify_helpers import SmsProvider, SmtpServer, wait_for

from openatd.accounts import create_user
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
HTTP = httpx.Client(timeout=60)  # two shared cores: a loaded machine is slow, not wrong
CHI = ZoneInfo("America/Chicago")


@pytest.fixture
def server(db_url: str, smtp: SmtpServer, sms: SmsProvider) -> Any:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        now = datetime.now(UTC)
        create_user(uow, now, "alice", PASSWORD, "case_manager")
        create_user(uow, now, "bob", PASSWORD, "case_manager")
    db.dispose()
    live = start_live_server(
        db_url,
        tick_interval_s=0.2,
        outbox_interval_s=0.2,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_from="reminders@court.example.org",
        sms_api_url=sms.url,
        sms_account_sid=sms.sid,
        sms_auth_token=sms.token,
        sms_from="+13125550100",
    )
    try:
        yield live
    finally:
        live.stop()


def _login(api: str, username: str) -> dict[str, str]:
    r = HTTP.post(f"{api}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _participant(api: str, h: dict[str, str], **extra: Any) -> dict[str, Any]:
    body = {"name": "P. One", "timezone": "America/Chicago", "supervision_level": "reminders"}
    r = HTTP.post(f"{api}/api/participants", headers=h, json=body | extra)
    assert r.status_code == 201, r.text
    got: dict[str, Any] = r.json()
    return got


def _count(url: str, table: str, where: str = "1=1") -> int:
    db = Database(url)
    with db.engine.connect() as c:
        n = c.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()
    db.dispose()
    return int(n)


def test_hearing_entered_is_reminded_by_email_and_sms_then_changed_then_cancelled(
    server: Any, smtp: SmtpServer, sms: SmsProvider
) -> None:
    api = server.api
    alice = _login(api, "alice")
    p = _participant(api, alice, email="p.one@example.org", phone="+1 312 555 0143", language="es")
    assert (p["phone"], p["email"], p["language"]) == ("+13125550143", "p.one@example.org", "es")
    # A hearing 2 h 10 s from now, entered as a local wall time in Chicago: its 2-hour reminder
    # is due in 10 s and must arrive within 60 s; the 1/3/7-day ones are already past.
    start = (datetime.now(UTC) + timedelta(hours=2, seconds=10)).astimezone(CHI)
    local = start.replace(tzinfo=None).isoformat(timespec="seconds")
    r = HTTP.post(
        f"{api}/api/participants/{p['id']}/obligations",
        headers=alice,
        json={
            "kind": "court_hearing",
            "title": "Audiencia preliminar",
            "start": local,
            "location": "50 W Washington St, Chicago",
        },
    )
    assert r.status_code == 201, r.text
    ob = r.json()
    assert datetime.fromisoformat(ob["start"]) == start.replace(microsecond=0)
    mails = wait_for(lambda: smtp.sink.to("p.one@example.org"), timeout=60)
    texts = wait_for(lambda: sms.to("+13125550143"), timeout=60)
    assert len(mails) == 1 and len(texts) == 1
    assert mails[0]["From"] == "reminders@court.example.org"
    assert mails[0]["Subject"].startswith("Recordatorio: Audiencia preliminar")
    body = mails[0].get_content()
    assert "50 W Washington St, Chicago" in body and "orden de arresto" in body
    assert f"{start:%-H:%M}" in texts[0]["Body"] and "¿Necesita transporte" in texts[0]["Body"]

    def reminder_statuses() -> list[tuple[str, str]]:
        r = HTTP.get(f"{api}/api/participants/{p['id']}/messages", headers=alice)
        assert r.status_code == 200
        got = sorted((m["channel"], m["status"]) for m in r.json() if m["kind"] == "reminder")
        return got if got == [("email", "sent"), ("sms", "sent")] else []

    # The provider has it; the outbox row says so once the sender commits.
    wait_for(reminder_statuses, timeout=30)

    # Moving the hearing a day later sends an immediate notice with both dates.
    r = HTTP.patch(
        f"{api}/api/obligations/{ob['id']}",
        headers=alice,
        json={"start": (start + timedelta(days=1)).isoformat()},
    )
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2
    notices = wait_for(
        lambda: [m for m in smtp.sink.to("p.one@example.org") if "CAMBIO" in m["Subject"]]
    )
    assert "NUEVA fecha" in notices[0].get_content()
    wait_for(lambda: len(sms.to("+13125550143")) == 2)

    # Cancelling tells the participant and stops the reminders of the new date.
    r = HTTP.delete(f"{api}/api/obligations/{ob['id']}", headers=alice)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    wait_for(lambda: any("Cancelado" in m["Subject"] for m in smtp.sink.messages))
    pending = _count(
        server.database_url,
        "outbox_messages",
        f"obligation_id = {ob['id']} AND status = 'pending' AND kind = 'reminder'",
    )
    assert pending == 0


def test_bad_input_is_refused_and_nothing_is_stored(server: Any) -> None:
    api = server.api
    alice, bob = _login(api, "alice"), _login(api, "bob")
    for bad, reason in [
        ({"phone": "312-555-0143"}, "E.164"),
        ({"phone": "+1 555"}, "phone"),
        ({"email": "p.one@"}, "email"),
        ({"language": "zz-top-99"}, "BCP 47"),
        ({"quiet_start": "22:00"}, "quiet hours"),
    ]:
        r = HTTP.post(
            f"{api}/api/participants",
            headers=alice,
            json={"name": "X", "timezone": "America/Chicago", **bad},
        )
        assert r.status_code == 422, (bad, r.text)
        assert reason in r.text
    assert _count(server.database_url, "participants") == 0

    p = _participant(api, alice)
    url = f"{api}/api/participants/{p['id']}/obligations"
    cases = [
        ({"kind": "court_hearing", "title": "H", "start": "2020-01-06T09:00"}, "in the past"),
        # 02:30 on 2031-03-09 does not exist in Chicago (clocks jump 02:00 -> 03:00).
        ({"kind": "court_hearing", "title": "H", "start": "2031-03-09T02:30"}, "does not exist"),
        ({"kind": "hearing", "title": "H", "start": "2031-03-10T09:00"}, "kind"),
        ({"kind": "appointment", "title": "H", "start": "soon"}, "ISO 8601"),
        ({"kind": "appointment", "title": "   ", "start": "2031-03-10T09:00"}, "title"),
    ]
    for body, reason in cases:
        r = HTTP.post(url, headers=alice, json=body)
        assert r.status_code == 422, (body, r.text)
        assert reason in r.text, r.text
    assert _count(server.database_url, "obligations") == 0
    assert _count(server.database_url, "audit_entries", "action = 'obligation:create'") == 0

    good = {"kind": "appointment", "title": "Intake", "start": "2031-03-10T09:00"}
    r = HTTP.post(url, headers=bob, json=good)  # not on bob's caseload
    assert r.status_code == 403
    r = HTTP.post(url, headers=alice, json=good)
    assert r.status_code == 201
    assert r.json()["start"] == "2031-03-10T14:00:00Z"  # 09:00 CDT
    oid = r.json()["id"]
    assert HTTP.get(f"{api}/api/obligations/{oid}", headers=bob).status_code == 403
    r = HTTP.patch(f"{api}/api/obligations/{oid}", headers=alice, json={"outcome": "missed"})
    assert r.status_code == 422 and "after the obligation's start" in r.text

    # Each read of personal data leaves exactly one audit entry.
    before = _count(server.database_url, "audit_entries", "action = 'obligation:read'")
    assert HTTP.get(url, headers=alice).status_code == 200
    assert HTTP.get(f"{api}/api/obligations/{oid}", headers=alice).status_code == 200
    after = _count(server.database_url, "audit_entries", "action = 'obligation:read'")
    assert after == before + 2


ICS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Cook County//Court//EN\r
BEGIN:VEVENT\r
UID:case-123-hearing@court.example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=America/Chicago:20310310T093000\r
DTEND;TZID=America/Chicago:20310310T103000\r
SUMMARY:Status hearing\r
LOCATION:2650 S California Ave, Chicago\r
CATEGORIES:COURT\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:all-day@court.example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART;VALUE=DATE:20310311\r
SUMMARY:Court closed\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:old@court.example.org\r
DTSTAMP:20260101T000000Z\r
DTSTART:20200101T150000Z\r
SUMMARY:Old hearing\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_ical_import_and_the_private_revocable_calendar_feed(server: Any) -> None:
    api = server.api
    alice = _login(api, "alice")
    p = _participant(api, alice)
    url = f"{api}/api/participants/{p['id']}/obligations/import"
    r = HTTP.post(url, headers=alice | {"Content-Type": "text/calendar"}, content=ICS)
    assert r.status_code == 200, r.text
    got = r.json()
    assert len(got["created"]) == 1 and got["updated"] == []
    assert [s["uid"] for s in got["skipped"]] == [
        "all-day@court.example.org",
        "old@court.example.org",
    ]
    assert "in the past" in got["skipped"][1]["reason"]
    r = HTTP.get(f"{api}/api/obligations/{got['created'][0]}", headers=alice)
    assert r.json()["kind"] == "court_hearing"
    assert r.json()["start"] == "2031-03-10T14:30:00Z"
    # Re-importing the same file updates, never duplicates.
    r = HTTP.post(url, headers=alice | {"Content-Type": "text/calendar"}, content=ICS)
    assert r.json()["updated"] == got["created"] and r.json()["created"] == []
    r = HTTP.post(url, headers=alice | {"Content-Type": "text/calendar"}, content=b"hello")
    assert r.status_code == 422

    r = HTTP.post(f"{api}/api/participants/{p['id']}/calendar-feed", headers=alice)
    assert r.status_code == 201
    feed = r.json()["path"]
    r = HTTP.get(f"{api}{feed}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    assert "SUMMARY:Status hearing" in r.text
    assert "DTSTART;TZID=America/Chicago:20310310T093000" in r.text
    assert "LOCATION:2650 S California Ave\\, Chicago" in r.text
    # A new URL revokes the old one; revoking leaves none.
    r = HTTP.post(f"{api}/api/participants/{p['id']}/calendar-feed", headers=alice)
    feed2 = r.json()["path"]
    assert HTTP.get(f"{api}{feed}").status_code == 404
    assert HTTP.get(f"{api}{feed2}").status_code == 200
    r = HTTP.delete(f"{api}/api/participants/{p['id']}/calendar-feed", headers=alice)
    assert r.status_code == 204
    assert HTTP.get(f"{api}{feed2}").status_code == 404
    reads = _count(server.database_url, "audit_entries", "action = 'calendar_feed:read'")
    assert reads == 2


def test_the_participant_sees_their_hearing_and_issues_their_own_feed(server: Any) -> None:
    api = server.api
    alice = _login(api, "alice")
    p = _participant(api, alice)
    r = HTTP.post(
        f"{api}/api/participants/{p['id']}/obligations",
        headers=alice,
        json={
            "kind": "court_hearing",
            "title": "Status hearing",
            "start": "2031-03-10T09:30",
            "location": "2650 S California Ave",
        },
    )
    oid = r.json()["id"]
    HTTP.patch(f"{api}/api/obligations/{oid}", headers=alice, json={"start": "2031-03-11T09:30"})
    code = HTTP.post(f"{api}/api/participants/{p['id']}/app-code", headers=alice).json()["code"]
    r = HTTP.post(f"{api}/api/portal/token", json={"participant_id": p["id"], "code": code})
    me = {"Authorization": f"Bearer {r.json()['access_token']}"}
    got = HTTP.get(f"{api}/api/portal/obligations", headers=me).json()
    assert [
        (a["title"], a["start"], a["location"], a["version"], a["status"])
        for a in got["appointments"]
    ] == [("Status hearing", "2031-03-11T14:30:00Z", "2650 S California Ave", 2, "scheduled")]
    r = HTTP.post(f"{api}/api/portal/calendar-feed", headers=me)
    assert r.status_code == 201
    path = r.json()["path"]
    assert "SUMMARY:Status hearing" in HTTP.get(f"{api}{path}").text
    assert HTTP.delete(f"{api}/api/portal/calendar-feed", headers=me).status_code == 204
    assert HTTP.get(f"{api}{path}").status_code == 404
    assert HTTP.post(f"{api}/api/portal/calendar-feed", headers=alice).status_code == 401
