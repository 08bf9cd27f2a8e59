"""The auditor's page: the audit log with filters, the hash chain's verification and the log
checked against the signed checkpoints (``OPENATD_AUDIT_CHECKPOINT_DIR``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from openatd.api.access import personal_read
from openatd.errors import InvalidInput
from openatd.safeguards import audit_reading
from openatd.safeguards.auth import TokenClaims
from openatd.storage.repositories import UnitOfWork
from openatd.web.staff.common import ContainerDep, page

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse, openapi_extra=personal_read("audit_entries"))
def audit_log(
    request: Request,
    container: ContainerDep,
    participant: str = "",
    staff: str = "",
    action: str = "",
    since: str = "",
    until: str = "",
) -> Response:
    """Entries newest first (500 at most) filtered by participant id, staff user name,
    action (``positions*`` for a prefix) and UTC dates (*until* inclusive); the chain's
    verification status and the signed checkpoints' status (when configured) above them."""

    def build(user: TokenClaims, uow: UnitOfWork, now: datetime) -> dict[str, Any]:
        try:
            pid = int(participant) if participant.strip() else None
            t0 = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else None
            t1 = (
                datetime.fromisoformat(until).replace(tzinfo=UTC) + timedelta(days=1)
                if until
                else None
            )
        except ValueError as exc:
            raise InvalidInput("participant is a number; dates are YYYY-MM-DD (UTC)") from exc
        chain = audit_reading.chain_state(uow, user)
        signed = audit_reading.checkpoint_state(
            uow, user, container.settings.audit_signing_key, container.settings.audit_checkpoint_dir
        )
        rows = audit_reading.read_log(
            uow, user, now, participant_id=pid, actor=staff.strip() or None,
            action=action.strip() or None, since=t0, until=t1,
        )  # fmt: skip
        return {
            "rows": rows,
            "chain": chain,
            "signed": signed,
            "f": {"participant": participant, "staff": staff, "action": action,
                  "since": since, "until": until},
        }  # fmt: skip

    return page(request, container, "audit.html", build)
