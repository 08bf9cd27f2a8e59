"""/docs in a real browser: Swagger UI renders the API from this server alone.

Every request the page makes goes to the server's own origin, and the page's
Content-Security-Policy (scripts and styles from 'self' only) blocks nothing it needs.
"""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.slow  # a browser or a live server per test; -m 'not slow' skips


def test_docs_load_nothing_from_another_host(live_server: Any, browser: Any) -> None:
    page = browser.new_page()
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" else None,
    )
    page.goto(f"{live_server.api}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=60_000)
    assert "OpenATD" in page.inner_text(".swagger-ui .info .title")
    page.wait_for_selector(".opblock-summary-path", timeout=60_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.startswith("/api/participants") for p in paths), paths
    assert requests, "the page made requests"
    off_host = [u for u in requests if not u.startswith(live_server.api + "/")]
    assert off_host == [], off_host
    assert f"{live_server.api}/static/vendor/swagger-ui/swagger-ui-bundle.js" in requests
    assert f"{live_server.api}/openapi.json" in requests
    csp = [p for p in problems if "Content Security Policy" in p]
    assert csp == [], csp
    page.close()
