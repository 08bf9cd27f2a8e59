"""Connectivity rules: ``device_offline`` and ``no_gps_fix``. Both are technical alerts.

- ``device_offline``: no message received for ``policy.offline_after_s``. It fires when that much
  time has passed since the last message's arrival (a silence of exactly ``offline_after_s``
  fires), once per silence, dated by that last arrival. It needs the clock:
  :meth:`ConnectivityProcessor.due` at (or after) :meth:`ConnectivityProcessor.next_deadline`.
- ``no_gps_fix``: since the first message without a valid position (a heartbeat, a fix the
  filter dropped, a re-sent fix), messages keep arriving and none is a valid position for
  ``offline_after_s``; dated by that first message's arrival. It fires on the arrival of a
  message at least ``offline_after_s`` after that first one (the evidence that messages kept
  arriving). A device that falls silent raises ``device_offline`` instead: a silence of
  ``offline_after_s`` ends the fix-less period.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from openatd.rules.alerts import AlertType, RaisedAlert
from openatd.rules.explain import duration, local_stamp
from openatd.rules.policy import Policy


class ConnectivityProcessor:
    """Offline and no-fix state of one device (arrival times, UTC)."""

    def __init__(
        self, policy: Policy, tz: ZoneInfo, *, last_received: datetime | None = None
    ) -> None:
        self.policy = policy
        self.tz = tz
        self.last_received = last_received
        self.offline_alerted = False
        self.no_fix_since: datetime | None = None
        self.no_fix_alerted = False

    @property
    def _limit(self) -> timedelta:
        return timedelta(seconds=self.policy.offline_after_s)

    def next_deadline(self) -> datetime | None:
        """The instant ``device_offline`` fires if nothing arrives before it, else ``None``."""
        if self.last_received is None or self.offline_alerted:
            return None
        return self.last_received + self._limit

    def due(self, now: datetime) -> list[RaisedAlert]:
        """Alerts that the passing of time up to *now* (UTC) raises."""
        deadline = self.next_deadline()
        if deadline is None or now < deadline:
            return []
        assert self.last_received is not None
        self.offline_alerted = True
        self.no_fix_since = None
        self.no_fix_alerted = False
        return [
            RaisedAlert(
                type=AlertType.DEVICE_OFFLINE,
                zone=None,
                at=self.last_received,
                explanation=(
                    f"No message arrived from the device for "
                    f"{duration(self.policy.offline_after_s)} after "
                    f"{local_stamp(self.last_received, self.tz)}; this may be a technical problem "
                    "such as a flat battery or no mobile network."
                ),
                details={
                    "last_received": self.last_received.isoformat().replace("+00:00", "Z"),
                    "offline_after_s": self.policy.offline_after_s,
                },
            )
        ]

    def on_message(self, received: datetime, has_valid_position: bool) -> list[RaisedAlert]:
        """Feed one message's arrival (after :meth:`due` up to it); returns a no-fix alert."""
        alerts: list[RaisedAlert] = []
        if self.last_received is None or received >= self.last_received:
            self.last_received = received
            self.offline_alerted = False
        since = self.no_fix_since
        if since is not None and not self.no_fix_alerted and received - since >= self._limit:
            self.no_fix_alerted = True
            alerts.append(
                RaisedAlert(
                    type=AlertType.NO_GPS_FIX,
                    zone=None,
                    at=since,
                    explanation=(
                        f"From {local_stamp(since, self.tz)} the device kept sending messages "
                        f"but none had a usable GPS position for "
                        f"{duration(self.policy.offline_after_s)} or more; this is usually a "
                        "technical problem, for example being indoors with no view of the sky."
                    ),
                    details={
                        "first_message_without_fix": since.isoformat().replace("+00:00", "Z"),
                        "offline_after_s": self.policy.offline_after_s,
                    },
                )
            )
        if has_valid_position:
            self.no_fix_since = None
            self.no_fix_alerted = False
        elif self.no_fix_since is None:
            self.no_fix_since = received
        return alerts
