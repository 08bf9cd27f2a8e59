"""``openatd retention run`` and ``openatd retention report``: enforce and show retention."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from openatd.domain.clock import SystemClock
from openatd.safeguards.retention import RetentionPolicy, purge, status
from openatd.settings import get_settings
from openatd.storage.db import Database

retention_app = typer.Typer(help="Retention per kind of data, with holds for open reviews.")
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(retention_app, name="retention")


def _db(database_url: str | None, days: int | None) -> tuple[Database, RetentionPolicy]:
    overrides: dict[str, object] = {}
    if database_url:
        overrides["database_url"] = database_url
    if days is not None:
        overrides["position_retention_days"] = days
    settings = get_settings(**overrides)
    db = Database(settings.database_url)
    db.migrate()
    return db, RetentionPolicy.from_settings(settings)


DbOption = Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")]


@retention_app.command("run")
def run(
    database_url: DbOption = None,
    days: Annotated[
        int | None,
        typer.Option(help="keep positions this many days [env OPENATD_POSITION_RETENTION_DAYS]"),
    ] = None,
) -> None:
    """Delete what the retention periods say must go, except what open alerts hold."""
    db, policy = _db(database_url, days)
    try:
        with db.uow() as uow:
            report = purge(uow, SystemClock().now(), policy=policy)
    finally:
        db.dispose()
    for k in report.kinds:
        span = (
            f" ({k.oldest:%Y-%m-%d} .. {k.newest:%Y-%m-%d})"
            if k.oldest is not None and k.newest is not None
            else ""
        )
        console.print(
            f"{k.kind}: purged {k.deleted}{span}, held {k.held}, cut-off {k.cutoff:%Y-%m-%d %H:%M}"
        )


@retention_app.command("report")
def report(database_url: DbOption = None) -> None:
    """Show each kind's period, what is past it, what is held, why and until when."""
    db, policy = _db(database_url, None)
    try:
        with db.uow() as uow:
            st = status(uow, SystemClock().now(), policy)
    finally:
        db.dispose()
    console.print("periods (days):")
    for kind, days in st.periods.items():
        console.print(f"  {kind}: {days}")
    console.print("past their period now (the next run purges them unless held):")
    for kind, n in st.due.items():
        console.print(f"  {kind}: {n}")
    console.print(f"held: {len(st.held)}")
    for h in st.held:
        until = "until a person resolves it" if h.until is None else f"until {h.until:%Y-%m-%d}"
        console.print(f"  {h.kind}: {h.count} position(s); {h.why}; {until}")
    console.print(f"closed cases: {len(st.closed_cases)}")
    for pid, closed, after in st.closed_cases:
        console.print(
            f"  participant {pid}: closed {closed:%Y-%m-%d}, deleted after {after:%Y-%m-%d}"
        )
