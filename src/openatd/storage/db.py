"""Database engines, sessions and migrations.

The embedded default is a SQLite file in WAL mode, created and migrated on
first start; PostgreSQL (psycopg 3) is used when the URL says so
(``postgresql+psycopg://...``). Migrations are Alembic's, run in-process.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from openatd.errors import ConfigurationError, StorageUnavailable

if TYPE_CHECKING:
    from openatd.storage.repositories import UnitOfWork

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def normalise_url(url: str) -> str:
    """Map plain ``postgresql://`` / ``postgres://`` URLs to the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for *url*; SQLite gets WAL, foreign keys and a busy timeout.

    Raises:
        ConfigurationError: the URL cannot be parsed or its driver is missing.
    """
    url = normalise_url(url)
    try:
        if url.startswith("sqlite"):
            engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 10}, **kwargs
            )
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True, **kwargs)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise ConfigurationError(f"cannot use database URL {url!r}: {exc}") from exc
    return engine


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that migrates *engine* (the URL comes from settings, not an ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to *revision* (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory; objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


class Database:
    """One database: its engine, session factory and units of work.

    >>> db = Database("sqlite:///openatd.db")  # doctest: +SKIP
    >>> db.migrate(); uow = db.uow()           # doctest: +SKIP
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url, **engine_kwargs)
        self.factory = session_factory(self.engine)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return str(self.engine.dialect.name)

    def migrate(self) -> None:
        """Apply every Alembic migration (idempotent).

        Raises:
            ConfigurationError: the database cannot be reached or refuses us.
        """
        try:
            migrate(self.engine)
        except OperationalError as exc:
            safe = self.engine.url.render_as_string(hide_password=True)
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise ConfigurationError(f"cannot use the database {safe}: {reason}") from exc

    def ping(self) -> None:
        """Run ``SELECT 1`` on a pooled connection (the health check; blocking: call it off
        the event loop). Takes well under a millisecond on a healthy database.

        Raises:
            StorageUnavailable: the database refused or failed; the message is the driver's
                first line (no password, no rows).
        """
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            orig = getattr(exc, "orig", None)
            lines = str(orig if orig is not None else exc).strip().splitlines()
            raise StorageUnavailable(lines[0] if lines else type(exc).__name__) from exc

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        from openatd.storage.repositories import UnitOfWork

        return UnitOfWork(self.factory)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
