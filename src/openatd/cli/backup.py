"""``openatd backup PATH`` / ``openatd restore PATH``: the embedded SQLite database, copied
online with SQLite's backup API and restored after its schema and audit log are checked.

PostgreSQL is backed up with its own tools; both commands say so (docs/operations.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from openatd.domain.audit import AuditAction
from openatd.domain.clock import SystemClock
from openatd.errors import InvalidInput, OpenATDError
from openatd.safeguards import audit, checkpoints
from openatd.settings import get_settings
from openatd.storage import backup as sqlite_backup
from openatd.storage.db import Database

console = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)

POSTGRESQL = (
    "the database is PostgreSQL: back it up with PostgreSQL's tools, e.g. "
    "`pg_dump -Fc -f openatd.dump DBNAME` and `pg_restore --clean -d DBNAME openatd.dump`, "
    "or physical backups with pg_basebackup and WAL archiving; see docs/operations.md"
)


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_cmd)
    app.command("restore")(restore_cmd)


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(2)


def _sqlite_target(database_url: str | None) -> tuple[str, Path]:
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    try:
        path = sqlite_backup.sqlite_file(settings.database_url)
    except InvalidInput as exc:
        raise _fail(str(exc)) from None
    if path is None:
        raise _fail(POSTGRESQL)
    return settings.database_url, path


def backup_cmd(
    path: Annotated[Path, typer.Argument(help="the backup file to write")],
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
    force: Annotated[bool, typer.Option(help="overwrite PATH if it exists")] = False,
) -> None:
    """Copy the SQLite database to PATH, consistent as of one instant, while the service runs
    and writes (SQLite's online backup API). Prints the copy's SHA-256: keep it with it."""
    _, database = _sqlite_target(database_url)
    try:
        copy = sqlite_backup.backup(database, path, overwrite=force)
    except OpenATDError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"backup of {database} written to {copy.path}: {copy.size_bytes / 2**20:.1f} MiB, "
        f"schema {copy.revision}, {copy.audit_entries} audit entries, "
        f"{copy.positions} positions; sha256 {copy.sha256}"
    )


def restore_cmd(
    path: Annotated[Path, typer.Argument(help="a backup file made by `openatd backup`")],
    database_url: Annotated[str | None, typer.Option(help="[env OPENATD_DATABASE_URL]")] = None,
    force: Annotated[bool, typer.Option(help="replace the existing database")] = False,
    checkpoints_path: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="signed audit checkpoints to check the restored log against (default: "
            "OPENATD_AUDIT_CHECKPOINT_DIR when the signing key is set)",
        ),
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option(help="the checkpoints' Ed25519 public key (default: from the signing key)"),
    ] = None,
) -> None:
    """Replace the SQLite database by the backup PATH. Refused while the service has the
    database open, without --force when it exists, when PATH is not an intact OpenATD
    database of this schema, or when its audit log's hash chain is broken. Afterwards the
    restored audit log is checked against the signed checkpoints (exit 1 when they show
    entries removed or rewritten, e.g. a backup older than the latest checkpoint), and the
    restore itself is recorded in the audit log."""
    settings = get_settings(**({"database_url": database_url} if database_url else {}))
    url, database = _sqlite_target(database_url)

    def vet(staged: Path) -> None:
        count, broken = _verify_chain(f"sqlite:///{staged}")
        if broken is not None:
            raise InvalidInput(
                f"the audit log in {path} is broken at entry {broken[0]} ({broken[1]}); "
                f"nothing restored ({count} entries checked)"
            )

    try:
        copy = sqlite_backup.restore(path, database, overwrite=force, vet=vet)
    except OpenATDError as exc:
        raise _fail(str(exc)) from None
    console.print(
        f"restored {database} from {path} (sha256 {copy.sha256}): schema {copy.revision}, "
        f"{copy.positions} positions"
    )
    db = Database(url)
    try:
        with db.uow() as uow:
            count, broken = audit.verify(uow)
            if broken is not None:  # the staged copy was checked; this would be a new fault
                console.print(f"[red]audit log BROKEN[/] at entry {broken.entry_id}")
                raise typer.Exit(1)
            console.print(f"audit log OK: {count} entries, chain intact")
            ok = True
            cp_dir = checkpoints_path or settings.audit_checkpoint_dir
            key_text = public_key or settings.audit_signing_key
            if cp_dir is not None and key_text:
                ok = _check_checkpoints(uow, cp_dir, key_text, from_private=public_key is None)
            elif cp_dir is None:
                console.print(
                    "no signed checkpoints configured (OPENATD_AUDIT_CHECKPOINT_DIR): a log "
                    "rewritten inside the backup cannot be told from the original"
                )
            audit.record(
                uow,
                at=SystemClock().now(),
                actor="system:cli",
                action=AuditAction.DATABASE_RESTORE,
                subject_type="database",
                details={
                    "backup": path.name,
                    "sha256": copy.sha256,
                    "audit_entries": count,
                    "checkpoints_hold": ok,
                },
            )
    finally:
        db.dispose()
    console.print("the restore is recorded in the audit log (database:restore)")
    if not ok:
        raise typer.Exit(1)


def _verify_chain(url: str) -> tuple[int, tuple[int, str] | None]:
    db = Database(url)
    try:
        with db.uow() as uow:
            count, broken = audit.verify(uow)
    finally:
        db.dispose()
    return count, None if broken is None else (broken.entry_id, broken.reason)


def _check_checkpoints(uow: object, path: Path, key_text: str, *, from_private: bool) -> bool:
    from openatd.storage.repositories import UnitOfWork

    assert isinstance(uow, UnitOfWork)
    try:
        if from_private:
            key = checkpoints.load_signing_key(key_text).public_key()
        else:
            key = checkpoints.load_public_key(key_text)
        cps = checkpoints.read_checkpoints(path)
    except OpenATDError as exc:
        console.print(f"[red]signed checkpoints not checked:[/] {exc}")
        return False
    if not cps:
        console.print(f"no signed checkpoints in {path} yet")
        return True
    report = checkpoints.verify_checkpoints(uow, cps, key)
    if report.ok:
        console.print(
            f"{report.checkpoints} signed checkpoints hold (the latest covers "
            f"{report.verified_entries} entries)"
        )
        return True
    console.print(f"[red]signed checkpoints do NOT hold:[/] {report.problem}")
    console.print(
        "the restored audit log differs from what was signed: entries after the backup are "
        "gone, or the backup's log was altered"
    )
    return False
