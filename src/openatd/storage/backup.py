"""Backups of the embedded SQLite database, taken and restored with SQLite's online backup API.

``openatd backup PATH`` copies the live database into one self-contained file while the
service runs and writes: the copy is taken inside one read transaction, so it is the
database as of one instant (in WAL mode writers go on meanwhile), then checked
(``PRAGMA quick_check``) and moved into place (never a half-written file at PATH).

``openatd restore PATH`` first checks that PATH is a SQLite database of this version's
schema (the Alembic head) and intact, and refuses while any other process has the target
database open (a running ``openatd serve``: every connection to a WAL database holds a
shared lock on the "dead-man switch" byte of its ``-shm`` file, see
https://www.sqlite.org/walformat.html), then copies it in with the backup API (which
replaces the target's pages within one transaction, WAL included).

PostgreSQL is backed up with its own tools (``pg_dump -Fc`` / ``pg_restore``, or
``pg_basebackup`` with WAL archiving): see ``docs/operations.md``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from openatd.errors import Conflict, InvalidInput
from openatd.storage.db import MIGRATIONS, normalise_url

SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""
_DMS_BYTE = 128
"""Offset in the ``-shm`` file of the lock every open WAL connection holds shared."""


@dataclass(frozen=True, slots=True)
class SQLiteCopy:
    """What a backup file holds, as :func:`inspect_backup` read it.

    Attributes:
        path: the file.
        size_bytes: its size.
        revision: its schema's Alembic revision.
        audit_entries: rows of the audit log in it.
        positions: rows of ``positions`` in it.
        sha256: hex SHA-256 of the file (record it beside the backup).
    """

    path: Path
    size_bytes: int
    revision: str
    audit_entries: int
    positions: int
    sha256: str


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite *url*; None for any other database.

    Raises:
        InvalidInput: the URL cannot be parsed, or names an in-memory SQLite database.
    """
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError as exc:
        raise InvalidInput(f"cannot parse the database URL: {exc}") from None
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise InvalidInput("an in-memory SQLite database has nothing to back up or restore")
    return Path(parsed.database)


