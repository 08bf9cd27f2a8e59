"""``openatd retention run``: purge what the retention policy says must go."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from openatd.domain.clock import SystemClock
from openatd.safeguards.retention import purge
from openatd.settings import get_settings
from openatd.storage.db import Database

retention_app = typer.Typer(help="Retention (positions and events are purged on schedule).")
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")


@retention_app.command("run")
def run(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
    days: Annotated[
        int | None, typer.Option(help="keep this many days [env OPENATD_POSITION_RETENTION_DAYS]")
    ] = None,
) -> None:
    """Delete positions and events older than the retention period (not those under review)."""
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if days is not None:
        overrides["position_retention_days"] = days
    settings = get_settings(**overrides)
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            report = purge(uow, SystemClock().now(), settings.position_retention_days)
    finally:
        db.dispose()
    console.print(
        f"purged {report.positions} positions and {report.events} events received before "
        f"{report.cutoff.isoformat()}"
    )
