"""Shared pieces of the access-security tests (a module name no other test folder uses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from openatd.api.container import Container
from openatd.domain.clock import SimulatedClock

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
PASSWORD = "correct horse battery"


@dataclass
class Served:
    """The API served on loopback, its container (database, clock) and a client."""

    client: httpx.Client
    container: Container
    clock: SimulatedClock

    def audit_count(self) -> int:
        with self.container.uow() as uow:
            head = uow.audit.head()
            return head[0] if head else 0

    def actions_since(self, count: int) -> list[tuple[str, str, dict[str, object] | None]]:
        """``(actor, action, details)`` of the entries after the first *count*, oldest first."""
        with self.container.uow() as uow:
            rows = list(reversed(uow.audit.list(limit=100_000)))
            return [(e.actor, e.action, e.details) for e in rows[count:]]
