"""``openatd audit``: verify the hash chain (and signed checkpoints), write a checkpoint,
make a signing key, print the public key an auditor keeps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openatd.domain.clock import SystemClock
from openatd.errors import OpenATDError
from openatd.safeguards import audit, checkpoints
from openatd.settings import Settings, get_settings
from openatd.storage.db import Database

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
console = Console(soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
    checkpoints_path: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="a checkpoint file or directory (an auditor's copy): prove the log up to the "
            "latest signed checkpoint is intact",
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(
            help="the auditor's Ed25519 public key (base64, PEM or @file); default: derived "
            "from OPENATD_AUDIT_SIGNING_KEY"
        ),
    ] = None,
) -> None:
    """Walk the chain; exit 1 naming the first broken link (edited, removed or inserted entry),
    and with --checkpoints the first signed checkpoint that a rewrite or truncation breaks."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    _require_existing_sqlite_file(settings.database_url)
    db = Database(settings.database_url)
    db.migrate()  # idempotent; also turns a refused connection into one clear line
    try:
        with db.uow() as uow:
            if checkpoints_path is not None:
                _verify_checkpoints(uow, settings, checkpoints_path, public_key)
                return
            count, broken = audit.verify(uow)
    finally:
        db.dispose()
    if broken is None:
        console.print(f"audit log OK: {count} entries, chain intact")
        return
    console.print(f"[red]audit log BROKEN[/] at entry {broken.entry_id}: {broken.reason}")
    raise typer.Exit(1)


def _require_existing_sqlite_file(url: str) -> None:
    """Exit 2 in one line when *url* names a SQLite file that does not exist: opening it would
    create an empty database, and an auditor who mistyped the path would read "OK: 0
    entries" (the check creates nothing)."""
    from openatd.storage.backup import sqlite_file

    try:
        path = sqlite_file(url)
    except OpenATDError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if path is not None and not path.is_file():
        console.print(
            f"[red]error:[/] no database at {path} (--database-url / OPENATD_DATABASE_URL);"
            " nothing was verified or created"
        )
        raise typer.Exit(2)


def _verify_checkpoints(
    uow: object, settings: Settings, path: Path, public_key: str | None
) -> None:
    from openatd.storage.repositories import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    try:
        if public_key:
            key = checkpoints.load_public_key(public_key)
        else:
            key = checkpoints.load_signing_key(settings.audit_signing_key).public_key()
        cps = checkpoints.read_checkpoints(path)
    except OpenATDError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    if not cps:
        console.print(f"[red]error:[/] no checkpoints in {path}")
        raise typer.Exit(2)
    report = checkpoints.verify_checkpoints(uow, cps, key)
    if report.ok:
        console.print(
            f"audit log OK: {report.entries} entries, chain intact; {report.checkpoints} signed "
            f"checkpoints hold (the latest covers {report.verified_entries} entries)"
        )
        return
    console.print(f"[red]audit log BROKEN[/]: {report.problem}")
    if report.verified_entries:
        console.print(f"the log is proven intact only up to entry {report.verified_entries}")
    raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint(
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
    directory: Annotated[
        Path | None, typer.Option(help="[env OPENATD_AUDIT_CHECKPOINT_DIR]")
    ] = None,
) -> None:
    """Sign the log's head (entry count, last hash, time) with OPENATD_AUDIT_SIGNING_KEY and
    append it to the checkpoint file (append-only, outside the database)."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    target = directory or settings.audit_checkpoint_dir
    if target is None:
        console.print("[red]error:[/] set OPENATD_AUDIT_CHECKPOINT_DIR or pass --directory")
        raise typer.Exit(2)
    db = Database(settings.database_url)
    db.migrate()
    try:
        with db.uow() as uow:
            cp = checkpoints.checkpoint_now(
                uow, settings.audit_signing_key, target, SystemClock().now(), force=True
            )
    except OpenATDError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    finally:
        db.dispose()
    if cp is None:
        console.print("the audit log is empty: nothing to sign yet")
        return
    console.print(
        f"checkpoint #{cp.seq}: {cp.entries} entries, last id {cp.last_id}, "
        f"head {cp.head_hash[:16]}…, key {cp.key_id} -> {target}"
    )


@audit_app.command("keygen")
def keygen() -> None:
    """Print a new Ed25519 signing key (base64) for OPENATD_AUDIT_SIGNING_KEY, and its public
    key for auditors. Keep the private key away from the database's operators."""
    private = checkpoints.new_signing_key()
    public = checkpoints.public_key_text(checkpoints.load_signing_key(private))
    console.print(f"OPENATD_AUDIT_SIGNING_KEY={private}")
    console.print(f"public key (give to auditors): {public}")


@audit_app.command("public-key")
def public_key_cmd() -> None:
    """Print the public key of OPENATD_AUDIT_SIGNING_KEY (base64), for auditors."""
    try:
        key = checkpoints.load_signing_key(get_settings().audit_signing_key)
    except OpenATDError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    console.print(checkpoints.public_key_text(key))
