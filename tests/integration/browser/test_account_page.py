"""The staff account page in a real headless Chromium: the QR code is drawn under the
Content-Security-Policy (inline SVG), the enrolment is confirmed with the code an authenticator
would show, and the page passes axe-core with no serious or critical violation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlparse

import pyotp

from openatd.accounts import create_user
from openatd.storage.db import Database

PASSWORD = "correct horse battery"


def test_second_factor_enrolment_in_the_browser(live_server: Any, browser: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    api = live_server.api
    db = Database(live_server.database_url)
    with db.uow() as uow:
        create_user(uow, datetime.now(UTC), "audrey", PASSWORD, "auditor")
    db.dispose()
    page = browser.new_page()
    csp_errors: list[str] = []
    page.on(
        "console",
        lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{api}/ui/login")
    page.fill("#username", "audrey")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.click("a[href='/ui/account']")
    assert page.url == f"{api}/ui/account"
    assert page.inner_text("#totp-state") == "not enrolled"
    page.click("form[action='/ui/account/totp'] button")
    box = page.locator("#totp-qr svg").bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    uri = page.inner_text("#totp-uri")
    secret = parse_qs(urlparse(uri).query)["secret"][0]
    bad = [
        (v["id"], v["impact"])
        for v in Axe().run(page).response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], bad
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("form[action='/ui/account/totp/confirm'] button")
    assert page.inner_text("#totp-state") == "enrolled"
    assert "Second factor enrolled" in page.inner_text(".notice")
    assert csp_errors == [], csp_errors
