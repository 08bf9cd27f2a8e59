"""Issue 13 on issue 7's services: a staff member changes their password, enrols a second
factor and signs out everywhere in the browser (CSRF forms, audited as the API is), and the
auditor's page shows whether the log verifies against the signed checkpoints."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import sqlalchemy as sa
from security_helpers import PASSWORD, T0, Served

from openatd.accounts import create_user
from openatd.domain.audit import AuditAction, AuditRecord, entry_hash
from openatd.safeguards import audit, checkpoints
from openatd.storage import tables as t
from openatd.storage.repositories import to_record

NEW_PASSWORD = "a much longer new password"


def _browser(s: Served) -> tuple[httpx.Client, str]:
    """A browser on the served app (its Origin) and the CSRF token its cookie holds."""
    base = str(s.client.base_url)
    b = httpx.Client(base_url=base, headers={"Origin": base}, timeout=30)
    m = re.search(r'name="csrf_token" value="([^"]+)"', b.get("/ui/login").text)
    assert m
    return b, m[1]


def _login(
    b: httpx.Client, csrf: str, user: str, password: str, code: str | None = None
) -> httpx.Response:
    data = {"username": user, "password": password, "csrf_token": csrf}
    if code:
        data["totp_code"] = code
    return b.post("/ui/login", data=data)


def _api_token(s: Served, user: str, password: str, code: str | None = None) -> dict[str, str]:
    data = {"username": user, "password": password}
    if code:
        data["totp_code"] = code
    r = s.client.post("/api/auth/token", data=data)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _actions(s: Served, action: str) -> list[tuple[str, dict[str, object]]]:
    with s.container.uow() as uow:
        return [
            (e.actor, e.details or {}) for e in uow.audit.list(limit=1000) if e.action == action
        ]


def test_password_change_second_factor_and_sign_out_everywhere_on_the_account_page(
    serve: Callable[..., Served],
) -> None:
    s = serve()
    with s.container.uow() as uow:
        create_user(uow, T0, "sam", PASSWORD, "supervisor")
    b, csrf = _browser(s)
    assert _login(b, csrf, "sam", PASSWORD).status_code == 303
    page = b.get("/ui/account")
    assert page.status_code == 200
    assert 'href="/ui/account"' in page.text and 'id="totp-state">not enrolled' in page.text
    api = _api_token(s, "sam", PASSWORD)
    assert s.client.get("/api/me", headers=api).status_code == 200

    # A wrong current password changes nothing.
    r = b.post(
        "/ui/account/password",
        data={
            "current_password": "not it at all",
            "new_password": NEW_PASSWORD,
            "csrf_token": csrf,
        },
    )
    assert r.status_code == 401 and "the current password is wrong" in r.text
    assert _actions(s, "user:password_change") == []
    # Without the CSRF token the form is refused before the route runs.
    r = b.post(
        "/ui/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert r.status_code == 403
    r = b.post(
        "/ui/account/password",
        data={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "csrf_token": csrf},
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert "Password changed" in b.get(r.headers["location"]).text
    assert _actions(s, "user:password_change") == [
        ("user:sam", {"username": "sam", "sessions_ended": True})
    ]
    # Every session ended: this browser's and the API token.
    assert b.get("/ui/account").status_code == 303
    assert s.client.get("/api/me", headers=api).status_code == 401
    assert _login(b, csrf, "sam", PASSWORD).status_code == 401
    assert _login(b, csrf, "sam", NEW_PASSWORD).status_code == 303

    # Enrol a second factor: the page shows the URI and an inline SVG QR code.
    r = b.post("/ui/account/totp", data={"csrf_token": csrf})
    assert r.status_code == 200, r.text
    assert re.search(r'<div class="qr" id="totp-qr"><svg [^>]*class="segno"', r.text)
    m = re.search(r'<code id="totp-uri">([^<]+)</code>', r.text)
    assert m
    uri = unescape(m[1])
    assert uri.startswith("otpauth://totp/OpenATD:sam?")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    totp = pyotp.TOTP(secret)
    assert _actions(s, "user:totp_enrol")[0][0] == "user:sam"
    # A wrong code is refused, a current one confirms.
    wrong = f"{(int(totp.at(s.clock.now())) + 1) % 1_000_000:06d}"
    r = b.post("/ui/account/totp/confirm", data={"code": wrong, "csrf_token": csrf})
    assert r.status_code == 422 and "does not match" in r.text
    r = b.post(
        "/ui/account/totp/confirm", data={"code": totp.at(s.clock.now()), "csrf_token": csrf}
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/account?notice=")
    assert 'id="totp-state">enrolled' in b.get("/ui/account").text
    assert _actions(s, "user:totp_enable") == [
        ("user:sam", {"username": "sam", "old": {"enabled": False}, "new": {"enabled": True}})
    ]

    # Log-in now needs the code.
    b2, csrf2 = _browser(s)
    r = _login(b2, csrf2, "sam", NEW_PASSWORD)
    assert r.status_code == 401 and "6-digit code" in unescape(r.text)
    s.clock.advance(timedelta(seconds=60))
    assert _login(b2, csrf2, "sam", NEW_PASSWORD, totp.at(s.clock.now())).status_code == 303
    assert b2.get("/ui/account").status_code == 200
    logins = [d for _, d in _actions(s, "user:login")]
    assert logins[0] == {"second_factor": True}
    s.clock.advance(timedelta(seconds=60))
    api = _api_token(s, "sam", NEW_PASSWORD, totp.at(s.clock.now()))
    assert s.client.get("/api/me", headers=api).status_code == 200

    # Sign out everywhere: both browsers and the API token end.
    r = b2.post("/ui/account/sign-out-everywhere", data={"csrf_token": csrf2})
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert s.client.get("/api/me", headers=api).status_code == 401
    assert b.get("/ui/account").status_code == 303
    assert b2.get("/ui/account").status_code == 303
    assert _actions(s, "user:logout")[0] == ("user:sam", {"sessions_ended": True})
    b.close()
    b2.close()


def _recompute_chain(s: Served) -> None:
    """What a database operator with write access does to hide an edit: rehash every entry."""
    with s.container.uow() as uow:
        ids = [e.id for e in sorted(uow.audit.list(limit=100_000), key=lambda e: e.id)]
        prev = "0" * 64
        for entry_id in ids:
            e = uow.session.get(t.AuditEntry, entry_id)
            assert e is not None
            record: AuditRecord = to_record(e)
            e.prev_hash = prev
            e.hash = entry_hash(prev, record)
            prev = e.hash
            uow.session.flush()


def test_audit_page_shows_the_signed_checkpoints_status(
    serve: Callable[..., Served], tmp_path: Path
) -> None:
    key = checkpoints.new_signing_key()
    cpdir = tmp_path / "checkpoints"
    s = serve(audit_signing_key=key, audit_checkpoint_dir=cpdir)
    with s.container.uow() as uow:
        create_user(uow, T0, "aud", PASSWORD, "auditor")
        for i in range(5):
            audit.record(
                uow,
                at=T0,
                actor="user:carol",
                action=AuditAction.PARTICIPANT_READ,
                participant_id=1,
                subject_type="participant",
                details={"i": i},
            )
    b, csrf = _browser(s)
    assert _login(b, csrf, "aud", PASSWORD).status_code == 303
    text = b.get("/ui/audit").text
    assert "Signed checkpoints: configured" in text and "none written yet" in text

    with s.container.uow() as uow:
        cp = checkpoints.checkpoint_now(uow, key, cpdir, s.clock.now())
    assert cp is not None
    text = b.get("/ui/audit").text
    m = re.search(r'<p class="card ([a-z]+)" role="status" id="checkpoints">([^<]+)</p>', text)
    assert m, text
    assert m[1] == "ok" and "Signed checkpoints verify: 1 checkpoints hold" in m[2]
    assert f"covers {cp.entries} entries" in m[2] and "2026-03-09 15:00:00" in m[2]

    # The database operator rewrites an entry and recomputes the chain: the plain chain check
    # passes, the signed checkpoint does not.
    with s.container.uow() as uow:
        uow.session.execute(sa.text("UPDATE audit_entries SET actor = 'user:mallory' WHERE id = 2"))
    _recompute_chain(s)
    text = b.get("/ui/audit").text
    assert "Hash chain intact" in text
    m = re.search(r'<p class="card ([a-z]+)" role="status" id="checkpoints">([^<]+)</p>', text)
    assert m and m[1] == "error", text
    assert "Signed checkpoints BROKEN: checkpoint #1" in unescape(m[2])
    assert "the log up to it was rewritten" in m[2]
    b.close()


def test_audit_page_says_checkpoints_are_not_configured(serve: Callable[..., Served]) -> None:
    s = serve()
    with s.container.uow() as uow:
        create_user(uow, T0, "aud", PASSWORD, "auditor")
    b, csrf = _browser(s)
    assert _login(b, csrf, "aud", PASSWORD).status_code == 303
    text = b.get("/ui/audit").text
    assert "Signed checkpoints (outside the database): not configured on this server" in text
    b.close()
