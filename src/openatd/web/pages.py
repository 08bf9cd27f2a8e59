"""Server-rendered pages for staff (Jinja2): the alert inbox, participants, reasoned position reads.

The pages call the same services as the API, so the same caseload checks and
audit entries apply. The session is the API's bearer token in an HttpOnly,
SameSite=Strict cookie; every change is a POST form.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from openatd.accounts import authenticate
from openatd.alerts import service as alerts
from openatd.api.container import Container
from openatd.api.deps import PathId, get_container
from openatd.api.errors import status_for
from openatd.errors import AuthenticationFailed, OpenATDError
from openatd.participants import service as participants
from openatd.participants import zones as zone_service
from openatd.safeguards.auth import TokenClaims, read_token
from openatd.web.security import install_templates, safe_path

COOKIE = "openatd_session"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(prefix="/ui", include_in_schema=False)
ContainerDep = Annotated[Container, Depends(get_container)]


def _local(t: datetime | None, tz: str, seconds: bool = False) -> str:
    """*t* in the zone *tz*, e.g. ``Sat 2026-12-05 08:15 CET`` (with ``:SS`` if *seconds*)."""
    if t is None:
        return ""
    fmt = "%a %Y-%m-%d %H:%M:%S %Z" if seconds else "%a %Y-%m-%d %H:%M %Z"
    return t.astimezone(ZoneInfo(tz)).strftime(fmt)


def _field(t: datetime, tz: str) -> str:
    """*t* as a ``datetime-local`` field value in the zone *tz*, to the second."""
    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S")


templates.env.filters["local"] = _local
install_templates(templates.env)


class NeedLogin(Exception):
    """No valid session: the page redirects to the log-in form."""


def _user(request: Request, container: Container) -> TokenClaims:
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedLogin
    try:
        return read_token(token, container.settings.secret_key, container.clock.now())
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


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/ui/") -> HTMLResponse:
    return _render(request, "login.html", next=next, error=None)


@router.post("/login")
def login(
    request: Request,
    container: ContainerDep,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/ui/",
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
        )
    except AuthenticationFailed as exc:
        return _render(request, "login.html", 401, next=next, error=str(exc))
    target = safe_path(next) if next.startswith("/ui/") else "/ui/"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE, token, max_age=s.token_ttl_s, httponly=True, samesite="strict", path="/ui"
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


@router.get("/", response_class=HTMLResponse)
def inbox(request: Request, container: ContainerDep) -> Response:
    """Open and acknowledged alerts on the caseload, oldest condition first."""

    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        rows = [
            a for a in alerts.list_alerts(uow, user, now) if a.status in ("open", "acknowledged")
        ]
        names = {p.id: p for p in participants.list_participants(uow, user, now)}
        return {"alerts": sorted(rows, key=lambda a: a.at), "people": names}

    return _page(request, container, "inbox.html", build)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    alert_id: PathId,
    request: Request,
    container: ContainerDep,
    back: Annotated[str, Form()] = "/ui/",
) -> Response:
    return _act(
        request,
        container,
        lambda u, uow, now: alerts.acknowledge(uow, u, now, alert_id),
        "Alert acknowledged.",
        back,
    )


@router.post("/alerts/{alert_id}/resolve")
def resolve(
    alert_id: PathId,
    request: Request,
    container: ContainerDep,
    resolution: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "/ui/",
) -> Response:
    return _act(
        request,
        container,
        lambda u, uow, now: alerts.resolve(
            uow, u, now, alert_id, resolution=resolution, reason=reason
        ),
        "Alert resolved; the decision and its reason are in the audit log.",
        back,
    )


def _act(
    request: Request, container: Container, action: Any, notice: str, back: str = "/ui/"
) -> Response:
    """Run *action(user, uow, now)*; then back to *back* (a path on this site, never the
    Referer) with *notice*, or an error page."""
    try:
        user = _user(request, container)
    except NeedLogin:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        with container.uow() as uow:
            action(user, uow, container.clock.now())
    except OpenATDError as exc:
        return _render(request, "error.html", status_for(exc), user=user, message=str(exc))
    back = safe_path(back).split("?")[0]
    return RedirectResponse(f"{back}?notice={quote(notice)}", status_code=303)


@router.get("/participants", response_class=HTMLResponse)
def participant_list(request: Request, container: ContainerDep) -> Response:
    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        return {"participants": participants.list_participants(uow, user, now)}

    return _page(request, container, "participants.html", build)


@router.get("/participants/{participant_id}", response_class=HTMLResponse)
def participant_page(participant_id: PathId, request: Request, container: ContainerDep) -> Response:
    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        p = participants.get_participant(uow, user, now, participant_id)
        return {
            "p": p,
            "zones": zone_service.list_zones(uow, user, now, participant_id),
            "alerts": alerts.list_alerts(uow, user, now, participant_id=participant_id),
            "default_start": _field(now - timedelta(days=1), p.timezone),
        }

    return _page(request, container, "participant.html", build)


@router.get("/participants/{participant_id}/positions", response_class=HTMLResponse)
def positions_page(
    participant_id: PathId,
    request: Request,
    container: ContainerDep,
    start: str = "",
    end: str = "",
    reason: str = "",
) -> Response:
    """Positions for a stated reason.

    *start* and *end* are the participant's local time (their IANA zone, as the form
    says), to the second; a typed UTC offset is honoured; an empty *end* is now, so the
    newest fix is always included.
    """

    def build(user: TokenClaims, uow: Any, now: datetime) -> dict[str, Any]:
        from openatd.errors import InvalidInput

        p = participants.get_participant(uow, user, now, participant_id)
        zone = ZoneInfo(p.timezone)
        try:
            t0 = datetime.fromisoformat(start)
            t1 = datetime.fromisoformat(end) if end.strip() else now
        except ValueError as exc:
            raise InvalidInput(
                f"give start and end as date and time ({p.timezone} local time)"
            ) from exc
        t0, t1 = (x if x.tzinfo else x.replace(tzinfo=zone) for x in (t0, t1))
        got = participants.read_positions(
            uow, user, now, participant_id, start=t0, end=t1, reason=reason
        )
        return {
            "p": p,
            "positions": got.positions,
            "reason": reason,
            "entry": got.audit_entry_id,
            "start": t0,
            "end": t1,
        }

    return _page(request, container, "positions.html", build)
