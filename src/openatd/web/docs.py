"""The API docs page (``/docs``): Swagger UI served from this package, nothing from another host.

Swagger UI's files are vendored from the npm package ``swagger-ui-dist`` (Apache-2.0,
licence and notice beside them in ``static/vendor/swagger-ui/``); the page's set-up is
a static script, so the Content-Security-Policy needs no inline script.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from openatd.api.access import NO_PERSONAL_DATA

router = APIRouter(include_in_schema=False)

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OpenATD API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
<main id="swagger-ui" data-openapi-url="/openapi.json"></main>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/js/swagger-init.js"></script>
</body>
</html>
"""


@router.get("/docs", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def docs() -> HTMLResponse:
    """Swagger UI for ``/openapi.json``, every asset from ``/static/``."""
    return HTMLResponse(DOCS_HTML)
