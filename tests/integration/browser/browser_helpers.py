"""Helpers for the page tests (a uniquely named module: ``conftest`` names clash)."""

from __future__ import annotations

from typing import Any


def wait_until(page: Any, expression: str, timeout_s: float = 20.0) -> None:
    """Poll a JavaScript *expression* until it is truthy.

    Playwright's ``wait_for_function`` evaluates its predicate with ``eval`` inside the page,
    which the pages' Content-Security-Policy (no ``unsafe-eval``) rightly refuses; ``evaluate``
    runs through the DevTools protocol and is not subject to it.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while not page.evaluate(f"() => Boolean({expression})"):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)
