"""Log-in abuse (issue 7 item 2) and participant sign-in guessing (item 3), on a real server.

Clients are told apart by ``X-Forwarded-For`` from a trusted proxy (the test client's
loopback address is configured as one), as behind a real reverse proxy.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
from security_helpers import PASSWORD, T0, Served

from openatd.accounts import create_user
from openatd.participants import portal
from openatd.participants import service as participants
from openatd.safeguards.auth import Role, TokenClaims
from openatd.safeguards.throttle import LoginThrottle

SETTINGS = {
    "trusted_proxies": "127.0.0.1",
    "login_free_failures": 3,
    "login_base_delay_s": 60.0,
    "login_max_delay_s": 900.0,
}


def _login(
    s: Served, user: str, password: str, client: str, code: str | None = None
) -> httpx.Response:
    data = {"username": user, "password": password}
    if code is not None:
        data["totp_code"] = code
    return s.client.post(
        "/api/auth/token", data=data, headers={"X-Forwarded-For": f"203.0.113.7, {client}"}
    )


def _enrol_totp(s: Served, user: str) -> str:
    """Enrol *user*'s second factor through the API; returns the TOTP secret."""
    token = _login(s, user, PASSWORD, "198.51.100.1").json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    started = s.client.post("/api/me/totp", headers=h)
    assert started.status_code == 200, started.text
    uri = started.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/OpenATD:") and "<svg" in started.json()["qr_svg"]
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    code = pyotp.TOTP(secret).at(T0)
    ok = s.client.post("/api/me/totp/confirm", headers=h, json={"code": code})
    assert ok.status_code == 200 and ok.json()["totp_enabled"] is True
    return secret


def test_guessing_client_waits_owner_with_second_factor_gets_in(
    serve: Callable[..., Served],
) -> None:
    s = serve(**SETTINGS)
    with s.container.uow() as uow:
        create_user(uow, T0, "sam", PASSWORD, "supervisor")
    secret = _enrol_totp(s, "sam")
    s.clock.advance(timedelta(seconds=60))  # a fresh TOTP step (the enrolment's code is spent)
    base = s.audit_count()

    # The attacker knows the user name: three wrong guesses are answered 401...
    for _ in range(3):
        assert _login(s, "sam", "guess-guess-guess", "192.0.2.66").status_code == 401
    # ...then the guessing client must wait, whatever it sends (even the right password).
    r = _login(s, "sam", PASSWORD, "192.0.2.66")
    assert r.status_code == 429 and "from your address" in r.json()["detail"]
    assert 55 <= int(r.headers["Retry-After"]) <= 60
    # From other addresses the account is throttled too: a password alone does not get in...
    r = _login(s, "sam", "another-guess-here", "192.0.2.67")
    assert r.status_code == 429 and "second-factor code is still admitted" in r.json()["detail"]
    r = _login(s, "sam", PASSWORD, "192.0.2.68")
    assert r.status_code == 429
    # ...but the owner, with password and a current code, is admitted at once.
    code = pyotp.TOTP(secret).at(s.clock.now())
    r = _login(s, "sam", PASSWORD, "198.51.100.1", code)
    assert r.status_code == 200, r.text
    # The same code again is a replay: refused.
    assert _login(s, "sam", PASSWORD, "198.51.100.2", code).status_code in (401, 429)

    # Five failed attempts became one aggregated entry, and the log-in names the failures.
    entries = s.actions_since(base)
    throttled = [e for e in entries if e[1] == "user:login_throttled"]
    assert len(throttled) == 1 and throttled[0][2] is not None
    assert throttled[0][2]["failures"] == 3
    logins = [e for e in entries if e[1] == "user:login"]
    assert logins[0][2] == {"second_factor": True, "failed_attempts": 5}
    assert not [e for e in entries if e[1] == "user:login_failed"]


def test_anonymous_user_names_do_not_grow_the_audit_log(serve: Callable[..., Served]) -> None:
    s = serve(**SETTINGS)
    base = s.audit_count()
    statuses = set()
    for i in range(40):
        r = _login(s, f"nobody{i}", "whatever-whatever", f"192.0.2.{i % 20}")
        statuses.add(r.status_code)
    assert statuses <= {401, 429}
    assert s.audit_count() == base


def test_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(
    serve: Callable[..., Served],
) -> None:
    s = serve(**{**SETTINGS, "trusted_proxies": ""})
    with s.container.uow() as uow:
        create_user(uow, T0, "carol", PASSWORD, "case_manager")
    codes = [_login(s, "carol", "wrong-wrong-wrong", f"192.0.2.{i}").status_code for i in range(5)]
    # A fresh X-Forwarded-For each time did not buy fresh attempts: the peer is counted.
    assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]


def test_delay_doubles_and_is_capped() -> None:
    t = LoginThrottle(free_failures=2, base_delay_s=10, max_delay_s=50)
    assert [t.delay_for(n) for n in range(1, 7)] == [0, 10, 20, 40, 50, 50]
    for _ in range(3):
        t.failed("account", "x")
    assert 15 < t.wait_s("account", "x") <= 20
    assert t.succeeded("account", "x") == 3 and t.wait_s("account", "x") == 0


def test_participant_code_survives_guesses_and_guessers_wait(
    serve: Callable[..., Served],
) -> None:
    s = serve(**SETTINGS)
    with s.container.uow() as uow:
        cm = create_user(uow, T0, "carol", PASSWORD, "case_manager")
        claims = TokenClaims(cm.id, cm.username, Role.CASE_MANAGER, T0.replace(year=2027))
        pid = participants.create_participant(
            uow, claims, T0, name="P. One", timezone="UTC", supervision_level="app"
        ).id
        code, _expires = portal.issue_app_code(uow, claims, T0, pid)
    assert len(code.replace("-", "")) == portal.CODE_LENGTH == 12
    assert set(code.replace("-", "")) <= set(portal.CODE_ALPHABET)
    base = s.audit_count()

    def sign_in(guess: str, client: str) -> httpx.Response:
        return s.client.post(
            "/api/portal/token",
            json={"participant_id": pid, "code": guess},
            headers={"X-Forwarded-For": client},
        )

    # A stranger guesses with the small sequential id: 401, 401, 401, then 429 (waits).
    got = [sign_in("AAAA-BBBB-CCCC", "192.0.2.66").status_code for _ in range(5)]
    assert got == [401, 401, 401, 429, 429]
    # Guessers from many addresses do not void the code either.
    for i in range(6):
        assert sign_in(f"ZZZZ-ZZZZ-ZZ{i:02d}", f"192.0.2.{100 + i}").status_code == 401
    # The participant's phone signs in with the code the case manager gave.
    r = sign_in(code, "198.51.100.20")
    assert r.status_code == 200, r.text
    # The code is now used up.
    assert sign_in(code, "198.51.100.20").status_code == 401
    entries = s.actions_since(base)
    # Nine wrong codes are two aggregated entries (at 3 and at 6 failures: each doubling).
    assert [e[1] for e in entries] == [
        "participant:app_login_throttled",
        "participant:app_login_throttled",
        "participant:app_login",
    ]
    assert [e[2]["failures"] for e in entries[:2] if e[2]] == [3, 6]
    assert entries[2][2] == {"failed_attempts": 9}
