"""``openatd stats``: aggregate counts for oversight, no personal data."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from openatd.domain.clock import SystemClock
from openatd.safeguards import stats as stats_service
from openatd.settings import get_settings
from openatd.storage.db import Database


def register(app: typer.Typer) -> None:
    app.command("stats")(stats)


def stats(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
) -> None:
    """Print participants by level, alerts by category and resolution, the share resolved
    technical, check-in outcomes, confirmed violations and the median time to decision, as
    JSON (the same as GET /api/stats)."""
    overrides: dict[str, object] = {"database_url": database_url} if database_url else {}
    settings = get_settings(**overrides)
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            data = stats_service.compute(uow, SystemClock().now())
    finally:
        db.dispose()
    typer.echo(json.dumps(data, indent=2))
