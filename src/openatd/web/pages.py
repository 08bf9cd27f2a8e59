"""Server-rendered pages for staff (Jinja2), mounted by ``api/app.py``.

The pages themselves live in :mod:`openatd.web.staff`, one module per area; this module
keeps the name ``api/app.py`` (and other branches) import.
"""

from __future__ import annotations

from openatd.web.staff import router
from openatd.web.staff.common import COOKIE, templates

__all__ = ["COOKIE", "router", "templates"]
