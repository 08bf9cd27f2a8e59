"""The participant's pages (``/me/``): sign in with the program's code, home with the coming
check-in windows, check in with the camera and the location of that moment, my alerts, report a
problem, my data. Server-rendered (Jinja2, gettext: English and Spanish), a little plain
JavaScript for the camera, the location and the upload queue; installable (web app manifest, a
service worker that caches only the app shell, never personal data).

Every read and change goes through the same services as the participant API
(:mod:`openatd.participants.portal`, :mod:`openatd.checkins.service`), so the same checks and
audit entries apply; every form and the upload script send the CSRF token of
:mod:`openatd.web.security`. The session is the participant API's token in an HttpOnly, SameSite=Lax
cookie on path ``/me`` (lifetime ``OPENATD_PARTICIPANT_SESSION_TTL_S``, renewed while in use,
revoked at once when the case manager issues a new sign-in code).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from openatd.api.access import NO_PERSONAL_DATA, PERSONAL_WRITE, personal_read
from openatd.api.container import Container
from openatd.api.deps import MAX_ID, ClientDep, PathId, get_container
from openatd.api.errors import status_for
from openatd.api.routes.checkins import (
    MAX_PHOTO_BYTES,
    MULTIPART_OVERHEAD,
    LimitedBodyRoute,
    body_limit,
)
from openatd.api.routes.portal import submit
from openatd.checkins import service
from openatd.errors import AuthenticationFailed, InvalidInput, OpenATDError, TooManyAttempts
from openatd.participants import app_home, portal
from openatd.safeguards.auth import ParticipantClaims, read_participant_token
from openatd.web.participant.i18n import (
    LANGUAGES,
    N_,
    local_datetime,
    local_time,
    negotiate,
    translations,
)
from openatd.web.participant.messages import (
    ACTIONS,
    ALERT_TYPES,
    CATEGORIES,
    NEWS,
    NOTICES,
    OBLIGATION_KINDS,
    PROBLEM_KINDS,
    STATUSES,
    refusal_message,
    result_message,
    translate,
)
from openatd.web.security import install_templates, safe_path

log = logging.getLogger(__name__)

COOKIE = "openatd_me"
LANG_COOKIE = "openatd_lang"
LANG_COOKIE_MAX_AGE = 400 * 24 * 3600
"""A chosen language is remembered for 400 days (the most browsers keep a cookie)."""
BASE = Path(__file__).parent
STATIC = BASE / "static"
STATIC_TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}

router = APIRouter(prefix="/me", include_in_schema=False, route_class=LimitedBodyRoute)
ContainerDep = Annotated[Container, Depends(get_container)]


# -- templates and language -------------------------------------------------------------------


@lru_cache(maxsize=len(LANGUAGES))
def environment(language: str) -> Environment:
    """The Jinja2 environment of *language*: templates with that language's gettext."""
    env = Environment(
        loader=FileSystemLoader(BASE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    install_templates(env)  # csrf_input(), csrf_token() (web/security.py)
    env.globals["languages"] = LANGUAGES
    return env


def language_of(request: Request) -> str:
    """The participant's chosen language (cookie), else Accept-Language, else English."""
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def render(
    request: Request, name: str, status: int = 200, *, me: Me | None = None, **ctx: Any
) -> HTMLResponse:
    """Render template *name* in the request's language."""
    lang = language_of(request)
    container: Container = request.app.state.container
    tz = me.timezone if me else "UTC"
    page = environment(lang).get_template(name)
    html = page.render(
        request=request,
        lang=lang,
        me=me,
        phone=container.settings.program_phone,
        when=lambda instant: local_datetime(instant, tz, lang),
        clock=lambda instant: local_time(instant, tz, lang),
        notice=_notice(lang, request.query_params.get("notice")),
        **ctx,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _notice(language: str, key: str | None) -> str | None:
    return translate(language, NOTICES[key]) if key in NOTICES else None


# -- session ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Me:
    """The signed-in participant as the pages need them."""

    claims: ParticipantClaims
    participant_id: int
    name: str
    timezone: str
    renewed: str | None
    """A fresh token to store when the current one is past half its life, else ``None``."""


class NeedSignIn(Exception):
    """No valid participant session: the page sends them to the sign-in form."""


def _me(request: Request, container: Container) -> Me:
    token = request.cookies.get(COOKIE)
    if not token:
        raise NeedSignIn
    now = container.clock.now()
    s = container.settings
    try:
        claims = read_participant_token(token, s.secret_key, now)
        with container.uow() as uow:
            p = portal.current_participant(uow, claims)
            renewed = None
            if claims.expires - now < timedelta(seconds=s.participant_session_ttl_s / 2):
                renewed, claims = portal.refresh(
                    uow, claims, now, secret=s.secret_key, ttl_s=s.participant_session_ttl_s
                )
    except AuthenticationFailed as exc:
        raise NeedSignIn from exc
    return Me(claims, p.id, p.name, p.timezone, renewed)


def _keep(response: Response, me: Me, container: Container) -> Response:
    if me.renewed:
        _set_session(response, me.renewed, container)
    return response


def _set_session(response: Response, token: str, container: Container) -> None:
    s = container.settings
    response.set_cookie(
        COOKIE,
        token,
        max_age=s.participant_session_ttl_s,
        httponly=True,
        samesite="lax",  # Secure is added by web/security.py (OPENATD_COOKIE_SECURE)
        path="/me",
    )


def _to_sign_in() -> RedirectResponse:
    return RedirectResponse("/me/signin", status_code=303)


def _page(
    request: Request,
    container: Container,
    name: str,
    build: Callable[[Me, Any, datetime], dict[str, Any]],
) -> Response:
    """Render *name* with what *build(me, uow, now)* returns; a refusal becomes a page."""
    try:
        me = _me(request, container)
    except NeedSignIn:
        return _to_sign_in()
    now = container.clock.now()
    try:
        with container.uow() as uow:
            ctx = build(me, uow, now)
    except OpenATDError as exc:
        return render(request, "error.html", status_for(exc), me=me, message=str(exc))
    return _keep(render(request, name, me=me, now=now, **ctx), me, container)


def _act(
    request: Request,
    container: Container,
    action: Callable[[Me, Any, datetime], object],
    target: str,
    *,
    again: Callable[[Me, str], Response] | None = None,
) -> Response:
    """Run *action(me, uow, now)* and redirect to *target*; refused input re-renders with
    *again(me, message)* when given."""
    try:
        me = _me(request, container)
    except NeedSignIn:
        return _to_sign_in()
    try:
        with container.uow() as uow:
            action(me, uow, container.clock.now())
    except OpenATDError as exc:
        if again is not None and isinstance(exc, InvalidInput):
            return again(me, str(exc))
        return render(request, "error.html", status_for(exc), me=me, message=str(exc))
    return _keep(RedirectResponse(target, status_code=303), me, container)


# -- sign-in, language ---------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def sign_in_form(request: Request) -> HTMLResponse:
    return render(request, "signin.html", error=None, participant_id="")


@router.post("/signin", openapi_extra=PERSONAL_WRITE)
def sign_in(
    request: Request,
    container: ContainerDep,
    client: ClientDep,
    participant_id: Annotated[str, Form(max_length=20)] = "",
    code: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Exchange the program's one-time code (and the participant number) for a session."""
    lang = language_of(request)
    s = container.settings
    number = participant_id.strip()
    error = None
    if not number.isdigit() or not 1 <= int(number) <= MAX_ID or not code.strip():
        error = translate(lang, N_("Enter your participant number and the code you were given."))
    else:
        try:
            token, _claims = portal.sign_in(
                container.uow,
                int(number),
                code,
                container.clock.now(),
                secret=s.secret_key,
                ttl_s=s.participant_session_ttl_s,
                throttle=container.portal_throttle,
                client=client,
            )
        except TooManyAttempts as exc:
            error = translate(
                lang,
                N_("Too many tries. Please wait %(seconds)s seconds and try again."),
                seconds=exc.retry_after_s,
            )
        except AuthenticationFailed:
            error = translate(
                lang,
                N_(
                    "That number and code do not match, or the code has expired. Codes work "
                    "once. Ask your case manager for a new code."
                ),
            )
    if error is not None:
        return render(request, "signin.html", 401, error=error, participant_id=number[:20])
    response = RedirectResponse("/me/", status_code=303)
    _set_session(response, token, container)
    return response


@router.post("/signout", openapi_extra=NO_PERSONAL_DATA)
def sign_out() -> Response:
    response = RedirectResponse("/me/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/me")
    return response


@router.post("/language", openapi_extra=NO_PERSONAL_DATA)
def choose_language(
    request: Request,
    lang: Annotated[str, Form(max_length=10)],
    back: Annotated[str, Form(max_length=200)] = "/me/",
) -> Response:
    """Remember the participant's language on this phone."""
    if lang not in LANGUAGES:
        raise InvalidInput(f"language must be one of {', '.join(LANGUAGES)}")
    target = safe_path(back, "/me/").split("?")[0]
    if not target.startswith("/me/"):
        target = "/me/"
    response = RedirectResponse(target + "?notice=language", status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_MAX_AGE, samesite="lax", path="/me")
    return response


# -- home ----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse, openapi_extra=personal_read("obligations"))
def home(request: Request, container: ContainerDep) -> Response:
    """The open check-in window, the coming windows (local time) and the way to add them to the
    phone's calendar."""

    def build(me: Me, uow: Any, now: datetime) -> dict[str, Any]:
        got = portal.obligations(uow, me.claims, now)
        current = portal.open_window(uow, me.claims, now)
        coming = [v for v in got.windows if v.window.start > now][:10]
        return {
            "current": current,
            "coming": coming,
            "schedules": got.schedules,
            "timezone": got.participant.timezone,
            "quiet_until": app_home.quiet_until(got.participant, now),
            "obligations": app_home.my_obligations(uow, me.claims, now),
            "kinds": OBLIGATION_KINDS,
            "news": NEWS,
        }

    return _page(request, container, "home.html", build)


@router.post("/obligations/{obligation_id}/seen", openapi_extra=PERSONAL_WRITE)
def obligation_seen(obligation_id: PathId, request: Request, container: ContainerDep) -> Response:
    """The participant acknowledges a new, changed or cancelled hearing or appointment."""
    return _act(
        request,
        container,
        lambda me, uow, now: app_home.acknowledge_obligation(uow, me.claims, now, obligation_id),
        "/me/?notice=seen",
    )


@router.get("/calendar.ics", openapi_extra=personal_read("calendar"))
def calendar(request: Request, container: ContainerDep) -> Response:
    """The coming 14 days of windows as an iCalendar file to import (same as the API's)."""
    try:
        me = _me(request, container)
    except NeedSignIn:
        return _to_sign_in()
    with container.uow() as uow:
        data = portal.calendar(uow, me.claims, container.clock.now())
    return Response(
        data,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="obligations.ics"',
            "Cache-Control": "no-store",
        },
    )


# -- check in ------------------------------------------------------------------------------------


@router.get("/checkin", response_class=HTMLResponse, openapi_extra=personal_read("checkin_window"))
def checkin_page(request: Request, container: ContainerDep) -> Response:
    """The camera, the reason for the location, the result, and the receipts on this phone."""

    def build(me: Me, uow: Any, now: datetime) -> dict[str, Any]:
        return {"current": portal.open_window(uow, me.claims, now)}

    return _page(request, container, "checkin.html", build)


def _json(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _form_time(value: str, what: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{what} must be an ISO 8601 time with offset") from exc


@router.post("/checkin", openapi_extra=PERSONAL_WRITE)
@body_limit(MAX_PHOTO_BYTES + MULTIPART_OVERHEAD)
def check_in(
    request: Request,
    container: ContainerDep,
    selfie: Annotated[bytes, File()],
    latitude: Annotated[float, Form()],
    longitude: Annotated[float, Form()],
    accuracy_m: Annotated[float, Form()],
    device_time: Annotated[str, Form(max_length=40)] = "",
    attempted_at: Annotated[str, Form(max_length=40)] = "",
    schedule_id: Annotated[int | None, Form(ge=1, le=MAX_ID)] = None,
) -> JSONResponse:
    """One attempt from the check-in page's script; JSON for the script, which keeps the
    attempt on the phone and retries when ``retry`` is true (our failure, or signed out)."""
    lang = language_of(request)
    try:
        me = _me(request, container)
    except NeedSignIn:
        return _json(
            401,
            ok=False,
            retry=True,
            message=translate(
                lang, N_("You are signed out. Sign in again; your check-in is kept and sent.")
            ),
        )
    if len(selfie) > MAX_PHOTO_BYTES:
        return _json(413, ok=False, retry=False, message="the photo is larger than 8 MB")
    try:
        receipt = submit(
            container,
            me.participant_id,
            selfie,
            service.Location(latitude, longitude, accuracy_m),
            device_time=_form_time(device_time, "device_time"),
            schedule_id=schedule_id,
            attempted_at=_form_time(attempted_at, "attempted_at"),
        )
    except OpenATDError as exc:
        status = status_for(exc)
        return _json(
            status,
            ok=False,
            retry=status >= 500,
            message=refusal_message(lang, str(exc)),
        )
    except Exception:
        return _json(
            500,
            ok=False,
            retry=True,
            message=translate(lang, N_("The server had a problem. Your check-in is kept.")),
        )
    row = receipt.checkin
    response = _json(
        201,
        ok=True,
        retry=False,
        checkin_id=row.id,
        outcome=row.outcome,
        late=bool((row.quality_report or {}).get("late_upload")),
        attempt=row.attempt,
        attempts_left=receipt.attempts_left,
        server_time=row.server_time.isoformat(),
        message=result_message(lang, receipt, me.timezone),
    )
    return _keep(response, me, container)  # type: ignore[return-value]


# -- alerts ----------------------------------------------------------------------------------------


@router.get("/alerts", response_class=HTMLResponse, openapi_extra=personal_read("alerts"))
def alerts_page(request: Request, container: ContainerDep) -> Response:
    """Each alert about the participant with its explanation, status and their response."""

    def build(me: Me, uow: Any, now: datetime) -> dict[str, Any]:
        return {
            "alerts": portal.my_alerts(uow, me.claims, now),
            "types": ALERT_TYPES,
            "statuses": STATUSES,
            "categories": CATEGORIES,
            "errors": {},
        }

    return _page(request, container, "alerts.html", build)


@router.post("/alerts/{alert_id}/respond", openapi_extra=PERSONAL_WRITE)
def respond(
    alert_id: PathId,
    request: Request,
    container: ContainerDep,
    text: Annotated[str, Form(max_length=portal.MAX_RESPONSE_CHARS)] = "",
) -> Response:
    """Store the participant's response to one of their alerts."""
    return _act(
        request,
        container,
        lambda me, uow, now: portal.respond_to_alert(uow, me.claims, now, alert_id, text),
        "/me/alerts?notice=responded",
    )


# -- report a problem -----------------------------------------------------------------------------


@router.get("/report", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def report_form(request: Request, container: ContainerDep) -> Response:
    def build(me: Me, uow: Any, now: datetime) -> dict[str, Any]:
        return {"kinds": PROBLEM_KINDS, "error": None, "text": ""}

    return _page(request, container, "report.html", build)


@router.post("/report", openapi_extra=PERSONAL_WRITE)
def report(
    request: Request,
    container: ContainerDep,
    kind: Annotated[str, Form(max_length=20)] = "app",
    text: Annotated[str, Form(max_length=portal.MAX_RESPONSE_CHARS)] = "",
) -> Response:
    """Record a timestamped technical report for the case manager."""

    def again(me: Me, message: str) -> Response:
        lang = language_of(request)
        error = translate(lang, N_("Please say in a few words what is not working."))
        return render(
            request, "report.html", 422, me=me, kinds=PROBLEM_KINDS, error=error, text=text
        )

    return _act(
        request,
        container,
        lambda me, uow, now: portal.report_problem(uow, me.claims, now, kind, text),
        "/me/report?notice=reported",
        again=again,
    )


# -- my data ---------------------------------------------------------------------------------


@router.get("/data", response_class=HTMLResponse, openapi_extra=personal_read("access_log"))
def my_data(request: Request, container: ContainerDep) -> Response:
    """Who read or changed the participant's data, when and why; the export."""

    def build(me: Me, uow: Any, now: datetime) -> dict[str, Any]:
        return {"entries": portal.access_log(uow, me.claims, now), "actions": ACTIONS}

    return _page(request, container, "data.html", build)


@router.get("/export", openapi_extra=personal_read("participant"))
def export(request: Request, container: ContainerDep) -> Response:
    """Everything held about the participant, as a JSON download (same as the API's)."""
    try:
        me = _me(request, container)
    except NeedSignIn:
        return _to_sign_in()
    with container.uow() as uow:
        data = portal.export(uow, me.claims, container.clock.now())
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": 'attachment; filename="my-openatd-data.json"',
            "Cache-Control": "no-store",
        },
    )


# -- the installable app: manifest, service worker, offline page, static files -------------------


@router.get("/manifest.webmanifest", openapi_extra=NO_PERSONAL_DATA)
def manifest(request: Request) -> Response:
    """The web app manifest (W3C Web Application Manifest), in the request's language."""
    lang = language_of(request)
    body = {
        "name": translate(lang, N_("OpenATD check-in")),
        "short_name": "OpenATD",
        "lang": lang,
        "start_url": "/me/",
        "scope": "/me/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#1d2330",
        "icons": [
            {"src": "/me/static/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/me/static/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {
                "src": "/me/static/icon-512.png",
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
        ],
    }
    return JSONResponse(body, media_type="application/manifest+json")


@router.get("/sw.js", openapi_extra=NO_PERSONAL_DATA)
def service_worker() -> Response:
    """The service worker, served from ``/me/`` so that its scope is the whole app."""
    return Response(
        (STATIC / "sw.js").read_bytes(),
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/offline", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def offline(request: Request) -> HTMLResponse:
    """The page the service worker shows when the phone has no connection."""
    return render(request, "offline.html")


@router.get("/static/{name}", openapi_extra=NO_PERSONAL_DATA)
def static(name: str) -> Response:
    """A file of the app shell (only files shipped in ``static/``)."""
    path = STATIC / name
    kind = STATIC_TYPES.get(path.suffix)
    if kind is None or "/" in name or name.startswith(".") or not path.is_file():
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(
        path.read_bytes(), media_type=kind, headers={"Cache-Control": "public, max-age=3600"}
    )
