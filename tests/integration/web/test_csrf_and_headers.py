"""Issue 7 item 1 against a real server: a cross-site form post changes nothing, redirects
stay on the site, every page carries the security headers, cookies are Secure on request.

The attacks are what a hostile page can make a logged-in browser send: a form post with
the session cookie and another site's Origin (or Referer), or with no token at all.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest
from live import start_live_server

from openatd.accounts import create_user
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.db import Database

PASSWORD = "correct horse battery"


def _alert(url: str) -> int:
    """A case manager 'casey' with one participant and one open alert; the alert's id."""
    from datetime import timedelta

    from openatd.participants import service

    db = Database(url)
    now = datetime.now(UTC)
    with db.uow() as uow:
        user = create_user(uow, now, "casey", PASSWORD, "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, now + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, now, name="Dana Example", timezone="Europe/Zagreb",
            supervision_level="gps", policy={},
        )  # fmt: skip
        a = uow.alerts.add(participant_id=p.id, device_id=None, type="strap_tamper",
                           category="compliance", at=now, raised_at=now,
                           explanation="strap opened", status="open")  # fmt: skip
        alert_id = a.id
    db.dispose()
    return alert_id


def _status(url: str, alert_id: int) -> str:
    db = Database(url)
    with db.uow() as uow:
        a = uow.alerts.get(alert_id)
        assert a is not None
        status = str(a.status)
    db.dispose()
    return status


def _login(client: httpx.Client) -> str:
    """Log in through the form as a browser does; the CSRF token the page carried."""
    page = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, "the log-in form carries a CSRF token"
    r = client.post(
        "/ui/login",
        data={"username": "casey", "password": PASSWORD, "csrf_token": token[1]},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )
    assert r.status_code == 303 and "openatd_session" in client.cookies
    return token[1]


def test_cross_site_posts_change_nothing(live_server: object) -> None:
    api: str = live_server.api  # type: ignore[attr-defined]
    url: str = live_server.database_url  # type: ignore[attr-defined]
    alert_id = _alert(url)
    with httpx.Client(base_url=api) as browser:
        token = _login(browser)
        ack = f"/ui/alerts/{alert_id}/acknowledge"
        evil = "https://evil.example"
        attacks = [
            # another site's form: the browser sends the cookies and that site's Origin
            ({"Origin": evil}, {"csrf_token": token}),
            ({"Origin": "null"}, {"csrf_token": token}),
            ({"Referer": evil + "/page"}, {"csrf_token": token}),
            # no Origin or Referer (stripped), and no token or a guessed one
            ({}, {}),
            ({}, {"csrf_token": "x" * 43}),
            ({"X-CSRF-Token": "y" * 43}, {}),
        ]
        for headers, data in attacks:
            r = browser.post(ack, data=data, headers=headers)
            assert r.status_code == 403, (headers, data)
            assert "Nothing was changed" in r.text
            assert r.headers["x-frame-options"] == "DENY"
        # Without the token cookie (a fresh browser fooled into posting) it fails too.
        bare = httpx.post(
            api + ack, data={"csrf_token": token},
            cookies={"openatd_session": browser.cookies["openatd_session"]},
        )  # fmt: skip
        assert bare.status_code == 403
        assert _status(url, alert_id) == "open"

        # The same form from the site itself works, and goes back to a path on this site
        # (given in the form, never the Referer) even when told to go elsewhere.
        r = browser.post(
            ack,
            data={"csrf_token": token, "back": "https://evil.example/"},
            headers={"Origin": api},
        )
        assert r.status_code == 303
        assert r.headers["location"].startswith("/ui/?notice=")
        assert _status(url, alert_id) == "acknowledged"

        # A decision is never defaulted: an empty choice is refused with a page (issue 10.5).
        r = browser.post(
            f"/ui/alerts/{alert_id}/resolve",
            data={"csrf_token": token, "resolution": "", "reason": "checked with Dana by phone"},
        )
        assert r.status_code in (400, 422) and "resolution" in r.text
        assert _status(url, alert_id) == "acknowledged"

        # The header form (htmx, fetch) is accepted as well.
        r = browser.post(
            f"/ui/alerts/{alert_id}/resolve",
            data={"resolution": "no_violation", "reason": "checked with Dana by phone",
                  "back": "//evil.example/x"},
            headers={"X-CSRF-Token": token, "Referer": api + "/ui/"},
        )  # fmt: skip
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/?")
        assert _status(url, alert_id) == "resolved"

        # Log-in's "next" cannot leave the site either.
        for target in ("//evil.example/", "/\\evil.example/", "https://evil.example/ui/"):
            browser.cookies.delete("openatd_session")
            r = browser.post(
                "/ui/login",
                data={"username": "casey", "password": PASSWORD, "csrf_token": token,
                      "next": target},
            )  # fmt: skip
            assert r.status_code == 303 and r.headers["location"] == "/ui/", target

    # The JSON API (bearer token, no cookies) needs no CSRF token.
    t = httpx.post(f"{api}/api/auth/token", data={"username": "casey", "password": PASSWORD})
    assert t.status_code == 200
    r = httpx.get(
        f"{api}/api/alerts", headers={"Authorization": "Bearer " + t.json()["access_token"]}
    )
    assert r.status_code == 200


def test_security_headers_on_every_kind_of_page(live_server: object) -> None:
    api: str = live_server.api  # type: ignore[attr-defined]
    for path in ("/ui/login", "/docs", "/ui/", "/api/alerts", "/health", "/static/css/openatd.css"):
        r = httpx.get(api + path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp, path
        assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "same-origin"
    login = httpx.get(api + "/ui/login")
    cookie = login.headers["set-cookie"]
    assert "openatd_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # development over plain HTTP
    # No page names another host for a script, style or image.
    for path in ("/ui/login", "/docs"):
        html = httpx.get(api + path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cookies_are_secure_when_the_setting_says_so(db_url: str) -> None:
    server = start_live_server(db_url, cookie_secure=True)
    try:
        _alert(db_url)
        with httpx.Client(base_url=server.api) as client:
            page = client.get("/ui/login")
            assert "; Secure" in page.headers["set-cookie"]
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            # A Secure cookie is not sent back over plain HTTP: send it as HTTPS would.
            r = httpx.post(
                server.api + "/ui/login",
                data={"username": "casey", "password": PASSWORD, "csrf_token": token[1]},
                headers={"Cookie": f"openatd_csrf={token[1]}"},
            )
            assert r.status_code == 303
            session = [c for c in r.headers.get_list("set-cookie") if "openatd_session" in c]
            assert session and "; Secure" in session[0] and "HttpOnly" in session[0]
    finally:
        server.stop()