def head_revision() -> str:
    """The Alembic head revision of this version of OpenATD."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def backup(database: Path, dest: Path, *, overwrite: bool = False) -> SQLiteCopy:
    """Copy the SQLite database file *database* to *dest*, online and consistent.

    Safe while the service runs and writes (one read transaction; WAL writers are not
    blocked). *dest* is written beside itself first and renamed into place after
    ``PRAGMA quick_check`` passed; it is a single file in rollback-journal mode.

    Raises:
        InvalidInput: *database* is missing or not a SQLite database, or *dest*'s folder
            is missing, or the copy fails its check.
        Conflict: *dest* exists and not *overwrite*.
    """
    _require_sqlite_file(database, "database")
    if dest.exists() and not overwrite:
        raise Conflict(f"{dest} exists; pass --force to overwrite it")
    if dest.is_dir():
        raise InvalidInput(f"{dest} is a directory; give the backup file's name")
    if not dest.parent.is_dir():
        raise InvalidInput(f"folder {dest.parent} does not exist")
    part = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    part.unlink(missing_ok=True)
    try:
        src = sqlite3.connect(database, timeout=10)
        try:
            dst = sqlite3.connect(part)
            try:
                src.backup(dst)  # all pages in one step: one read transaction, one instant
                dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
                _quick_check(dst, dest)
            finally:
                dst.close()
        finally:
            src.close()
        with part.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(part, dest)
    except sqlite3.Error as exc:
        raise InvalidInput(f"backup of {database} failed: {exc}") from None
    finally:
        part.unlink(missing_ok=True)
    return inspect_backup(dest)


def inspect_backup(path: Path) -> SQLiteCopy:
    """Check that *path* is an intact SQLite database of this schema and say what it holds.

    Opens it read-only (the file is not changed).

    Raises:
        InvalidInput: missing, not a SQLite database, damaged, not an OpenATD database, or
            of another schema revision than this version's (the message names both).
    """
    _require_sqlite_file(path, "backup")
    if path.with_name(path.name + "-wal").exists():
        raise InvalidInput(
            f"{path} has a -wal file beside it: it is a live database, not a backup; "
            "make a backup of it with `openatd backup` and restore that"
        )
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise InvalidInput(f"cannot open {path}: {exc}") from None
    try:
        _quick_check(conn, path)
        try:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
            audit = conn.execute("SELECT count(*) FROM audit_entries").fetchone()[0]
            positions = conn.execute("SELECT count(*) FROM positions").fetchone()[0]
        except sqlite3.Error:
            raise InvalidInput(f"{path} is a SQLite database but not an OpenATD one") from None
    finally:
        conn.close()
    head = head_revision()
    if [r[0] for r in rows] != [head]:
        found = ", ".join(r[0] for r in rows) or "none"
        raise InvalidInput(
            f"{path} has schema revision {found}; this version of OpenATD needs {head} "
            "(restore it with the version that made it)"
        )
    return SQLiteCopy(path, path.stat().st_size, head, int(audit), int(positions), _sha256(path))


def in_use(database: Path) -> bool:
    """True when another process has the WAL database *database* open (a running service).

    Probes the ``-shm`` file's dead-man-switch byte, which every open connection holds a
    shared lock on; no ``-shm`` file means no connection is open.
    """
    shm = database.with_name(database.name + "-shm")
    try:
        fd = os.open(shm, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _DMS_BYTE, os.SEEK_SET)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, _DMS_BYTE, os.SEEK_SET)
        return False
    finally:
        os.close(fd)


def restore(
    source: Path,
    database: Path,
    *,
    overwrite: bool = False,
    vet: Callable[[Path], None] | None = None,
) -> SQLiteCopy:
    """Replace the SQLite database *database* by the backup *source*.

    Checks *source* first (:func:`inspect_backup`); *database* is replaced only when no
    other process has it open, and (when it exists) only with *overwrite*. The backup is
    first copied to a staging file beside the target, where *vet* (e.g. the audit chain's
    verification) may refuse it by raising; then it goes in through the backup API: the
    target's pages, its WAL included, are replaced in one transaction, so a failure
    leaves the old database as it was.

    Returns what *source* holds.

    Raises:
        InvalidInput: *source* is not an intact backup of this schema, or the target's
            folder is missing, or the copy fails.
        Conflict: the target is open in another process (stop ``openatd serve`` first), or
            exists and not *overwrite*.
    """
    copy = inspect_backup(source)
    if not database.parent.is_dir():
        raise InvalidInput(f"folder {database.parent} does not exist")
    if database.exists() or database.with_name(database.name + "-wal").exists():
        if in_use(database):
            raise Conflict(
                f"{database} is open in another process (a running openatd serve?): "
                "stop it before restoring"
            )
        if not overwrite:
            raise Conflict(f"{database} exists; pass --force to replace it with {source}")
    staging = database.with_name(f".{database.name}.restore-{os.getpid()}")
    try:
        _copy(f"{source.resolve().as_uri()}?mode=ro&immutable=1", staging, source)
        if vet is not None:
            vet(staging)
        _copy(staging.resolve().as_uri(), database, database)
    finally:
        for leftover in (staging, *(staging.with_name(staging.name + x) for x in ("-wal", "-shm"))):
            leftover.unlink(missing_ok=True)
    return copy


def _copy(source_uri: str, dest: Path, what: Path) -> None:
    """Copy a database into *dest* (WAL mode) with the backup API, then check the result."""
    try:
        src = sqlite3.connect(source_uri, uri=True)
        try:
            dst = sqlite3.connect(dest, timeout=10)
            try:
                dst.execute("PRAGMA journal_mode=WAL")
                src.backup(dst)
                _quick_check(dst, what)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise InvalidInput(f"restoring into {dest} failed: {exc}") from None


def _require_sqlite_file(path: Path, what: str) -> None:
    if not path.exists():
        raise InvalidInput(f"{what} {path} does not exist")
    if not path.is_file():
        raise InvalidInput(f"{what} {path} is not a file")
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    if head != SQLITE_MAGIC:
        raise InvalidInput(f"{path} is not a SQLite database")


def _quick_check(conn: sqlite3.Connection, path: Path) -> None:
    try:
        result = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.DatabaseError as exc:
        raise InvalidInput(f"{path} is damaged: {exc}") from None
    if result != ["ok"]:
        raise InvalidInput(f"{path} is damaged: {'; '.join(map(str, result[:3]))}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
