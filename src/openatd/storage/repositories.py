"""Repositories: the only code that builds queries. One class per aggregate.

Each takes a :class:`sqlalchemy.orm.Session` that a :class:`UnitOfWork` owns,
so a request's changes and its audit entry commit together or not at all.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Select, Table, delete, event, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from openatd.domain.audit import GENESIS, AuditRecord, entry_hash
from openatd.errors import Conflict, NotFound, StorageUnavailable
from openatd.storage import tables as t
from openatd.storage.position_rows import (
    PositionRow,
    driver_executemany,
    insert_position_rows,
    sqlite_time,
)

_AUDIT_LOCK = threading.Lock()


class UserRepository:
    """Staff users."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, username: str, password_hash: str, role: str, now: datetime) -> t.User:
        """Create a user. Raises Conflict when the username is taken."""
        if self.by_username(username) is not None:
            raise Conflict(f"user {username!r} already exists")
        user = t.User(
            username=username, password_hash=password_hash, role=role, active=True, created_at=now
        )
        self.s.add(user)
        self.s.flush()
        return user

    def list(self) -> Sequence[t.User]:
        """Every staff user, by id."""
        return self.s.scalars(select(t.User).order_by(t.User.id)).all()

    def by_username(self, username: str) -> t.User | None:
        return self.s.scalar(select(t.User).where(t.User.username == username))

    def get(self, user_id: int) -> t.User:
        """Raises NotFound."""
        user = self.s.get(t.User, user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    def requires_totp(self, role: str) -> bool:
        """Whether an administrator requires a second factor for *role*."""
        policy = self.s.get(t.RolePolicy, role)
        return bool(policy and policy.require_totp)

    def set_requires_totp(self, role: str, required: bool) -> bool:
        """Set the policy of *role*; returns the previous value."""
        policy = self.s.get(t.RolePolicy, role)
        before = bool(policy and policy.require_totp)
        if policy is None:
            self.s.add(t.RolePolicy(role=role, require_totp=required))
        else:
            policy.require_totp = required
        self.s.flush()
        return before


class ParticipantRepository:
    """Participants and caseload assignments."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Participant:
        p = t.Participant(**fields)
        self.s.add(p)
        self.s.flush()
        return p

    def get(self, participant_id: int) -> t.Participant:
        """Raises NotFound."""
        p = self.s.get(t.Participant, participant_id)
        if p is None:
            raise NotFound(f"participant {participant_id} not found")
        return p

    def list(self, *, user_id: int | None = None) -> Sequence[t.Participant]:
        """All participants, or those on *user_id*'s caseload."""
        q: Select[tuple[t.Participant]] = select(t.Participant).order_by(t.Participant.id)
        if user_id is not None:
            q = q.join(
                t.CaseloadAssignment, t.CaseloadAssignment.participant_id == t.Participant.id
            ).where(t.CaseloadAssignment.user_id == user_id)
        return self.s.scalars(q).all()

    def assign(self, user_id: int, participant_id: int, now: datetime) -> None:
        if not self.is_assigned(user_id, participant_id):
            self.s.add(
                t.CaseloadAssignment(user_id=user_id, participant_id=participant_id, created_at=now)
            )
            self.s.flush()

    def is_assigned(self, user_id: int, participant_id: int) -> bool:
        return (
            self.s.scalar(
                select(t.CaseloadAssignment.id).where(
                    t.CaseloadAssignment.user_id == user_id,
                    t.CaseloadAssignment.participant_id == participant_id,
                )
            )
            is not None
        )


class DeviceRepository:
    """Devices (trackers, phones)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Device:
        """Raises Conflict when the unique id is taken."""
        if self.by_unique_id(fields["unique_id"]) is not None:
            raise Conflict(f"device {fields['unique_id']!r} already exists")
        d = t.Device(**fields)
        self.s.add(d)
        self.s.flush()
        return d

    def get(self, device_id: int) -> t.Device:
        d = self.s.get(t.Device, device_id)
        if d is None:
            raise NotFound(f"device {device_id} not found")
        return d

    def by_unique_id(self, unique_id: str) -> t.Device | None:
        return self.s.scalar(select(t.Device).where(t.Device.unique_id == unique_id))

    def list(self, participant_ids: Sequence[int] | None = None) -> Sequence[t.Device]:
        q = select(t.Device).order_by(t.Device.id)
        if participant_ids is not None:
            q = q.where(t.Device.participant_id.in_(participant_ids))
        return self.s.scalars(q).all()

    def all_ids(self) -> dict[str, tuple[int, int | None]]:
        """``unique_id → (device id, participant id)`` for every device."""
        rows = self.s.execute(select(t.Device.unique_id, t.Device.id, t.Device.participant_id))
        return {u: (i, p) for u, i, p in rows}

    def touch(self, device_id: int, at: datetime) -> None:
        """Record that *device_id* was last heard from at *at*."""
        self.touch_many({device_id: at})

    def touch_many(self, seen: Mapping[int, datetime]) -> None:
        """Record last-heard instants (device id → timezone-aware UTC time) for many devices
        in one batched UPDATE, through the driver: once per device per pipeline batch,
        SQLAlchemy's per-value conversion cost more than the UPDATE (issue 11).

        Raises:
            ValueError: a naive time.
        """
        if not seen:
            return
        params: list[tuple[Any, ...]]
        if self.s.get_bind().dialect.name == "sqlite":
            params = [(sqlite_time(v), k) for k, v in seen.items()]
        else:
            if any(v.tzinfo is None for v in seen.values()):
                raise ValueError("naive datetime given to a UTC column")
            params = [(v, k) for k, v in seen.items()]
        driver_executemany(self.s, "UPDATE devices SET last_seen_at = ? WHERE id = ?", params)


class ZoneRepository:
    """Zones of participants."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Zone:
        z = t.Zone(**fields)
        self.s.add(z)
        self.s.flush()
        return z

    def get(self, zone_id: int) -> t.Zone:
        z = self.s.get(t.Zone, zone_id)
        if z is None:
            raise NotFound(f"zone {zone_id} not found")
        return z

    def all_active(self) -> Sequence[t.Zone]:
        """Every active zone of every participant (to build the rule engines at start)."""
        return self.s.scalars(
            select(t.Zone).where(t.Zone.active.is_(True)).order_by(t.Zone.id)
        ).all()

    def for_participant(self, participant_id: int) -> Sequence[t.Zone]:
        return self.s.scalars(
            select(t.Zone)
            .where(t.Zone.participant_id == participant_id, t.Zone.active.is_(True))
            .order_by(t.Zone.id)
        ).all()

    def delete(self, zone: t.Zone) -> None:
        zone.active = False


class PositionRepository:
    """Stored fixes. Reads are per participant only (purpose limitation, principle 2)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> int:
        """Bulk insert position rows; a row whose (device, fix time) exists is skipped.

        *rows* all have the same keys (column names). Returns the number of rows
        inserted. PostgreSQL: multi-row ``INSERT … ON CONFLICT DO NOTHING RETURNING id``
        (psycopg reports no row count for batched inserts). SQLite: the driver's own
        ``executemany`` of ``INSERT … ON CONFLICT DO NOTHING`` with each value bound by
        its column type's own bind processor (so rows are stored exactly as through the
        ORM), which is several times faster than going through the statement compiler
        for every row, and whose row count is exact.
        """
        if not rows:
            return 0
        table = t.Position.__table__
        assert isinstance(table, Table)
        dialect = self.s.get_bind().dialect
        if dialect.name == "sqlite":
            return self._insert_many_sqlite(table, rows, dialect)
        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=["device_id", "fix_time"])
        return len(self.s.execute(stmt.returning(table.c.id), list(rows)).all())

    def insert_rows(self, rows: Sequence[PositionRow]) -> int:
        """Bulk insert position row tuples without the ORM's value conversion (the
        pipeline's path; see :mod:`openatd.storage.position_rows`). Returns rows stored."""
        return insert_position_rows(self.s, rows)

    def _insert_many_sqlite(
        self, table: Table, rows: Sequence[dict[str, Any]], dialect: Any
    ) -> int:
        cols = list(rows[0])
        procs = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in cols]
        params = [
            tuple(p(row[c]) if p is not None else row[c] for c, p in zip(cols, procs, strict=True))
            for row in rows
        ]
        sql = (
            f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            "ON CONFLICT (device_id, fix_time) DO NOTHING"
        )
        raw = self.s.connection().connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        try:
            cursor.executemany(sql, params)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def for_participant(
        self, participant_id: int, start: datetime, end: datetime, limit: int = 10000
    ) -> Sequence[t.Position]:
        """Fixes of one participant with ``start <= fix_time < end``, in fix-time order."""
        return self.s.scalars(
            select(t.Position)
            .where(
                t.Position.participant_id == participant_id,
                t.Position.fix_time >= start,
                t.Position.fix_time < end,
            )
            .order_by(t.Position.fix_time, t.Position.id)
            .limit(limit)
        ).all()

    def get(self, position_id: int) -> t.Position:
        p = self.s.get(t.Position, position_id)
        if p is None:
            raise NotFound(f"position {position_id} not found")
        return p

    def purge_before(self, cutoff: datetime) -> int:
        """Delete fixes received before *cutoff* unless held for an open review."""
        res = self.s.execute(
            delete(t.Position).where(
                t.Position.server_time < cutoff, t.Position.in_review.is_(False)
            )
        )
        return int(getattr(res, "rowcount", 0) or 0)


