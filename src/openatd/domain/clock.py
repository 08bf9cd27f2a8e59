"""Clocks: "now" is injected wherever it matters, so rules run at any instant."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current instant (timezone-aware UTC)."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class SimulatedClock:
    """A clock that only moves when told to (scenarios, tests).

    >>> c = SimulatedClock(datetime(2026, 3, 8, tzinfo=UTC))
    >>> c.advance(timedelta(seconds=90)).isoformat()
    '2026-03-08T00:01:30+00:00'
    """

    current: datetime = field(default_factory=lambda: datetime(1970, 1, 1, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def set(self, instant: datetime) -> datetime:
        """Move to *instant* (must be timezone-aware); returns it."""
        if instant.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware datetime")
        self.current = instant.astimezone(UTC)
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by *delta*; returns the new instant."""
        self.current = self.current + delta
        return self.current
