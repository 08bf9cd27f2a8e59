"""``openatd user ...``: staff accounts from the command line (create, list, set-role,
deactivate, activate, password, totp-enrol, require-totp); every change is audited."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console

from openatd import accounts
from openatd.accounts import create_user
from openatd.domain.clock import SystemClock
from openatd.errors import OpenATDError
from openatd.notify.outbox import set_notifications
from openatd.safeguards import second_factor
from openatd.settings import Settings, get_settings
from openatd.storage.db import Database
from openatd.storage.repositories import UnitOfWork

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


def _run(database_url: str | None, action: Callable[[UnitOfWork, Settings], str]) -> None:
    """Run *action* in one transaction; print what it returns; an error exits 2."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            message = action(uow, settings)
        console.print(message)
    except OpenATDError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()


DbOption = Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")]


@user_app.command("set-role")
def set_role(
    username: Annotated[str, typer.Argument(help="login name")],
    role: Annotated[str, typer.Argument(help="case_manager | supervisor | auditor | admin")],
    database_url: DbOption = None,
) -> None:
    """Give a user another role; their sessions end. Audited with the old and new role."""

    def act(uow: UnitOfWork, _s: Settings) -> str:
        old = uow.users.by_username(username)
        before = old.role if old else "?"
        u = accounts.change_role(uow, SystemClock().now(), username, role)
        return f"{u.username}: role {before} -> {u.role}; every session of theirs ended"

    _run(database_url, act)


@user_app.command("deactivate")
def deactivate(
    username: Annotated[str, typer.Argument(help="login name")],
    database_url: DbOption = None,
) -> None:
    """Deactivate a user: every session of theirs ends at once; they cannot log in."""
    _run(
        database_url,
        lambda uow, _s: (
            f"{accounts.set_active(uow, SystemClock().now(), username, False).username}: "
            "deactivated; every session ended"
        ),
    )


@user_app.command("activate")
def activate(
    username: Annotated[str, typer.Argument(help="login name")],
    database_url: DbOption = None,
) -> None:
    """Reactivate a deactivated user."""
    _run(
        database_url,
        lambda uow, _s: (
            f"{accounts.set_active(uow, SystemClock().now(), username, True).username}: active"
        ),
    )


@user_app.command("password")
def password(
    username: Annotated[str, typer.Argument(help="login name")],
    new_password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt="New password",
            hide_input=True,
            confirmation_prompt=True,
            help="at least 10 characters",
        ),
    ],
    database_url: DbOption = None,
) -> None:
    """Set a user's password; every session of theirs ends."""
    _run(
        database_url,
        lambda uow, _s: (
            f"{accounts.change_password(uow, SystemClock().now(), username, new_password).username}"
            ": password changed; every session ended"
        ),
    )


@user_app.command("totp-enrol")
def totp_enrol(
    username: Annotated[str, typer.Argument(help="login name")],
    code: Annotated[
        str | None,
        typer.Option(help="a current code from the authenticator, to finish enrolment"),
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Second factor: without --code, start (or reset) enrolment and print the otpauth URI and
    its QR code to scan; then run again with --code from the authenticator to turn it on."""

    def act(uow: UnitOfWork, s: Settings) -> str:
        now = SystemClock().now()
        if code is not None:
            accounts.confirm_totp(uow, now, username, code, secret_key=s.secret_key)
            return f"{username}: second factor on; log-in now needs a code"
        got = accounts.start_totp(uow, now, username, secret_key=s.secret_key)
        return (
            f"{second_factor.qr_text(got.uri)}\n{got.uri}\n"
            f"scan it, then: openatd user totp-enrol {username} --code NNNNNN"
        )

    _run(database_url, act)


@user_app.command("require-totp")
def require_totp(
    role: Annotated[str, typer.Argument(help="case_manager | supervisor | auditor | admin")],
    off: Annotated[bool, typer.Option("--off", help="stop requiring it")] = False,
    database_url: DbOption = None,
) -> None:
    """Require a second factor for every user of ROLE (users without one cannot log in until
    enrolled). Audited with the old and new setting."""

    def act(uow: UnitOfWork, _s: Settings) -> str:
        before = accounts.require_totp_for_role(uow, SystemClock().now(), role, not off)
        return f"{role}: second factor required {before} -> {not off}"

    _run(database_url, act)