class EventRepository:
    """Events: what rules and devices observed."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def insert_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self.s.execute(insert(t.Event), list(rows))

    def purge_before(self, cutoff: datetime) -> int:
        """Delete events dated before *cutoff*; returns how many."""
        res = self.s.execute(delete(t.Event).where(t.Event.time < cutoff))
        return int(getattr(res, "rowcount", 0) or 0)


class AlertRepository:
    """Alerts and their lifecycle."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Alert:
        a = t.Alert(**fields)
        self.s.add(a)
        self.s.flush()
        return a

    def add_many(self, rows: Sequence[Mapping[str, Any]]) -> list[t.Alert]:
        """Add one alert per mapping of column values, in one flush (the ORM batches the
        INSERTs); returns them with their ids, in order. A flush per alert was a tenth of
        the pipeline's CPU at one alert per 30 positions (issue 11)."""
        alerts = [t.Alert(**row) for row in rows]
        if alerts:
            self.s.add_all(alerts)
            self.s.flush()
        return alerts

    def get(self, alert_id: int) -> t.Alert:
        a = self.s.get(t.Alert, alert_id)
        if a is None:
            raise NotFound(f"alert {alert_id} not found")
        return a

    def list(
        self,
        *,
        participant_ids: Sequence[int] | None = None,
        status: str | None = None,
        limit: int = 500,
    ) -> Sequence[t.Alert]:
        q = select(t.Alert).order_by(t.Alert.raised_at.desc(), t.Alert.id.desc()).limit(limit)
        if participant_ids is not None:
            q = q.where(t.Alert.participant_id.in_(participant_ids))
        if status is not None:
            q = q.where(t.Alert.status == status)
        return self.s.scalars(q).all()


