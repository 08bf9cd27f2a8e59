"""Staff accounts (issue 7 item 4): second factor, role policy, password change, role change,
deactivation and session revocation, through the API and the CLI, each audited old → new."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
from security_helpers import PASSWORD, T0, Served
from typer.testing import CliRunner

from openatd.accounts import create_user
from openatd.cli.main import app as cli_app

NEW_PASSWORD = "a much longer new password"


def _token(
    s: Served, user: str, password: str = PASSWORD, code: str | None = None
) -> httpx.Response:
    data = {"username": user, "password": password}
    if code:
        data["totp_code"] = code
    return s.client.post("/api/auth/token", data=data)


def _h(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _entries(s: Served, action: str) -> list[dict[str, object]]:
    with s.container.uow() as uow:
        return [e.details or {} for e in uow.audit.list(limit=1000) if e.action == action]


def test_second_factor_enrolment_policy_and_replay(serve: Callable[..., Served]) -> None:
    s = serve()
    with s.container.uow() as uow:
        create_user(uow, T0, "adam", PASSWORD, "admin")
        create_user(uow, T0, "sam", PASSWORD, "supervisor")
        create_user(uow, T0, "sue", PASSWORD, "supervisor")
    admin = _h(_token(s, "adam"))
    # The administrator requires a second factor for supervisors.
    r = s.client.put("/api/roles/supervisor/policy", headers=admin, json={"require_totp": True})
    assert r.status_code == 200 and r.json() == {"role": "supervisor", "require_totp": True}
    assert _entries(s, "role_policy:change") == [
        {"old": {"require_totp": False}, "new": {"require_totp": True}}
    ]
    # sue has none enrolled: refused with the way forward.
    r = _token(s, "sue")
    assert r.status_code == 401 and "requires a second factor" in r.json()["detail"]
    # The admin resets (starts) sam's enrolment and hands over the QR / URI.
    sam_id = next(
        u["id"] for u in s.client.get("/api/users", headers=admin).json() if u["username"] == "sam"
    )
    r = s.client.post(f"/api/users/{sam_id}/totp", headers=admin)
    uri = r.json()["otpauth_uri"]
    assert uri.startswith("otpauth://totp/OpenATD:sam?") and "issuer=OpenATD" in uri
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    with s.container.uow() as uow:  # stored sealed, never in the clear
        stored = uow.users.by_username("sam")
        assert stored is not None and stored.totp_secret and secret not in stored.totp_secret
    r = s.client.post(
        f"/api/users/{sam_id}/totp/confirm" if False else "/api/me/totp/confirm",
        headers=admin,
        json={"code": "123456"},
    )
    assert r.status_code in (409, 422)  # the admin's own enrolment was never started
    # sam confirms with the CLI (the enrolment is not active until a code is seen).
    runner = CliRunner()
    url = s.container.settings.database_url
    code = pyotp.TOTP(secret).now()  # the CLI runs on the real clock
    out = runner.invoke(
        cli_app, ["user", "totp-enrol", "sam", "--code", code, "--database-url", url]
    )
    assert out.exit_code == 0 and "second factor on" in out.output, out.output
    s.clock.set(datetime.now(UTC) + timedelta(seconds=60))
    assert _token(s, "sam").status_code == 401  # password alone
    code = pyotp.TOTP(secret).at(s.clock.now())
    assert _token(s, "sam", code="000000" if code != "000000" else "111111").status_code == 401
    assert _token(s, "sam", code=code).status_code == 200
    assert _token(s, "sam", code=code).status_code == 401  # replay of a used code
    logins = _entries(s, "user:login")
    assert {"second_factor": True, "failed_attempts": 1} in logins  # the wrong code


def test_logout_password_role_and_deactivation_end_every_session(
    serve: Callable[..., Served],
) -> None:
    s = serve()
    with s.container.uow() as uow:
        create_user(uow, T0, "adam", PASSWORD, "admin")
        carol = create_user(uow, T0, "carol", PASSWORD, "case_manager").id
    admin = _h(_token(s, "adam"))

    # Log-out ends every session (two devices) at once.
    a, b = _h(_token(s, "carol")), _h(_token(s, "carol"))
    assert s.client.get("/api/me", headers=a).status_code == 200
    assert s.client.post("/api/auth/logout", headers=a).status_code == 204
    assert s.client.get("/api/me", headers=a).status_code == 401
    assert s.client.get("/api/me", headers=b).status_code == 401

    # Changing your password needs the current one, and ends your sessions.
    c = _h(_token(s, "carol"))
    r = s.client.post(
        "/api/me/password",
        headers=c,
        json={"current_password": "nope-nope-nope", "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 401
    r = s.client.post(
        "/api/me/password",
        headers=c,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 204
    assert s.client.get("/api/me", headers=c).status_code == 401
    assert _token(s, "carol").status_code == 401
    d = _h(_token(s, "carol", NEW_PASSWORD))

    # A role change by the admin: audited old → new, the old token (old role) is dead.
    r = s.client.patch(f"/api/users/{carol}", headers=admin, json={"role": "supervisor"})
    assert r.status_code == 200 and r.json()["role"] == "supervisor"
    assert s.client.get("/api/participants", headers=d).status_code == 401
    assert _entries(s, "user:role_change") == [
        {"username": "carol", "old": "case_manager", "new": "supervisor"}
    ]
    # A case manager cannot do it.
    e = _h(_token(s, "carol", NEW_PASSWORD))
    assert (
        s.client.patch(f"/api/users/{carol}", headers=e, json={"role": "admin"}).status_code == 403
    )

    # Deactivation ends the session at once and refuses log-in.
    r = s.client.patch(f"/api/users/{carol}", headers=admin, json={"active": False})
    assert r.status_code == 200 and r.json()["active"] is False
    assert s.client.get("/api/me", headers=e).status_code == 401
    assert _token(s, "carol", NEW_PASSWORD).status_code == 401
    assert _entries(s, "user:deactivate") == [
        {"username": "carol", "old": {"active": True}, "new": {"active": False}}
    ]

    # The CLI does the same, audited as system:cli.
    url = s.container.settings.database_url
    runner = CliRunner()
    out = runner.invoke(cli_app, ["user", "activate", "carol", "--database-url", url])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli_app, ["user", "set-role", "carol", "auditor", "--database-url", url])
    assert out.exit_code == 0 and "supervisor -> auditor" in out.output, out.output
    assert _h(_token(s, "carol", NEW_PASSWORD))
    out = runner.invoke(cli_app, ["user", "deactivate", "carol", "--database-url", url])
    assert out.exit_code == 0
    assert _token(s, "carol", NEW_PASSWORD).status_code == 401
    with s.container.uow() as uow:
        actors = {e.actor for e in uow.audit.list(limit=1000) if e.action.startswith("user:")}
    assert "system:cli" in actors and "user:adam" in actors
