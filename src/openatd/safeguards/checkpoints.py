"""Signed checkpoints of the audit log: tamper evidence against the database operator.

The hash chain alone cannot catch whoever controls the database: they can delete an entry
and recompute every later hash, or cut entries off the end. A checkpoint pins the chain from
outside: the number of entries, the id and hash of the last one and the time, signed with an
Ed25519 key (RFC 8032, :mod:`cryptography`) that the database operator does not hold, and
appended to a file outside the database that an auditor may copy anywhere.

File format (``<OPENATD_AUDIT_CHECKPOINT_DIR>/checkpoints.jsonl``), one JSON object a line::

    {"seq": 3, "at": "2026-03-09T15:00:00.000000Z", "entries": 1204, "last_id": 1210,
     "head_hash": "<sha256 hex>", "prev": "<sha256 hex of the previous line, or null>",
     "key_id": "<first 16 hex of sha256(raw public key)>", "signature": "<base64>"}

``signature`` is Ed25519 over the canonical JSON (sorted keys, no spaces) of every other
field; ``prev`` chains the checkpoints, so removing or editing one is seen too. The file is
only ever opened for appending (``O_APPEND``) and each line is fsync'ed; make it append-only
at the filesystem too (``chattr +a``) and copy it off the machine (see docs/security.md).

Verification (:func:`verify_checkpoints`) walks the chain and checks, for each checkpoint in
order, that its signature holds under the auditor's public key, that it follows its
predecessor, and that the log's ``entries``-th entry exists and has the signed id and hash. The
first checkpoint that fails names what happened: entries cut off the end (truncation), or the
log up to it rewritten (an entry deleted, edited or inserted and the chain recomputed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from openatd.domain.audit import first_broken_link
from openatd.errors import ConfigurationError, InvalidInput
from openatd.storage.repositories import UnitOfWork

FILE_NAME = "checkpoints.jsonl"


def load_signing_key(value: str) -> Ed25519PrivateKey:
    """The Ed25519 private key from a setting: PEM (PKCS#8), base64 of the 32 raw bytes, or
    ``@/path`` to a file holding either.

    Raises:
        ConfigurationError: empty, unreadable or not an Ed25519 key.
    """
    text = value.strip()
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text().strip()
        except OSError as exc:
            raise ConfigurationError(f"cannot read the audit signing key file: {exc}") from exc
    if not text:
        raise ConfigurationError("OPENATD_AUDIT_SIGNING_KEY is not set")
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ConfigurationError("OPENATD_AUDIT_SIGNING_KEY is not an Ed25519 key")
            return key
        raw = base64.b64decode(text, validate=True)
        return Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(
            "OPENATD_AUDIT_SIGNING_KEY must be an Ed25519 key: PEM or base64 of 32 bytes"
        ) from exc


def load_public_key(value: str) -> Ed25519PublicKey:
    """An Ed25519 public key: base64 of the 32 raw bytes, PEM, or ``@/path`` to either.

    Raises:
        InvalidInput: not an Ed25519 public key.
    """
    text = value.strip()
    if text.startswith("@"):
        text = Path(text[1:]).read_text().strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise InvalidInput("not an Ed25519 public key")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError) as exc:
        raise InvalidInput("the public key must be base64 of 32 bytes or PEM (Ed25519)") from exc


def new_signing_key() -> str:
    """A new Ed25519 private key as base64 of its 32 raw bytes (``openatd audit keygen``)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return base64.b64encode(raw).decode()


def public_key_text(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """The public key as base64 of its 32 raw bytes (what an auditor keeps)."""
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def key_id(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    """First 16 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(base64.b64decode(public_key_text(key))).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed statement: "at ``at`` the log had ``entries`` entries, the last with id
    ``last_id`` and hash ``head_hash``"."""

    seq: int
    at: str
    entries: int
    last_id: int
    head_hash: str
    prev: str | None
    key_id: str
    signature: str = ""

    def signed_bytes(self) -> bytes:
        """Canonical JSON of every field but the signature (what is signed)."""
        body = {k: v for k, v in asdict(self).items() if k != "signature"}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def line(self) -> str:
        """The checkpoint as one line of the file."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def _line_hash(cp: Checkpoint) -> str:
    return hashlib.sha256(cp.line().encode()).hexdigest()


def _file(path: Path) -> Path:
    return path / FILE_NAME if path.is_dir() or not path.suffix else path


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """Every checkpoint in *path* (the directory or the file itself), in file order.

    Raises:
        InvalidInput: a line that is not a checkpoint (names the line number).
    """
    f = _file(path)
    if not f.exists():
        return []
    out = []
    for n, text in enumerate(f.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        try:
            out.append(Checkpoint(**json.loads(text)))
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"{f}: line {n} is not a checkpoint") from exc
    return out


def make_checkpoint(
    uow: UnitOfWork, key: Ed25519PrivateKey, now: datetime, previous: Checkpoint | None
) -> Checkpoint | None:
    """A signed checkpoint of the log's head now; ``None`` for an empty log."""
    head = uow.audit.head()
    if head is None:
        return None
    count, last_id, head_hash = head
    cp = Checkpoint(
        seq=(previous.seq + 1) if previous else 1,
        at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        entries=count,
        last_id=last_id,
        head_hash=head_hash,
        prev=_line_hash(previous) if previous else None,
        key_id=key_id(key),
    )
    signature = base64.b64encode(key.sign(cp.signed_bytes())).decode()
    return Checkpoint(**{**asdict(cp), "signature": signature})


def append_checkpoint(directory: Path, cp: Checkpoint) -> Path:
    """Append *cp* to the checkpoint file in *directory* (created if missing), with
    ``O_APPEND`` and an fsync; returns the file's path."""
    directory.mkdir(parents=True, exist_ok=True)
    f = directory / FILE_NAME
    fd = os.open(f, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (cp.line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return f


def checkpoint_now(
    uow: UnitOfWork, signing_key: str, directory: Path, now: datetime, *, force: bool = False
) -> Checkpoint | None:
    """Sign the log's head and append it to *directory*'s file, unless nothing was appended
    since the last checkpoint (then ``None``; *force* writes one anyway).

    Raises:
        ConfigurationError: no or a bad signing key.
    """
    key = load_signing_key(signing_key)
    existing = read_checkpoints(directory)
    previous = existing[-1] if existing else None
    cp = make_checkpoint(uow, key, now, previous)
    if cp is None:
        return None
    if previous is not None and not force and previous.head_hash == cp.head_hash:
        return None
    append_checkpoint(directory, cp)
    return cp


@dataclass(frozen=True, slots=True)
class CheckpointReport:
    """What :func:`verify_checkpoints` found.

    ``ok`` when every checkpoint holds; else ``broken_seq`` is the first checkpoint that does
    not and ``problem`` says why. ``verified_entries`` is how many entries the last good
    checkpoint covers.
    """

    ok: bool
    entries: int
    checkpoints: int
    verified_entries: int
    broken_seq: int | None = None
    problem: str | None = None


def verify_checkpoints(
    uow: UnitOfWork, checkpoints: Iterable[Checkpoint], public_key: Ed25519PublicKey
) -> CheckpointReport:
    """Check the log against signed checkpoints (see the module docstring).

    The hash chain is checked too; a chain broken before the first failing checkpoint is
    reported as that checkpoint's problem.
    """
    cps = list(checkpoints)
    want_kid = key_id(public_key)
    prev: Checkpoint | None = None
    for cp in cps:
        if cp.key_id != want_kid:
            return _bad(uow, cps, cp, f"signed by another key ({cp.key_id}, expected {want_kid})")
        try:
            public_key.verify(base64.b64decode(cp.signature), cp.signed_bytes())
        except (InvalidSignature, ValueError):
            return _bad(uow, cps, cp, "its signature does not hold (the checkpoint was altered)")
        if prev is not None and (cp.prev != _line_hash(prev) or cp.seq != prev.seq + 1):
            return _bad(
                uow, cps, cp, f"it does not follow checkpoint #{prev.seq} (one removed or altered)"
            )
        if prev is not None and cp.entries < prev.entries:
            return _bad(uow, cps, cp, "it covers fewer entries than the one before")
        prev = cp
    # Walk the chain once, remembering the position and hash at each checkpoint.
    wanted = {cp.entries: cp for cp in cps}
    seen: dict[int, tuple[int, str]] = {}
    count = 0
    broken_at: int | None = None

    def walk() -> Iterable[tuple[int, object, str, str]]:
        nonlocal count
        for item in uow.audit.iter_chain():
            count += 1
            if count in wanted:
                seen[count] = (item[0], item[3])
            yield item

    broken = first_broken_link(walk())  # type: ignore[arg-type]
    if broken is not None:
        broken_at = broken.entry_id
        # Count the rest so truncation is still measured right.
        head = uow.audit.head()
        count = head[0] if head else 0
    verified = 0
    for cp in cps:
        if count < cp.entries:
            return CheckpointReport(
                False,
                count,
                len(cps),
                verified,
                cp.seq,
                f"checkpoint #{cp.seq} ({cp.at}) signed {cp.entries} entries; the log now has "
                f"only {count}: entries were removed or cut off the end",
            )
        got = seen.get(cp.entries)
        if (
            got is None
            or got != (cp.last_id, cp.head_hash)
            or (broken_at is not None and broken_at <= cp.last_id)
        ):
            found = f"id {got[0]}, hash {got[1][:12]}…" if got else "no such entry"
            return CheckpointReport(
                False,
                count,
                len(cps),
                verified,
                cp.seq,
                f"checkpoint #{cp.seq} ({cp.at}) signed entry {cp.entries} as id {cp.last_id}, "
                f"hash {cp.head_hash[:12]}…; the log has {found}: the log up to it was "
                "rewritten (an entry deleted, edited or inserted and the chain recomputed)",
            )
        verified = cp.entries
    if broken is not None:
        return CheckpointReport(
            False,
            count,
            len(cps),
            verified,
            None,
            f"the chain breaks at entry {broken.entry_id}, after the last checkpoint: "
            f"{broken.reason}",
        )
    return CheckpointReport(True, count, len(cps), verified)


def _bad(uow: UnitOfWork, cps: list[Checkpoint], cp: Checkpoint, why: str) -> CheckpointReport:
    head = uow.audit.head()
    return CheckpointReport(
        False, head[0] if head else 0, len(cps), 0, cp.seq, f"checkpoint #{cp.seq}: {why}"
    )
