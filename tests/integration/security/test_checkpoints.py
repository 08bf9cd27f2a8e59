"""Signed audit checkpoints (issue 7 item 6): the database operator rewrites or truncates the
log and recomputes the chain; the plain chain check passes, the checkpoints do not."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from openatd.cli.main import app as cli_app
from openatd.domain.audit import AuditAction, AuditRecord, entry_hash
from openatd.domain.clock import SimulatedClock
from openatd.safeguards import audit, checkpoints
from openatd.safeguards.checkpointer import AuditCheckpointer
from openatd.storage import tables as t
from openatd.storage.db import Database
from openatd.storage.repositories import to_record

T0 = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)


def _append(db: Database, n: int, start: int = 0) -> None:
    with db.uow() as uow:
        for i in range(start, start + n):
            audit.record(
                uow,
                at=T0 + timedelta(seconds=i),
                actor="user:carol",
                action=AuditAction.PARTICIPANT_READ,
                participant_id=1,
                subject_type="participant",
                details={"i": i},
            )


def _recompute_chain(db: Database) -> None:
    """What a database operator with write access does to hide an edit: rehash every entry."""
    with db.engine.begin() as c:
        rows = c.execute(sa.text("SELECT id FROM audit_entries ORDER BY id")).all()
    with db.uow() as uow:
        prev = "0" * 64
        for (entry_id,) in rows:
            e = uow.session.get(t.AuditEntry, entry_id)
            assert e is not None
            record: AuditRecord = to_record(e)
            e.prev_hash = prev
            e.hash = entry_hash(prev, record)
            prev = e.hash
            uow.session.flush()


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(cli_app, list(args))
    return r.exit_code, r.output


@pytest.fixture
def signed(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Database, Path]:
    key = checkpoints.new_signing_key()
    monkeypatch.setenv("OPENATD_AUDIT_SIGNING_KEY", key)
    monkeypatch.setenv("OPENATD_DATABASE_URL", db_url)
    db = Database(db_url)
    db.migrate()
    return db, tmp_path / "checkpoints"


def test_deleting_an_entry_and_recomputing_fails_verify_against_the_checkpoint(
    signed: tuple[Database, Path],
) -> None:
    db, cpdir = signed
    _append(db, 10)
    code, out = _cli("audit", "checkpoint", "--directory", str(cpdir))
    assert code == 0 and "checkpoint #1: 10 entries" in out, out
    _append(db, 5, start=10)
    assert _cli("audit", "checkpoint", "--directory", str(cpdir))[0] == 0
    _append(db, 3, start=15)
    code, out = _cli("audit", "verify", "--checkpoints", str(cpdir))
    assert code == 0 and "2 signed checkpoints hold" in out and "covers 15 entries" in out, out

    # The operator deletes entry 4 and recomputes the chain: the plain check passes...
    with db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM audit_entries WHERE id = 4"))
    _recompute_chain(db)
    assert _cli("audit", "verify")[0] == 0
    # ...the checkpoints do not, and name the first one the rewrite breaks.
    code, out = _cli("audit", "verify", "--checkpoints", str(cpdir))
    assert code == 1
    assert "checkpoint #1" in out and "rewritten" in out, out


def test_cutting_entries_off_the_end_is_caught(signed: tuple[Database, Path]) -> None:
    db, cpdir = signed
    _append(db, 8)
    assert _cli("audit", "checkpoint", "--directory", str(cpdir))[0] == 0
    _append(db, 4, start=8)
    assert _cli("audit", "checkpoint", "--directory", str(cpdir))[0] == 0
    with db.engine.begin() as c:
        c.execute(sa.text("DELETE FROM audit_entries WHERE id > 10"))
    assert _cli("audit", "verify")[0] == 0  # a shorter chain is still a chain
    code, out = _cli("audit", "verify", "--checkpoints", str(cpdir))
    assert code == 1 and "checkpoint #2" in out and "only 10" in out, out
    assert "intact only up to entry 8" in out


def test_forged_or_removed_checkpoints_and_other_keys_are_refused(
    signed: tuple[Database, Path],
) -> None:
    db, cpdir = signed
    _append(db, 3)
    for _ in range(3):
        _append(db, 1, start=50)
        assert _cli("audit", "checkpoint", "--directory", str(cpdir))[0] == 0
    f = cpdir / checkpoints.FILE_NAME
    lines = f.read_text().splitlines()
    # An operator who rewrote the log edits a checkpoint to match: the signature breaks.
    forged = json.loads(lines[1])
    forged["entries"] -= 1
    f.write_text("\n".join([lines[0], json.dumps(forged), lines[2]]) + "\n")
    code, out = _cli("audit", "verify", "--checkpoints", str(f))
    assert code == 1 and "checkpoint #2" in out and "signature" in out, out
    # Dropping a checkpoint from the file breaks the chain of checkpoints.
    f.write_text("\n".join([lines[0], lines[2]]) + "\n")
    code, out = _cli("audit", "verify", "--checkpoints", str(f))
    assert code == 1 and "does not follow checkpoint #1" in out, out
    # Checked with the auditor's own public key, a checkpoint signed by another key fails.
    f.write_text("\n".join(lines) + "\n")
    other = checkpoints.public_key_text(checkpoints.load_signing_key(checkpoints.new_signing_key()))
    code, out = _cli("audit", "verify", "--checkpoints", str(f), "--public-key", other)
    assert code == 1 and "signed by another key" in out, out


def test_the_server_writes_checkpoints_periodically(signed: tuple[Database, Path]) -> None:
    db, cpdir = signed
    key = checkpoints.new_signing_key()
    clock = SimulatedClock(T0)
    _append(db, 2)

    async def run() -> None:
        c = AuditCheckpointer(db.uow, clock, key, cpdir, 0.05)
        c.start()
        await asyncio.sleep(0.4)
        _append(db, 2, start=2)
        await asyncio.sleep(0.4)
        await c.stop()

    asyncio.run(run())
    cps = checkpoints.read_checkpoints(cpdir)
    # Once at start, once after the log grew; none while it did not.
    assert [cp.entries for cp in cps] == [2, 4]
    pub = checkpoints.load_signing_key(key).public_key()
    with db.uow() as uow:
        assert checkpoints.verify_checkpoints(uow, cps, pub).ok
