"""Server-rendered pages for staff (Jinja2): the alert inbox, participants, reasoned position reads.

The pages call the same services as the API, so the same caseload checks and
audit entries apply. The session is the API's bearer token in an HttpOnly,
SameSite=Strict cookie; every change is a POST form.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from openatd.accounts import authenticate
from openatd.accounts import logout as end_sessions
from openatd.alerts import service as alerts
from openatd.api.access import NO_PERSONAL_DATA, PERSONAL_WRITE, personal_read
from openatd.api.container import Container
from openatd.api.deps import PathId, client_address, get_container, read_staff_session
from openatd.api.errors import status_for
from openatd.errors import AuthenticationFailed, OpenATDError
from openatd.participants import service as participants
from openatd.participants import zones as zone_service
from openatd.safeguards.auth import TokenClaims

COOKIE = "openatd_session"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]


def _local(t: datetime | None, tz: str) -> str:
    if t is None:
        return ""
    return t.astimezone(ZoneInfo(tz)).strftime("%a %Y-%m-%d %H:%M %Z")


templates.env.filters["local"] = _local


class NeedLogin(Exception):
    """No valid session: the page redirects to the log-in form."""


def _user(request: Request, container: Container) -> TokenClaims:
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedLogin
    try:
        return read_staff_session(container, token)
    except AuthenticationFailed as exc:
        raise NeedLogin from exc


def _render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def _page(request: Request, container: Container, name: str, build: Any) -> Response:
    """Render *name* with the context *build(user, uow, now)* returns; errors become pages."""
    try:
        user = _user(request, container)
    except NeedLogin:
        return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
    now = container.clock.now()
    try:
        with container.uow() as uow:
            ctx = build(user, uow, now)
    except OpenATDError as exc:
        return _render(request, "error.html", status_for(exc), user=user, message=str(exc))
    return _render(request, name, user=user, notice=request.query_params.get("notice"), **ctx)


@router.get("/login", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    return _render(request, "login.html", next=next, error=None)


@router.post("/login", openapi_extra=NO_PERSONAL_DATA)
def login(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/ui/",
    totp_code: Annotated[str | None, Form()] = None,
) -> Response:
    s = container.settings
    try:
        token, _claims = authenticate(
            container.uow,
            username,
            password,
            container.clock.now(),
            secret=s.secret_key,
            ttl_s=s.token_ttl_s,
            throttle=container.login_throttle,
            client=client_address(request, s.trusted_proxies),
            totp_code=totp_code,
        )
    except AuthenticationFailed as exc:
        return _render(request, "login.html", status_for(exc), next=next, error=str(exc))
    target = next if next.startswith("/ui/") else "/ui/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, max_age=s.token_ttl_s, httponly=True, samesite="strict", path="/ui"
    )
    return response


@router.post("/logout", openapi_extra=NO_PERSONAL_DATA)
def logout(request: Request, container: ContainerDep) -> Response:
    """End every session of this user (all browsers and API tokens), then forget the cookie."""
    with contextlib.suppress(NeedLogin):
        user = _user(request, container)
        with container.uow() as uow:
            end_sessions(uow, user, container.clock.now())
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get(
    "/", response_class=HTMLResponse, openapi_extra=personal_read("alerts", "participant_list")
)
def inbox(request: Request, container: ContainerDep) -> Response:
    """Open and acknowledged alerts on the caseload, oldest condition first."""

    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        rows = [
            a for a in alerts.list_alerts(uow, user, now) if a.status in ("open", "acknowledged")
        ]
        names = {p.id: p for p in participants.list_participants(uow, user, now)}
        return {"alerts": sorted(rows, key=lambda a: a.at), "people": names}

    return _page(request, container, "inbox.html", build)


@router.post("/alerts/{alert_id}/acknowledge", openapi_extra=PERSONAL_WRITE)
def acknowledge(alert_id: PathId, request: Request, container: ContainerDep) -> Response:
    return _act(
        request,
        container,
        lambda u, uow, now: alerts.acknowledge(uow, u, now, alert_id),
        "Alert acknowledged.",
    )


@router.post("/alerts/{alert_id}/resolve", openapi_extra=PERSONAL_WRITE)
def resolve(
    alert_id: PathId,
    request: Request,
    container: ContainerDep,
    resolution: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    return _act(
        request,
        container,
        lambda u, uow, now: alerts.resolve(
            uow, u, now, alert_id, resolution=resolution, reason=reason
        ),
        "Alert resolved; the decision and its reason are in the audit log.",
    )


def _act(request: Request, container: Container, action: Any, notice: str) -> Response:
    try:
        user = _user(request, container)
    except NeedLogin:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        with container.uow() as uow:
            action(user, uow, container.clock.now())
    except OpenATDError as exc:
        return _render(request, "error.html", status_for(exc), user=user, message=str(exc))
    back = request.headers.get("referer", "/ui/")
    back = back.split("?")[0]
    return RedirectResponse(f"{back}?notice={quote(notice)}", status_code=303)


@router.get(
    "/participants", response_class=HTMLResponse, openapi_extra=personal_read("participant_list")
)
def participant_list(request: Request, container: ContainerDep) -> Response:
    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        return {"participants": participants.list_participants(uow, user, now)}

    return _page(request, container, "participants.html", build)


@router.get(
    "/participants/{participant_id}",
    response_class=HTMLResponse,
    openapi_extra=personal_read("participant", "zones", "alerts"),
)
def participant_page(participant_id: PathId, request: Request, container: ContainerDep) -> Response:
    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        p = participants.get_participant(uow, user, now, participant_id)
        return {
            "p": p,
            "zones": zone_service.list_zones(uow, user, now, participant_id),
            "alerts": alerts.list_alerts(uow, user, now, participant_id=participant_id),
            "default_start": (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            "default_end": now.strftime("%Y-%m-%dT%H:%M"),
        }

    return _page(request, container, "participant.html", build)


@router.get(
    "/participants/{participant_id}/positions",
    response_class=HTMLResponse,
    openapi_extra=personal_read("positions"),
)
def positions_page(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    start: str = "",
    end: str = "",
    reason: str = "",
) -> Response:
    """Positions for a stated reason; times are entered in UTC."""

    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        from openatd.errors import InvalidInput

        try:
            t0, t1 = (datetime.fromisoformat(x) for x in (start, end))
        except ValueError as exc:
            raise InvalidInput("give start and end as date and time (UTC)") from exc
        # The form's fields carry no offset and are UTC; a typed offset is honoured.
        t0, t1 = (x if x.tzinfo else x.replace(tzinfo=UTC) for x in (t0, t1))
        got = participants.read_positions(
            uow, user, now, participant_id, start=t0, end=t1, reason=reason
        )
        p = uow.participants.get(participant_id)
        return {"p": p, "positions": got.positions, "reason": reason, "entry": got.audit_entry_id}

    return _page(request, container, "positions.html", build)
