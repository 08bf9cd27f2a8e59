"""A real API on a loopback port, a simulated server clock, staff and one participant with
a tracker, for the issue-8 safeguard tests (due process, purpose limitation, retention,
least surveillance, transparency)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from openatd.api.container import Container
from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import Alarm, DeviceReport
from openatd.ingest.pipeline import PositionPipeline
from openatd.safeguards.auth import Role, TokenClaims, issue_token

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
HOME = (41.8781, -87.6298)
PASSWORD = "correct horse battery"
STAFF = {
    "cm1": Role.CASE_MANAGER,
    "cm2": Role.CASE_MANAGER,
    "sup": Role.SUPERVISOR,
    "sup2": Role.SUPERVISOR,
    "audrey": Role.AUDITOR,
    "adam": Role.ADMIN,
}


@dataclass
class Stack:
    """The running API, its container and clock, staff ids and the participant's ids."""

    client: httpx.Client
    container: Container
    clock: SimulatedClock
    db_url: str
    users: dict[str, int] = field(default_factory=dict)
    pid: int = 0
    device_id: int = 0
    imei: str = "356938035643809"

    def h(self, name: str) -> dict[str, str]:
        """Bearer header of a staff member (a token valid for a year of simulated time)."""
        claims = TokenClaims(self.users[name], name, STAFF[name], T0 + timedelta(days=365))
        token = issue_token(claims, self.container.settings.secret_key)
        return {"Authorization": f"Bearer {token}"}

    def portal(self, pid: int | None = None) -> dict[str, str]:
        """Bearer header of the participant, through a one-time code and the sign-in route."""
        pid = pid or self.pid
        r = self.client.post(f"/api/participants/{pid}/app-code", headers=self.h("cm1"))
        assert r.status_code == 201, r.text
        r = self.client.post(
            "/api/portal/token", json={"participant_id": pid, "code": r.json()["code"]}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}

    def pipeline(self) -> PositionPipeline:
        return PositionPipeline(self.container.db, self.container.settings, self.clock)

    def fixes(self, start: datetime, count: int, step_s: int = 60, **kw: Any) -> list[DeviceReport]:
        """*count* fixes one *step_s* apart at home, received as they were taken."""
        out = []
        for i in range(count):
            t = start + timedelta(seconds=i * step_s)
            out.append(
                DeviceReport(
                    unique_id=self.imei,
                    fix_time=t,
                    received=t,
                    latitude=HOME[0] + i * 1e-5,
                    longitude=HOME[1],
                    accuracy_m=8.0,
                    battery_pct=kw.get("battery_pct", 80.0),
                    strap=kw.get("strap"),
                    alarms=frozenset(Alarm(a) for a in kw.get("alarms", ())),
                )
            )
        return out

    def add_alert(self, at: datetime, **kw: Any) -> int:
        """An alert as a rule raises it (open, not yet notified)."""
        with self.container.uow() as uow:
            a = uow.alerts.add(
                participant_id=kw.get("participant_id", self.pid),
                device_id=kw.get("device_id", self.device_id),
                type=kw.get("type", "zone_exit"),
                category=kw.get("category", "compliance"),
                at=at,
                raised_at=at,
                explanation=kw.get("explanation", "left the home zone during curfew"),
                details=None,
                status="open",
            )
            return a.id


__all__ = ["HOME", "PASSWORD", "STAFF", "T0", "Alarm", "Stack"]
