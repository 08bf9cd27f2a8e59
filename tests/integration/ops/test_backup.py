"""``openatd backup`` / ``openatd restore`` on a real SQLite database (issue 11, operations).

A backup taken while another connection writes is one consistent instant; restored into a
fresh path it has the same rows, and its audit chain verifies. Bad input and a running
service are refused with one line and exit 2; a restore that rolls the audit log back
behind a signed checkpoint is reported (exit 1) and itself recorded in the audit log.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openatd.accounts import create_user
from openatd.cli.main import app
from openatd.domain.clock import SimulatedClock
from openatd.domain.messages import DeviceReport
from openatd.ingest.pipeline import PositionPipeline
from openatd.participants import service
from openatd.safeguards import checkpoints
from openatd.safeguards.auth import Role, TokenClaims
from openatd.settings import get_settings
from openatd.storage.db import Database

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
BATCH = 10

runner = CliRunner()


def _cli(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is a bug: fail with it
    return result.exit_code, result.output


def _fix(i: int) -> DeviceReport:
    t = T0 + timedelta(seconds=i)
    return DeviceReport(
        unique_id="imei-1", fix_time=t, received=t, latitude=41.8781, longitude=-87.6298
    )


def _program(url: str) -> tuple[Database, PositionPipeline]:
    """A migrated database with a staff user, a participant, a device and 5 positions, all
    made through the services (so the audit log has entries)."""
    db = Database(url)
    db.migrate()
    with db.uow() as uow:
        user = create_user(uow, T0, "cm", "correct horse battery", "case_manager")
        claims = TokenClaims(user.id, user.username, Role.CASE_MANAGER, T0 + timedelta(hours=1))
        p = service.create_participant(
            uow, claims, T0, name="Ana", timezone="UTC", supervision_level="gps"
        )
        service.create_device(
            uow, claims, T0, unique_id="imei-1", protocol="gt06", participant_id=p.id
        )
    pipeline = PositionPipeline(db, get_settings(env="development"), SimulatedClock(T0))
    assert pipeline.process([("imei-1", [_fix(i) for i in range(5)])]).stored == 5
    return db, pipeline


def _tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY rowid').fetchall() for n in names}
    finally:
        conn.close()


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


def test_backup_while_writing_then_restore_into_a_fresh_path(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    db, pipeline = _program(f"sqlite:///{live}")
    stop = threading.Event()
    batches: list[int] = []

    def write() -> None:  # another connection writing batches of 10 positions meanwhile
        i = 100
        while not stop.is_set():
            result = pipeline.process([("imei-1", [_fix(i + k) for k in range(BATCH)])])
            assert result.stored == BATCH
            batches.append(result.stored)
            i += BATCH

    writer = threading.Thread(target=write)
    writer.start()
    try:
        while len(batches) < 3:
            stop.wait(0.01)
        before = 5 + BATCH * len(batches)
        code, out = _cli("backup", str(tmp_path / "b.db"), "--database-url", f"sqlite:///{live}")
        after_backup = len(batches)
        while len(batches) < after_backup + 3:  # the writer went on after the backup
            stop.wait(0.01)
    finally:
        stop.set()
        writer.join(timeout=30)
        db.dispose()
    assert code == 0, out
    assert "sha256" in out and "audit entries" in out
    copied = _count(tmp_path / "b.db", "positions")
    # one instant: whole batches only, at least what was committed before the backup began
    assert copied % BATCH == 5 and copied >= before
    assert copied < _count(live, "positions")

    fresh = tmp_path / "restored" / "openatd.db"
    fresh.parent.mkdir()
    code, out = _cli("restore", str(tmp_path / "b.db"), "--database-url", f"sqlite:///{fresh}")
    assert code == 0, out
    assert "audit log OK" in out and "chain intact" in out

    backup_rows, restored_rows = _tables(tmp_path / "b.db"), _tables(fresh)
    assert restored_rows.keys() == backup_rows.keys()
    for table, rows in backup_rows.items():
        if table == "audit_entries":  # the restore itself is the one entry added
            assert restored_rows[table][: len(rows)] == rows
            assert len(restored_rows[table]) == len(rows) + 1
            assert "database:restore" in restored_rows[table][-1]
        else:
            assert restored_rows[table] == rows, table
    assert len(backup_rows["positions"]) == copied and copied > 0
    assert len(backup_rows["participants"]) == 1

    code, out = _cli("audit", "verify", "--database-url", f"sqlite:///{fresh}")
    assert code == 0 and "chain intact" in out, out


def test_restore_refuses_bad_input_without_a_traceback(tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    db, _ = _program(f"sqlite:///{target}")
    db.dispose()
    url = f"sqlite:///{target}"
    good = tmp_path / "good.db"
    assert _cli("backup", str(good), "--database-url", url)[0] == 0

    code, out = _cli("backup", str(good), "--database-url", url)
    assert code == 2 and "exists; pass --force" in out

    code, out = _cli("restore", str(good), "--database-url", url)
    assert code == 2 and "exists; pass --force to replace it" in out

    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    code, out = _cli("restore", str(text), "--database-url", url, "--force")
    assert code == 2 and "is not a SQLite database" in out

    code, out = _cli("restore", str(tmp_path / "missing.db"), "--database-url", url, "--force")
    assert code == 2 and "does not exist" in out

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    code, out = _cli("restore", str(other), "--database-url", url, "--force")
    assert code == 2 and "not an OpenATD one" in out

    old = tmp_path / "old.db"
    shutil.copy(good, old)
    with sqlite3.connect(old) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001'")
    code, out = _cli("restore", str(old), "--database-url", url, "--force")
    assert code == 2 and "schema revision 0001; this version of OpenATD needs" in out

    walled = tmp_path / "walled.db"  # a live database (its -wal beside it), not a backup
    shutil.copy(good, walled)
    conn = sqlite3.connect(walled)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE scratch (x)")
        conn.commit()
        code, out = _cli("restore", str(walled), "--database-url", url, "--force")
    finally:
        conn.close()
    assert code == 2 and "it is a live database, not a backup" in out

    # an audit entry rewritten inside the backup: refused, the database left as it was
    forged = tmp_path / "forged.db"
    shutil.copy(good, forged)
    with sqlite3.connect(forged) as conn:
        conn.execute("UPDATE audit_entries SET actor = 'user:nobody' WHERE id = 1")
    before = _tables(target)
    code, out = _cli("restore", str(forged), "--database-url", url, "--force")
    assert code == 2 and "audit log in" in out and "is broken at entry 1" in out
    assert "nothing restored" in out
    assert _tables(target) == before
    assert not list(tmp_path.glob(".target.db.restore-*"))  # no staging file left behind


def test_restore_refuses_while_another_process_has_the_database_open(tmp_path: Path) -> None:
    target = tmp_path / "target.db"
    db, _ = _program(f"sqlite:///{target}")
    db.dispose()
    good = tmp_path / "good.db"
    assert _cli("backup", str(good), "--database-url", f"sqlite:///{target}")[0] == 0
    holder = subprocess.Popen(  # as a running service does: a WAL connection kept open
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
            "c.execute('PRAGMA journal_mode=WAL'); c.execute('SELECT count(*) FROM users'); "
            "print('open', flush=True); sys.stdin.read()",
            str(target),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        code, out = _cli("restore", str(good), "--database-url", f"sqlite:///{target}", "--force")
        assert code == 2 and "is open in another process" in out, out
    finally:
        holder.communicate("", timeout=10)
    code, out = _cli("restore", str(good), "--database-url", f"sqlite:///{target}", "--force")
    assert code == 0, out  # closed: now it may


def test_a_restore_behind_a_signed_checkpoint_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = checkpoints.new_signing_key()
    cp_dir = tmp_path / "checkpoints"
    cp_dir.mkdir()
    monkeypatch.setenv("OPENATD_AUDIT_SIGNING_KEY", key)
    monkeypatch.setenv("OPENATD_AUDIT_CHECKPOINT_DIR", str(cp_dir))
    target = tmp_path / "target.db"
    url = f"sqlite:///{target}"
    db, _ = _program(url)
    old = tmp_path / "old.db"
    assert _cli("backup", str(old), "--database-url", url)[0] == 0
    with db.uow() as uow:  # later work, then the server's checkpoint signs the longer log
        create_user(uow, T0, "sup", "correct horse battery", "supervisor")
    with db.uow() as uow:
        assert checkpoints.checkpoint_now(uow, key, cp_dir, T0, force=True) is not None
    db.dispose()

    code, out = _cli("restore", str(old), "--database-url", url, "--force")
    assert code == 1, out
    assert "audit log OK" in out  # the old log is a sound chain by itself ...
    assert "signed checkpoints do NOT hold" in out  # ... but the signed one was longer
    assert "entries were removed or cut off the end" in out
    with sqlite3.connect(target) as conn:
        action, details = conn.execute(
            "SELECT action, details FROM audit_entries ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert action == "database:restore" and '"checkpoints_hold": false' in details


def test_postgresql_is_pointed_to_its_own_tools() -> None:
    url = "postgresql://openatd@127.0.0.1:1/openatd"
    for command in ("backup", "restore"):
        code, out = _cli(command, "x.dump", "--database-url", url)
        assert code == 2
        assert "pg_dump -Fc" in out and "pg_basebackup" in out and "docs/operations.md" in out
