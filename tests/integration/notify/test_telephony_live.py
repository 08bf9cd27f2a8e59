"""Telephone check-in, SMS replies and staff notifications on a running ``openatd serve``,
with requests shaped like a Twilio-compatible provider's (form-encoded, X-Twilio-Signature)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from live import start_live_server
from notify_helpers import SmtpServer, wait_for

from openatd.accounts import create_user
from openatd.notify.twilio import sign
from openatd.storage.db import Database

PASSWORD = "correct horse battery"
TOKEN = "telephony-auth-token-0123456789"
HTTP = httpx.Client(timeout=60)
PHONE = "+13125550143"


@pytest.fixture
def server(db_url: str, smtp: SmtpServer) -> Any:
    db = Database(db_url)
    db.migrate()
    with db.uow() as uow:
        now = datetime.now(UTC)
        alice = create_user(uow, now, "alice", PASSWORD, "case_manager")
        alice.email = "alice@program.example.org"
        sam = create_user(uow, now, "sam", PASSWORD, "supervisor")
        sam.email = "sam@program.example.org"
    db.dispose()
    live = start_live_server(
        db_url,
        tick_interval_s=0.2,
        outbox_interval_s=0.2,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        telephony_auth_token=TOKEN,
        escalate_after_s=2,
    )
    try:
        yield live
    finally:
        live.stop()


def _login(api: str, username: str) -> dict[str, str]:
    r = HTTP.post(f"{api}/api/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _provider_post(
    api: str, path: str, params: dict[str, str], signature: str | None = "sign"
) -> httpx.Response:
    """POST as the provider does: form-encoded, signed over the full URL and sorted params."""
    url = f"{api}{path}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature == "sign":
        headers["X-Twilio-Signature"] = sign(TOKEN, url, params)
    elif signature is not None:
        headers["X-Twilio-Signature"] = signature
    return HTTP.post(url, content=urlencode(params), headers=headers)


def _call(**extra: str) -> dict[str, str]:
    return {
        "AccountSid": "AC0123456789abcdef0123456789abcdef",
        "CallSid": "CA1234567890abcdef1234567890abcdef",
        "From": PHONE,
        "To": "+13125550100",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        **extra,
    }


def _count(url: str, sql: str) -> int:
    db = Database(url)
    with db.engine.connect() as c:
        n = c.execute(sa.text(sql)).scalar_one()
    db.dispose()
    return int(n)


def test_phone_check_in_call_flow(server: Any) -> None:
    api = server.api
    alice = _login(api, "alice")
    r = HTTP.post(
        f"{api}/api/participants",
        headers=alice,
        json={"name": "P. One", "timezone": "America/Chicago", "phone": PHONE, "language": "es"},
    )
    pid = r.json()["id"]
    assert (
        HTTP.put(
            f"{api}/api/participants/{pid}/phone-pin", headers=alice, json={"pin": "1111"}
        ).status_code
        == 422
    )
    r = HTTP.put(f"{api}/api/participants/{pid}/phone-pin", headers=alice, json={"pin": "4821"})
    assert r.status_code == 204

    # Unsigned, wrongly signed, or signed with another token: 403, nothing recorded.
    audit_before = _count(server.database_url, "SELECT count(*) FROM audit_entries")
    assert _provider_post(api, "/api/telephony/voice", _call(), signature=None).status_code == 403
    bad = sign("another-token", f"{api}/api/telephony/voice", _call())
    assert _provider_post(api, "/api/telephony/voice", _call(), signature=bad).status_code == 403
    tampered = sign(TOKEN, f"{api}/api/telephony/voice/pin", _call(Digits="0000"))
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="4821"), signature=tampered)
    assert r.status_code == 403
    assert _count(server.database_url, "SELECT count(*) FROM audit_entries") == audit_before
    assert _count(server.database_url, "SELECT count(*) FROM checkins") == 0

    r = _provider_post(api, "/api/telephony/voice", _call())
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    assert '<Gather input="dtmf" finishOnKey="#"' in r.text
    assert 'action="/api/telephony/voice/pin"' in r.text
    assert '<Say language="es-MX">Registro de OpenATD' in r.text

    # No window open: nothing recorded, and the caller is told.
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="4821"))
    assert "No tiene un registro abierto" in r.text
    r = HTTP.post(
        f"{api}/api/participants/{pid}/checkin-schedules",
        headers=alice,
        json={"kind": "adhoc", "within_minutes": 60, "reason": "please call in for a check"},
    )
    assert r.status_code == 201, r.text
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="9999"))
    assert "Ese PIN no es correcto" in r.text and "<Gather" in r.text
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="4821", From="+13125550199"))
    assert "no está registrado" not in r.text  # unknown numbers are told in English
    assert "not registered for check-in" in r.text
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="4821"))
    assert "Su registro quedó anotado" in r.text and "<Hangup/>" in r.text
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="4821"))
    assert "Ya se registró" in r.text

    checkins = HTTP.get(
        f"{api}/api/participants/{pid}/checkins",
        headers=alice,
        params={"reason": "verify the phone check-in test"},
    ).json()
    assert [(c["method"], c["outcome"], c["on_time"]) for c in checkins] == [
        ("phone", "verified", True)
    ]
    assert _count(server.database_url, "SELECT count(*) FROM alerts") == 0


def test_five_wrong_pins_lock_the_number(server: Any) -> None:
    api = server.api
    alice = _login(api, "alice")
    pid = HTTP.post(
        f"{api}/api/participants",
        headers=alice,
        json={"name": "P. Two", "timezone": "America/Chicago", "phone": PHONE},
    ).json()["id"]
    HTTP.put(f"{api}/api/participants/{pid}/phone-pin", headers=alice, json={"pin": "4821"})
    for _ in range(5):
        r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="1234"))
        assert "That PIN is not right" in r.text
    r = _provider_post(api, "/api/telephony/voice/pin", _call(Digits="4821"))
    assert "Too many wrong PINs" in r.text


def test_sms_reply_reaches_the_case_manager_and_alerts_notify_then_escalate(
    server: Any, smtp: SmtpServer
) -> None:
    api = server.api
    alice = _login(api, "alice")
    pid = HTTP.post(
        f"{api}/api/participants",
        headers=alice,
        json={"name": "P. Three", "timezone": "America/Chicago", "phone": PHONE},
    ).json()["id"]
    sms = {"MessageSid": "SM0001", "From": PHONE, "To": "+13125550100", "Body": "I need a ride"}
    assert _provider_post(api, "/api/telephony/sms", sms, signature=None).status_code == 403
    r = _provider_post(api, "/api/telephony/sms", sms)
    assert r.status_code == 200
    inbox = HTTP.get(f"{api}/api/participants/{pid}/inbox", headers=alice).json()
    assert [(m["sender"], m["body"]) for m in inbox] == [(PHONE, "I need a ride")]
    mail = wait_for(lambda: smtp.sink.to("alice@program.example.org"), timeout=60)
    assert mail[0]["Subject"] == "SMS from P. Three"
    assert "I need a ride" in mail[0].get_content()

    # A new alert notifies the case manager; unacknowledged after 2 s, the supervisor.
    db = Database(server.database_url)
    with db.uow() as uow:
        now = datetime.now(UTC)
        alert = uow.alerts.add(
            participant_id=pid,
            type="strap_tamper",
            category="compliance",
            at=now,
            raised_at=now,
            explanation="The strap was opened.",
            status="open",
        )
        aid = alert.id
    db.dispose()
    got = wait_for(
        lambda: [m for m in smtp.sink.to("alice@program.example.org") if "alert" in m["Subject"]]
    )
    assert got[0]["Subject"] == f"OpenATD alert {aid}: strap_tamper (P. Three)"
    esc = wait_for(lambda: smtp.sink.to("sam@program.example.org"), timeout=60)
    assert esc[0]["Subject"].startswith(f"OpenATD alert {aid} not acknowledged")
    assert len(smtp.sink.to("alice@program.example.org")) == 2  # once each, never repeated
