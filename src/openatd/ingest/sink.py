"""The port between the socket servers and the position pipeline."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from openatd.domain.messages import DeviceReport


class ReportSink(Protocol):
    """Where ingest servers hand decoded reports (implemented by the position pipeline).

    Reports must already carry ``received`` (server time, UTC) and the device's
    ``unique_id``.
    """

    async def is_known(self, unique_id: str) -> bool:
        """True when *unique_id* is a registered device; unknown devices' data is not stored."""
        ...

    async def submit(self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]) -> None:
        """Store *reports* durably and queue them for the rules, in order.

        Returns only once they are durably stored, so the caller may ACK the
        device afterwards. Raises ``openatd.errors.NotFound`` for an unknown
        device and ``openatd.errors.OpenATDError`` when storage failed (no ACK).
        """
        ...


@runtime_checkable
class QueueingSink(ReportSink, Protocol):
    """A sink that can also queue a submission without a coroutine of its own (the position
    pipeline): what the local bus server uses for its thousands of submissions a second."""

    def submit_nowait(
        self, unique_id: str, protocol: str, reports: Sequence[DeviceReport]
    ) -> asyncio.Future[None] | None:
        """Queue *reports* and return the future done once they are stored, or ``None``
        (nothing queued) when this cannot be done at once: then call ``submit``."""
        ...
