"""``openatd user create``: staff accounts from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from openatd.accounts import create_user
from openatd.domain.clock import SystemClock
from openatd.errors import OpenATDError
from openatd.notify.outbox import set_notifications
from openatd.settings import get_settings
from openatd.storage.db import Database

user_app = typer.Typer(help="Staff users.", no_args_is_help=True)
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


@user_app.command("create")
def create(
    username: Annotated[str, typer.Argument(help="login name")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="at least 10 characters"
        ),
    ],
    role: Annotated[
        str, typer.Option(help="case_manager | supervisor | auditor | admin")
    ] = "case_manager",
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
    email: Annotated[str | None, typer.Option(help="where alert notifications go")] = None,
    phone: Annotated[str | None, typer.Option(help="E.164, for SMS notifications")] = None,
    notify: Annotated[str, typer.Option(help="email | sms | none")] = "email",
    digest: Annotated[bool, typer.Option(help="one daily digest instead of each alert")] = False,
) -> None:
    """Create a staff user (argon2-hashed password) and where their notifications go."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            user = create_user(uow, SystemClock().now(), username, password, role)
            set_notifications(user, email=email, phone=phone, channel=notify, digest=digest)
            console.print(f"created {user.role} [bold]{user.username}[/] (id {user.id})")
    except OpenATDError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()


@user_app.command("list")
def list_users(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
) -> None:
    """List staff users: name, role, active (never passwords)."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            users = uow.users.list()
            for u in users:
                state = "active" if u.active else "inactive"
                console.print(f"{u.id:>5}  {u.username:<24} {u.role:<13} {state}")
            if not users:
                console.print("no staff users yet: openatd user create NAME --role ROLE")
    finally:
        db.dispose()