_AUDIT_QUEUE = "openatd.audit_queue"
"""``Session.info`` key of the entries a transaction has appended but not yet written."""


class AuditRepository:
    """The hash-chained audit log. Appends are serialised so the chain stays linear.

    Lock order: an entry is queued by :meth:`append` and written when the transaction
    commits (or when it next reads the audit table), after everything else it changed has
    been flushed. The chain's lock is therefore the last lock any transaction takes, so two
    transactions can never each hold what the other waits for (a request resolving an
    alert holding the chain while a background task holding that alert's row waits for the
    chain was a deadlock on PostgreSQL).
    """

    def __init__(self, session: Session) -> None:
        self.s = session

    def append(self, record: AuditRecord) -> None:
        """Queue *record*; it is written with this transaction, before it commits."""
        self.s.info.setdefault(_AUDIT_QUEUE, []).append(record)

    def append_now(self, record: AuditRecord) -> t.AuditEntry:
        """Write the queued entries and *record* at once; returns *record*'s entry (its id
        is known before commit). Takes the chain's lock until commit: call it last."""
        self.append(record)
        entries = write_queued_audit(self.s)
        return entries[-1]

    def write_queued(self) -> list[t.AuditEntry]:
        """Write what :meth:`append` queued (see :func:`write_queued_audit`)."""
        return write_queued_audit(self.s)

    def count_since(self, actor: str, action: str, since: datetime) -> int:
        """Entries by *actor* with *action* at or after *since*."""
        n = self.s.scalar(
            select(func.count(t.AuditEntry.id)).where(
                t.AuditEntry.actor == actor,
                t.AuditEntry.action == action,
                t.AuditEntry.at >= since,
            )
        )
        return int(n or 0)

    def last_at(self, actor: str, action: str) -> datetime | None:
        """When *actor* last did *action*, if ever."""
        return self.s.scalar(
            select(func.max(t.AuditEntry.at)).where(
                t.AuditEntry.actor == actor, t.AuditEntry.action == action
            )
        )

    def first_prev_hash(self) -> str | None:
        """``prev_hash`` of the oldest stored entry (None for an empty log)."""
        return self.s.scalar(select(t.AuditEntry.prev_hash).order_by(t.AuditEntry.id).limit(1))

    def retention_anchors(self) -> set[str]:
        """Anchors recorded by purges of the audit log itself (``details.anchor``)."""
        rows = self.s.scalars(
            select(t.AuditEntry.details).where(
                t.AuditEntry.action == "retention:purge",
                t.AuditEntry.subject_type == "audit_entries",
            )
        ).all()
        return {str(d["anchor"]) for d in rows if isinstance(d, dict) and d.get("anchor")}

    def purge_before(
        self, cutoff: datetime
    ) -> tuple[int, str | None, datetime | None, datetime | None]:
        """Delete the oldest entries, those up to the last one dated before *cutoff* (a prefix
        of the chain). Returns ``(count, hash of the last deleted = the new anchor, oldest,
        newest)``."""
        last = self.s.execute(
            select(t.AuditEntry.id, t.AuditEntry.hash)
            .where(t.AuditEntry.at < cutoff)
            .order_by(t.AuditEntry.id.desc())
            .limit(1)
        ).first()
        if last is None:
            return 0, None, None, None
        span = self.s.execute(
            select(func.min(t.AuditEntry.at), func.max(t.AuditEntry.at)).where(
                t.AuditEntry.id <= last[0]
            )
        ).one()
        res = self.s.execute(delete(t.AuditEntry).where(t.AuditEntry.id <= last[0]))
        return int(getattr(res, "rowcount", 0) or 0), str(last[1]), span[0], span[1]

    def iter_chain(self, batch: int = 5000) -> Iterator[tuple[int, AuditRecord, str, str]]:
        """Every entry in id order as ``(id, record, prev_hash, hash)``."""
        last = 0
        while True:
            rows = self.s.scalars(
                select(t.AuditEntry)
                .where(t.AuditEntry.id > last)
                .order_by(t.AuditEntry.id)
                .limit(batch)
            ).all()
            if not rows:
                return
            for e in rows:
                yield e.id, to_record(e), e.prev_hash, e.hash
                last = e.id

    def list(
        self, *, participant_id: int | None = None, limit: int = 500
    ) -> Sequence[t.AuditEntry]:
        """Newest first; with *participant_id*, every entry about that participant, including
        caseload-wide reads that returned their data."""
        q = select(t.AuditEntry).order_by(t.AuditEntry.id.desc()).limit(limit)
        if participant_id is not None:
            q = q.where(t.AuditEntry.id.in_(_entries_about(participant_id)))
        return self.s.scalars(q).all()

    def head(self) -> tuple[int, int, str] | None:
        """``(count, id of the last entry, its hash)``, or ``None`` for an empty log."""
        last = self.s.execute(
            select(t.AuditEntry.id, t.AuditEntry.hash).order_by(t.AuditEntry.id.desc()).limit(1)
        ).first()
        if last is None:
            return None
        n = self.s.scalar(select(func.count(t.AuditEntry.id)))
        return int(n or 0), int(last[0]), str(last[1])


