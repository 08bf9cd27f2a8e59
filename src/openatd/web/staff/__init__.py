"""Staff pages (``/ui/``): alert queue, caseload, participant pages, check-in reviews, audit log,
the staff member's own account.

Each module is one area and calls the same services as the API; ``common`` holds the
session, rendering and the action helper. The participant app (``/me/``) lives elsewhere.
"""

from __future__ import annotations

from fastapi import APIRouter

from openatd.web.staff import account, alerts, audit, checkins, face, participants, session

router = APIRouter(prefix="/ui", include_in_schema=False)
for _module in (session, alerts, participants, checkins, audit, face, account):
    router.include_router(_module.router)
