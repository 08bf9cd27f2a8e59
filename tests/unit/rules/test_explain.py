"""Plain-language pieces of alert explanations."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from openatd.rules.explain import local_span

ZAGREB = ZoneInfo("Europe/Zagreb")


def test_span_in_one_minute_gives_seconds() -> None:
    a = datetime(2026, 11, 29, 19, 40, 5, tzinfo=UTC)
    b = datetime(2026, 11, 29, 19, 40, 52, tzinfo=UTC)
    assert local_span(a, b, ZAGREB) == "between 20:40:05 and 20:40:52 CET on Sun 2026-11-29"


def test_span_over_minutes_and_single_instant() -> None:
    a = datetime(2026, 11, 29, 19, 40, 5, tzinfo=UTC)
    b = datetime(2026, 11, 29, 19, 44, 52, tzinfo=UTC)
    assert local_span(a, b, ZAGREB) == "between 20:40 and 20:44 CET on Sun 2026-11-29"
    assert local_span(a, a, ZAGREB).startswith("at ")