def _entries_about(participant_id: int) -> Any:
    return select(t.AuditEntryParticipant.entry_id).where(
        t.AuditEntryParticipant.participant_id == participant_id
    )


def participants_of(record: AuditRecord) -> set[int]:
    """Participant ids an entry is about: its ``participant_id`` and
    ``details["participant_ids"]`` (caseload-wide reads)."""
    ids: set[int] = set()
    if record.participant_id is not None:
        ids.add(int(record.participant_id))
    extra = (record.details or {}).get("participant_ids")
    if isinstance(extra, list):
        ids.update(int(i) for i in extra if isinstance(i, int))
    return ids


def to_record(e: t.AuditEntry) -> AuditRecord:
    """The hashed fields of a stored entry."""
    return AuditRecord(
        at=e.at,
        actor=e.actor,
        action=e.action,
        subject_type=e.subject_type,
        subject_id=e.subject_id,
        participant_id=e.participant_id,
        reason=e.reason,
        details=e.details,
    )


def write_queued_audit(session: Session) -> list[t.AuditEntry]:
    """Write the entries queued on *session*, in order, after the current head.

    Flushes the session's other changes first (their row locks come before the chain's).
    PostgreSQL: a transaction-scoped advisory lock serialises appends across processes
    and threads (held to commit). SQLite: the database's write lock is taken first (an
    empty ``UPDATE``), then a process lock around the read-then-insert (for connections
    shared between threads). Always in that order: a read-only transaction that took the
    process lock and then waited for the write lock deadlocked, until SQLite's busy
    timeout failed it with "database is locked", with a writer waiting for the process
    lock at its commit (CI, ``GET /api/alerts`` during the missed-check-in sweep). Never
    both kinds: a thread holding the process lock while it waits for another
    transaction's advisory lock deadlocks with that transaction's next append.
    """
    records: list[AuditRecord] = session.info.pop(_AUDIT_QUEUE, [])
    if not records:
        return []
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7420001)"))
        return [_append_entry(session, r) for r in records]
    session.execute(text("UPDATE audit_entries SET id = id WHERE 0"))
    with _AUDIT_LOCK:
        return [_append_entry(session, r) for r in records]


