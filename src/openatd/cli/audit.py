"""``openatd audit verify``: check the audit log's hash chain."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from openatd.safeguards import audit
from openatd.settings import get_settings
from openatd.storage.db import Database

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
) -> None:
    """Walk the chain; exit 1 naming the first broken link (edited, removed or inserted entry)."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    db = Database(settings.database_url)
    db.migrate()  # idempotent; also turns a refused connection into one clear line
    try:
        with db.uow() as uow:
            count, broken = audit.verify(uow)
    finally:
        db.dispose()
    if broken is None:
        console.print(f"audit log OK: {count} entries, chain intact")
        return
    console.print(f"[red]audit log BROKEN[/] at entry {broken.entry_id}: {broken.reason}")
    raise typer.Exit(1)
