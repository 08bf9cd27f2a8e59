"""How face check-in performs: the published accuracy, fairness and latency figures.

No personal data: the page needs no sign-in and leaves no audit entry. The figures are
the JSON ``bench/face.py --write-figures`` ships in the package
(:mod:`openatd.checkins.face_figures`); without it the page says they are not published.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from openatd.api.access import NO_PERSONAL_DATA
from openatd.checkins.face_figures import load_face_figures, rate_rows
from openatd.errors import ConfigurationError
from openatd.web.staff.common import ContainerDep, NeedLogin, current_user, render

router = APIRouter()


@router.get("/face-figures", response_class=HTMLResponse, openapi_extra=NO_PERSONAL_DATA)
def face_figures(request: Request, container: ContainerDep) -> HTMLResponse:
    """Threshold, error rates per group with 95 % intervals, ratios, latency, limits."""
    try:
        user = current_user(request, container)
    except NeedLogin:
        user = None
    try:
        figures = load_face_figures()
    except ConfigurationError as exc:
        return render(request, "face_figures.html", user=user, figures=None, missing=str(exc))
    return render(
        request,
        "face_figures.html",
        user=user,
        figures=figures,
        rows=rate_rows(figures),
        missing=None,
    )
