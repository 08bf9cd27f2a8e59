"""What every staff page shares: templates, the session cookie, rendering and actions.

A page is ``page(request, container, "x.html", build)`` where *build(user, uow, now)*
calls the same services as the API (same caseload checks, same audit entries) and
returns the template's context; an action is ``act(...)`` and goes back to a same-site
path given by the form, never the Referer. CSRF and headers: ``web/security.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from openatd.api.container import Container
from openatd.api.deps import get_container, read_staff_session
from openatd.api.errors import status_for
from openatd.errors import AuthenticationFailed, OpenATDError
from openatd.safeguards.auth import Role, TokenClaims
from openatd.storage.repositories import UnitOfWork
from openatd.web.security import install_templates, safe_path

COOKIE = "openatd_session"
"""The staff session: the API's bearer token in an HttpOnly, SameSite=Strict cookie."""
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))
install_templates(templates.env)
ContainerDep = Annotated[Container, Depends(get_container)]
Build = Callable[[TokenClaims, UnitOfWork, datetime], dict[str, Any]]
Action = Callable[[TokenClaims, UnitOfWork, datetime], Any]


def local(t: datetime | None, tz: str, seconds: bool = False) -> str:
    """*t* in the zone *tz*, e.g. ``Sat 2026-12-05 08:15 CET`` (with ``:SS`` if *seconds*)."""
    if t is None:
        return ""
    fmt = "%a %Y-%m-%d %H:%M:%S %Z" if seconds else "%a %Y-%m-%d %H:%M %Z"
    return t.astimezone(ZoneInfo(tz)).strftime(fmt)


def field_value(t: datetime, tz: str) -> str:
    """*t* as a ``datetime-local`` field value in the zone *tz*, to the second."""
    return t.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%dT%H:%M:%S")


def ago(t: datetime | None, now: datetime) -> str:
    """How long before *now* *t* was, in words (``3 min ago``, ``2 h ago``, ``5 d ago``)."""
    if t is None:
        return "never"
    s = max(0, int((now - t).total_seconds()))
    if s < 90:
        return f"{s} s ago"
    if s < 5400:
        return f"{s // 60} min ago"
    if s < 2 * 86400:
        return f"{s // 3600} h ago"
    return f"{s // 86400} d ago"


def script_json(value: Any) -> str:
    """*value* as JSON safe inside ``<script type="application/json">`` (no ``</script>``)."""
    import json

    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


templates.env.filters["local"] = local
templates.env.filters["ago"] = ago


class NeedLogin(Exception):
    """No valid session: the page redirects to the log-in form."""


def current_user(request: Request, container: Container) -> TokenClaims:
    """The signed-in staff member. Raises :class:`NeedLogin` without a valid session."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedLogin
    try:
        return read_staff_session(container, token)  # revoked sessions end here too
    except AuthenticationFailed as exc:
        raise NeedLogin from exc


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    """The template *name* with *ctx* (plus ``request``)."""
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def home_for(user: TokenClaims) -> str:
    """Where a role starts: the audit log for auditors, the alert queue for the others."""
    return "/ui/audit" if user.role is Role.AUDITOR else "/ui/"


def page(request: Request, container: Container, name: str, build: Build) -> Response:
    """Render *name* with the context *build(user, uow, now)* returns; errors become pages."""
    try:
        user = current_user(request, container)
    except NeedLogin:
        return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", status_code=303)
    now = container.clock.now()
    try:
        with container.uow() as uow:
            ctx = build(user, uow, now)
    except OpenATDError as exc:
        return render(request, "error.html", status_for(exc), user=user, message=str(exc))
    ctx.setdefault("now", now)
    return render(request, name, user=user, notice=request.query_params.get("notice"), **ctx)


def act(
    request: Request,
    container: Container,
    action: Action,
    notice: str | Callable[[Any], str],
    back: str = "/ui/",
    changed: Callable[[Any], int | None] | None = None,
) -> Response:
    """Run *action(user, uow, now)* in one transaction, then go to *back* (a path on this
    site; ``{result}`` in it is replaced by the action's result) with *notice*, or show an
    error page saying why nothing was changed.

    *changed(result)* names the participant whose zones, devices or policy the action
    changed: after the commit the position rules rebuild theirs (as the API routes do).
    """
    try:
        user = current_user(request, container)
    except NeedLogin:
        return RedirectResponse("/ui/login", status_code=303)
    try:
        with container.uow() as uow:
            result = action(user, uow, container.clock.now())
    except OpenATDError as exc:
        return render(request, "error.html", status_for(exc), user=user, message=str(exc))
    if changed is not None:
        container.pipeline_changed(changed(result))
    text = notice(result) if callable(notice) else notice
    target = safe_path(back.replace("{result}", str(result)), "/ui/")
    target = target.split("?")[0].split("#")[0]
    return RedirectResponse(f"{target}?notice={quote(text)}", status_code=303)