def _append_entry(session: Session, record: AuditRecord) -> t.AuditEntry:
    prev = session.scalar(select(t.AuditEntry.hash).order_by(t.AuditEntry.id.desc()).limit(1))
    prev_hash = prev or GENESIS
    entry = t.AuditEntry(
        at=record.at,
        actor=record.actor,
        action=record.action,
        subject_type=record.subject_type,
        subject_id=record.subject_id,
        participant_id=record.participant_id,
        reason=record.reason,
        details=dict(record.details) if record.details is not None else None,
        prev_hash=prev_hash,
        hash=entry_hash(prev_hash, record),
    )
    session.add(entry)
    session.flush()
    for pid in sorted(participants_of(record)):
        session.add(t.AuditEntryParticipant(entry_id=entry.id, participant_id=pid))
    session.flush()
    return entry


@event.listens_for(Session, "do_orm_execute")
def _audit_reads_see_queued(state: ORMExecuteState) -> None:
    """A query of the audit table sees the entries its own transaction has queued."""
    session = state.session
    if session.info.get(_AUDIT_QUEUE) and any(
        m.class_ is t.AuditEntry or m.class_ is t.AuditEntryParticipant for m in state.all_mappers
    ):
        write_queued_audit(session)


class UnitOfWork:
    """One transaction and the repositories that share it.

    >>> with UnitOfWork(factory) as uow:   # doctest: +SKIP
    ...     uow.participants.get(1)
    Commits on a clean exit, rolls back on an exception.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self.before_commit: list[Callable[[UnitOfWork], object]] = []
        """Run in order inside the transaction just before it commits (e.g. the one audit
        entry of a request's reads, ``safeguards/reads.py``); an error there rolls back."""
        self.scratch: dict[str, Any] = {}
        """Per-transaction state of code above storage (keyed by its module name)."""

    def __enter__(self) -> UnitOfWork:
        self.before_commit = []
        self.scratch = {}
        self.session = self._factory()
        self.session.begin()
        s = self.session
        self.users = UserRepository(s)
        self.participants = ParticipantRepository(s)
        self.devices = DeviceRepository(s)
        self.zones = ZoneRepository(s)
        self.positions = PositionRepository(s)
        self.events = EventRepository(s)
        self.alerts = AlertRepository(s)
        self.audit = AuditRepository(s)
        self.face_templates = FaceTemplateRepository(s)
        self.checkin_schedules = CheckInScheduleRepository(s)
        self.checkins = CheckInRepository(s)
        self.incidents = IncidentRepository(s)
        self.exports = ParticipantExportRepository(s)
        self.service_state = ServiceStateRepository(s)
        from openatd.storage import outbox

        self.obligations = outbox.ObligationRepository(s)
        self.outbox = outbox.OutboxRepository(s)
        self.participant_messages = outbox.ParticipantMessageRepository(s)
        self.visits = outbox.VisitRepository(s)
        self.staff = outbox.StaffRepository(s)
        from openatd.storage import safeguard_repositories as sr

        self.notices = sr.NoticeRepository(s)
        self.level_history = sr.LevelHistoryRepository(s)
        self.evidence = sr.EvidenceRepository(s)
        self.retention = sr.RetentionRepository(s)
        self.stats = sr.StatsRepository(s)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                try:
                    for hook in self.before_commit:
                        hook(self)
                    self.audit.write_queued()  # the chain's lock is the last one taken
                    self.session.commit()
                except IntegrityError as err:
                    self.session.rollback()
                    raise Conflict(f"conflicting change: {err.orig}") from err
                except (OperationalError, InterfaceError, SATimeoutError) as err:
                    self.session.rollback()
                    cause = getattr(err, "orig", None) or err
                    raise StorageUnavailable(f"the database failed: {cause}") from err
            else:
                with contextlib.suppress(OperationalError, InterfaceError, SATimeoutError):
                    self.session.rollback()
                if isinstance(exc, OperationalError | InterfaceError | SATimeoutError):
                    raise StorageUnavailable(f"the database failed: {exc}") from exc
        finally:
            self.session.close()

    def flush(self) -> None:
        self.session.flush()


class FaceTemplateRepository:
    """Enrolled face templates (Fernet ciphertext only; never a photo)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def for_participant(self, participant_id: int) -> Sequence[t.FaceTemplate]:
        return self.s.scalars(
            select(t.FaceTemplate)
            .where(t.FaceTemplate.participant_id == participant_id)
            .order_by(t.FaceTemplate.id)
        ).all()

    def add(self, **fields: Any) -> t.FaceTemplate:
        row = t.FaceTemplate(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def delete_for_participant(self, participant_id: int) -> int:
        """Delete every template of one participant; returns how many."""
        res = self.s.execute(
            delete(t.FaceTemplate).where(t.FaceTemplate.participant_id == participant_id)
        )
        return int(getattr(res, "rowcount", 0) or 0)

    def all(self) -> Sequence[t.FaceTemplate]:
        """Every template (key rotation)."""
        return self.s.scalars(select(t.FaceTemplate).order_by(t.FaceTemplate.id)).all()


class CheckInScheduleRepository:
    """Check-in obligations: weekly windows and ad-hoc requests."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.CheckInSchedule:
        row = t.CheckInSchedule(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, schedule_id: int) -> t.CheckInSchedule:
        """Raises NotFound."""
        row = self.s.get(t.CheckInSchedule, schedule_id)
        if row is None:
            raise NotFound(f"check-in schedule {schedule_id} not found")
        return row

    def for_participant(
        self, participant_id: int, *, active_only: bool = True
    ) -> Sequence[t.CheckInSchedule]:
        q = select(t.CheckInSchedule).where(t.CheckInSchedule.participant_id == participant_id)
        if active_only:
            q = q.where(t.CheckInSchedule.active.is_(True))
        return self.s.scalars(q.order_by(t.CheckInSchedule.id)).all()

    def all_active(self, *, for_update: bool = False) -> Sequence[t.CheckInSchedule]:
        """Every active schedule, by id. *for_update*: lock the rows until the transaction
        ends (PostgreSQL ``FOR UPDATE``; SQLite has one writer anyway), so that a change
        committed meanwhile is read, not overwritten."""
        q = (
            select(t.CheckInSchedule)
            .where(t.CheckInSchedule.active.is_(True))
            .order_by(t.CheckInSchedule.id)
        )
        return self.s.scalars(q.with_for_update() if for_update else q).all()


class CheckInRepository:
    """Check-in attempts and their reviews."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.CheckIn:
        row = t.CheckIn(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, checkin_id: int) -> t.CheckIn:
        """Raises NotFound."""
        row = self.s.get(t.CheckIn, checkin_id)
        if row is None:
            raise NotFound(f"check-in {checkin_id} not found")
        return row

    def for_window(self, schedule_id: int, window_start: datetime) -> Sequence[t.CheckIn]:
        """Attempts for one window of one schedule, in order."""
        return self.s.scalars(
            select(t.CheckIn)
            .where(t.CheckIn.schedule_id == schedule_id, t.CheckIn.window_start == window_start)
            .order_by(t.CheckIn.id)
        ).all()

    def for_participant(self, participant_id: int, limit: int = 1000) -> Sequence[t.CheckIn]:
        """Newest first."""
        return self.s.scalars(
            select(t.CheckIn)
            .where(t.CheckIn.participant_id == participant_id)
            .order_by(t.CheckIn.server_time.desc(), t.CheckIn.id.desc())
            .limit(limit)
        ).all()


class IncidentRepository:
    """Outage windows of the server or its dependencies."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, **fields: Any) -> t.Incident:
        row = t.Incident(**fields)
        self.s.add(row)
        self.s.flush()
        return row

    def open_of_kind(self, kind: str) -> Sequence[t.Incident]:
        return self.s.scalars(
            select(t.Incident)
            .where(t.Incident.kind == kind, t.Incident.ended_at.is_(None))
            .order_by(t.Incident.id)
        ).all()

    def overlapping(self, start: datetime, end: datetime) -> Sequence[t.Incident]:
        """Incidents whose ``[started_at, ended_at or open]`` meets ``[start, end]``."""
        return self.s.scalars(
            select(t.Incident)
            .where(
                t.Incident.started_at <= end,
                (t.Incident.ended_at.is_(None)) | (t.Incident.ended_at >= start),
            )
            .order_by(t.Incident.id)
        ).all()


class ParticipantExportRepository:
    """Everything held about one participant, for their own export (DESIGN principle 6)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def positions(self, participant_id: int, batch: int = 5000) -> Iterator[t.Position]:
        """Every stored fix of the participant, in id order (paged)."""
        last = 0
        while True:
            rows = self.s.scalars(
                select(t.Position)
                .where(t.Position.participant_id == participant_id, t.Position.id > last)
                .order_by(t.Position.id)
                .limit(batch)
            ).all()
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def events(self, participant_id: int) -> Sequence[t.Event]:
        """Every event recorded about the participant (device alarms, suppressed alerts)."""
        return self.s.scalars(
            select(t.Event).where(t.Event.participant_id == participant_id).order_by(t.Event.id)
        ).all()

    def audit_entries(self, participant_id: int) -> Sequence[t.AuditEntry]:
        """Audit entries about the participant, oldest first."""
        return self.s.scalars(
            select(t.AuditEntry)
            .where(t.AuditEntry.id.in_(_entries_about(participant_id)))
            .order_by(t.AuditEntry.id)
        ).all()


class ServiceStateRepository:
    """Named instants about the service itself (``alive`` = last heartbeat of a running server)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, key: str, *, lock: bool = False) -> datetime | None:
        """The instant stored under *key*, or None; *lock*: hold the row until commit
        (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite has one writer anyway)."""
        row = self.s.get(t.ServiceState, key, with_for_update=lock or None)
        return None if row is None else row.at

    def set(self, key: str, at: datetime) -> None:
        row = self.s.get(t.ServiceState, key)
        if row is None:
            self.s.add(t.ServiceState(key=key, at=at))
        else:
            row.at = at
