"""What each route does with personal data, declared where the route is declared.

Every route of the app (API and pages) carries one of these in ``openapi_extra``; the route
crawl (``tests/integration/security/test_route_audit.py``) walks ``app.routes``, refuses a
route without a declaration, and calls each ``GET`` route with every role to check that a
personal-data read leaves exactly one audit entry naming what it read and whom it was about
(the access layer: :mod:`openatd.safeguards.reads`). The declaration is also published in the
OpenAPI document under :data:`KEY`, so an auditor reads it next to the route.

>>> @router.get("/participants/{participant_id}/zones", openapi_extra=personal_read("zones"))
... def list_zones(...): ...                                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import fastapi.routing
from fastapi import FastAPI
from starlette.routing import BaseRoute

KEY = "x-openatd-personal-data"
"""The ``openapi_extra`` key of the declaration."""


def personal_read(*what: str) -> dict[str, Any]:
    """A route that returns personal data: each successful request leaves exactly one audit
    entry, through :func:`openatd.safeguards.reads.record_read`, whose subject (or
    ``details["read"]``) names each of *what* (e.g. ``"participant"``, ``"alerts"``)."""
    if not what:
        raise ValueError("name what the route reads, e.g. personal_read('zones')")
    return {KEY: {"access": "read", "what": list(what)}}


PERSONAL_WRITE: dict[str, Any] = {KEY: {"access": "write"}}
"""A route that changes personal data (or signs a participant in); its service audits the
change. It is not crawled (a write needs a body), but it must still declare itself."""

NO_PERSONAL_DATA: dict[str, Any] = {KEY: {"access": "none"}}
"""A route that neither reads nor changes personal data (health, log-in form, chain
verification); the crawl checks that a ``GET`` of it writes no read entry."""


def declared(openapi_extra: dict[str, Any] | None) -> dict[str, Any] | None:
    """The declaration of a route (``route.openapi_extra``), or ``None`` when it has none."""
    if not openapi_extra:
        return None
    value = openapi_extra.get(KEY)
    return value if isinstance(value, dict) else None


@dataclass(frozen=True, slots=True)
class RouteEntry:
    """One route of an app as served: its full path (router prefixes included), methods, the
    route object itself (an ``APIRoute`` carries ``openapi_extra`` and ``dependant``)."""

    path: str
    methods: frozenset[str]
    route: BaseRoute


def iter_routes(app: FastAPI) -> Iterator[RouteEntry]:
    """Every route of *app*, with included routers flattened (FastAPI 0.16x keeps included
    routers as lazy branches in ``app.routes``; older versions list the routes flat)."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    if flatten is None:  # pragma: no cover - FastAPI before the lazy include
        for route in app.routes:
            yield RouteEntry(
                getattr(route, "path", ""), frozenset(getattr(route, "methods", None) or ()), route
            )
        return
    for ctx in flatten(app.routes):
        original = ctx.original_route
        yield RouteEntry(
            ctx.path or getattr(original, "path", ""),
            frozenset(getattr(original, "methods", None) or ()),
            original,
        )
