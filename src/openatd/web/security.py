"""One protection for every browser page, present and future (ASGI middleware + Jinja helpers).

Lives here: the CSRF check (double-submit token plus Origin/Referer check) for every
state-changing request outside ``/api/``, same-site-only redirects, the security headers
on every response, and ``Secure`` on every cookie when the setting says so. Pages only
put ``{{ csrf_input() }}`` in each form (or send ``X-CSRF-Token``, see :func:`csrf_headers`).
Does not live here: who may do what (``safeguards/``), sessions (each side's pages).

The JSON API under ``/api/`` authenticates with bearer tokens in a header, which a
cross-site page cannot send, so it is exempt from the token check (not from the headers).

Sources: OWASP Cross-Site Request Forgery Prevention Cheat Sheet ("Signed Double-Submit
Cookie" and "Verifying Origin With Standard Headers"), the Fetch standard's ``Origin``
header, CSP Level 3 (``frame-ancestors``, ``form-action``).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, pass_context
from markupsafe import Markup, escape

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "openatd_csrf"
"""Cookie holding the browser's CSRF token (HttpOnly, SameSite=Strict, path ``/``)."""
CSRF_FIELD = "csrf_token"
"""Form field that must repeat the cookie's token (``{{ csrf_input() }}`` writes it)."""
CSRF_HEADER = "x-csrf-token"
"""Header that may carry the token instead of the field (htmx, ``fetch``)."""
SCOPE_KEY = "openatd.csrf_token"
"""Where the middleware leaves this request's token in the ASGI scope for templates."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

REFUSAL_HTML = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
    "<title>Refused · OpenATD</title></head><body><main><h1>That was refused</h1>"
    "<p role='alert'>{reason} Nothing was changed. Go back, reload the page and try again.</p>"
    "<p><a href='/ui/'>Staff pages</a> · <a href='/me/'>Participant app</a></p>"
    "</main></body></html>"
)


def content_security_policy(img_sources: Iterable[str] = ()) -> str:
    """The Content-Security-Policy sent with every response.

    Scripts, styles, fonts and connections only from this site; images also as
    ``data:``/``blob:`` (Leaflet markers, camera previews) and from *img_sources*
    (the map tile host of ``OPENATD_MAP_TILES_URL``, if one is set). No framing
    (``frame-ancestors 'none'``), forms post only here, no ``<base>`` or plugins.
    """
    img = " ".join(["'self'", "data:", "blob:", *img_sources])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; font-src 'self'; connect-src 'self'; media-src 'self' blob:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def safe_path(target: str | None, default: str = "/ui/") -> str:
    """*target* if it is a path on this site, else *default* (never another host).

    A same-site path starts with one ``/`` followed by something other than ``/`` or
    ``\\`` (browsers read ``//host`` and ``/\\host`` as another host), and holds no
    control characters or scheme.

    >>> safe_path("/ui/participants/3?notice=x")
    '/ui/participants/3?notice=x'
    >>> safe_path("https://evil.example/"), safe_path("//evil.example/"), safe_path("/\\\\x")
    ('/ui/', '/ui/', '/ui/')
    """
    if not target or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return default
    if any(ord(c) < 0x20 or c == "\x7f" for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def csrf_token(request: Any) -> str:
    """This request's CSRF token (set by :class:`SecurityMiddleware`), or ``""`` without it."""
    return str(request.scope.get(SCOPE_KEY, ""))


@pass_context
def _csrf_input(ctx: Any) -> Markup:
    token = csrf_token(ctx["request"])
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">')


@pass_context
def _csrf_token(ctx: Any) -> str:
    return csrf_token(ctx["request"])


@pass_context
def _csrf_headers(ctx: Any) -> str:
    return json.dumps({"X-CSRF-Token": csrf_token(ctx["request"])})


def csrf_headers(request: Any) -> str:
    """``{"X-CSRF-Token": "…"}`` as JSON, for ``hx-headers`` or a ``fetch`` call."""
    return json.dumps({"X-CSRF-Token": csrf_token(request)})


def install_templates(env: Environment) -> None:
    """Give a Jinja environment ``csrf_input()``, ``csrf_token()`` and ``csrf_headers()``.

    The template context must hold ``request`` (Starlette's ``TemplateResponse`` puts it
    there). ``{{ csrf_input() }}`` inside each ``<form method="post">``;
    ``<body hx-headers='{{ csrf_headers() }}'>`` for htmx; ``{{ csrf_token() }}`` for
    anything else (a ``<meta>`` a script reads).
    """
    env.globals["csrf_input"] = _csrf_input
    env.globals["csrf_token"] = _csrf_token
    env.globals["csrf_headers"] = _csrf_headers


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def _cookie(headers: dict[str, str], name: str) -> str | None:
    raw = headers.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # a malformed Cookie header is as good as none
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None else None


class SecurityMiddleware:
    """CSRF + Origin checks, safe redirects, security headers and Secure cookies (ASGI).

    For every request whose method is not GET/HEAD/OPTIONS/TRACE and whose path does
    not start with one of *exempt_prefixes* (default ``/api/``, bearer-token JSON):

    - an ``Origin`` header, when sent, must name this host (the ``Host`` header);
      ``Origin: null`` is refused; without ``Origin`` a ``Referer``, when sent, must
      name this host;
    - the token in the ``csrf_token`` form field (urlencoded or multipart) or the
      ``X-CSRF-Token`` header must equal the ``openatd_csrf`` cookie (constant-time).

    A refused request gets 403 with a page saying why and never reaches the route.
    Every response gets the CSP of :func:`content_security_policy` (unless the route
    set one), ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
    ``Referrer-Policy: same-origin``, ``Cross-Origin-Opener-Policy: same-origin`` and a
    ``Permissions-Policy`` (camera and location for this site only); a redirect whose
    ``Location`` names another host is sent to ``/`` instead; with *cookie_secure* every
    ``Set-Cookie`` gets ``Secure``. A browser without the token cookie gets one.

    Bodies are read whole before the check, so install
    :class:`~openatd.api.limits.BodyLimitMiddleware` outside this one.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        cookie_secure: bool = False,
        exempt_prefixes: tuple[str, ...] = ("/api/",),
        img_sources: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.cookie_secure = cookie_secure
        self.exempt_prefixes = exempt_prefixes
        self.csp = content_security_policy(img_sources).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        held = _cookie(headers, CSRF_COOKIE)
        token = held if held and _TOKEN_RE.match(held) else None
        issued = None
        if token is None:
            issued = token = secrets.token_urlsafe(32)
        scope[SCOPE_KEY] = token
        host = headers.get("host", "")
        send_secured = self._wrap_send(send, host, issued)

        path: str = scope["path"]
        if scope["method"] not in SAFE_METHODS and not path.startswith(self.exempt_prefixes):
            reason = self._origin_problem(headers, host)
            body = b""
            if reason is None:
                body, receive = await _buffer(receive)
                reason = await self._token_problem(scope, headers, held, body)
            if reason is not None:
                await _refuse(send_secured, reason)
                return
        await self.app(scope, receive, send_secured)

    @staticmethod
    def _origin_problem(headers: dict[str, str], host: str) -> str | None:
        origin = headers.get("origin")
        if origin is not None:
            if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
                return "This request came from another site (Origin)."
            return None
        referer = headers.get("referer")
        if referer is not None and urlsplit(referer).netloc.lower() != host.lower():
            return "This request came from another site (Referer)."
        return None

    @staticmethod
    async def _token_problem(
        scope: Scope, headers: dict[str, str], held: str | None, body: bytes
    ) -> str | None:
        if not held or not _TOKEN_RE.match(held):
            return "The form's security token is missing (cookies off, or the page is old)."
        sent = headers.get(CSRF_HEADER)
        if sent is None:
            sent = await _form_token(scope, headers, body)
        if not sent or not hmac.compare_digest(sent.encode(), held.encode()):
            return "The form's security token does not match (the page is old or forged)."
        return None

    def _wrap_send(self, send: Send, host: str, issued: str | None) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = self._secure_headers(
                    list(message.get("headers", [])), message["status"], host, issued
                )
            await send(message)

        return wrapped

    def _secure_headers(
        self, raw: list[tuple[bytes, bytes]], status: int, host: str, issued: str | None
    ) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        names = {k.lower() for k, _ in raw}
        for k, v in raw:
            name = k.lower()
            if name == b"set-cookie" and self.cookie_secure and b"secure" not in v.lower():
                v = v + b"; Secure"
            if name == b"location" and 300 <= status < 400:
                target = v.decode("latin-1").strip()
                netloc = urlsplit(target).netloc
                if target[:2] in ("//", "/\\") or (netloc and netloc.lower() != host.lower()):
                    v = b"/"
            out.append((k, v))
        extra = {
            b"content-security-policy": self.csp,
            b"x-content-type-options": b"nosniff",
            b"x-frame-options": b"DENY",
            b"referrer-policy": b"same-origin",
            b"cross-origin-opener-policy": b"same-origin",
            b"permissions-policy": b"camera=(self), geolocation=(self), microphone=()",
        }
        out.extend((k, v) for k, v in extra.items() if k not in names)
        if issued is not None:
            cookie = f"{CSRF_COOKIE}={issued}; Path=/; HttpOnly; SameSite=Strict"
            if self.cookie_secure:
                cookie += "; Secure"
            out.append((b"set-cookie", cookie.encode()))
        return out


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body; return it and a ``receive`` that replays it once."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _form_token(scope: Scope, headers: dict[str, str], body: bytes) -> str | None:
    ctype = headers.get("content-type", "")
    if ctype.startswith(_FORM_TYPES[0]):
        values = parse_qs(body.decode("latin-1"), keep_blank_values=True).get(CSRF_FIELD)
        return values[0] if values else None
    if ctype.startswith(_FORM_TYPES[1]):
        from starlette.requests import Request

        done = False

        async def once() -> Message:
            nonlocal done
            if done:
                return {"type": "http.disconnect"}
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        request = Request(dict(scope), once)
        try:
            async with request.form() as form:
                value = form.get(CSRF_FIELD)
                return value if isinstance(value, str) else None
        except Exception:  # a malformed multipart body carries no token
            return None
    return None


async def _refuse(send: Send, reason: str) -> None:
    body = REFUSAL_HTML.format(reason=escape(reason)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
