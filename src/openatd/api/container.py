"""What a running OpenATD holds: settings, database, clock and the position pipeline."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from openatd.domain.clock import Clock, SystemClock
from openatd.safeguards.throttle import LoginThrottle
from openatd.settings import Settings
from openatd.storage.db import Database
from openatd.storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from openatd.checkins.face import FaceVerifier
    from openatd.ingest.bus import IngestWorkers
    from openatd.ingest.nats_consumer import NatsBusConsumer
    from openatd.ingest.pipeline import PositionPipeline

_VERIFIER_LOCK = threading.Lock()


@dataclass
class Container:
    """Wiring of one OpenATD process; built once by :func:`build_container`."""

    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    pipeline: PositionPipeline | None = None
    ingest_workers: IngestWorkers | None = None
    """The ingest processes and their bus, when ``openatd serve --workers N`` (N > 1) runs
    them; ``/health`` pings the bus."""
    bus_consumer: NatsBusConsumer | None = None
    """The NATS bus consumer, with ``--bus``: ``/health`` says which worker and partitions."""
    face_verifier: FaceVerifier | None = None
    login_throttle: LoginThrottle = field(init=False)
    """Staff log-in counters (per client address, per account)."""
    portal_throttle: LoginThrottle = field(init=False)
    """Participant sign-in counters (per client address)."""

    def __post_init__(self) -> None:
        s = self.settings
        common: dict[str, Any] = {
            "free_failures": s.login_free_failures,
            "base_delay_s": s.login_base_delay_s,
            "max_delay_s": s.login_max_delay_s,
            "failure_window_s": s.login_failure_window_s,
            "client_rate": s.login_client_rate,
        }
        self.login_throttle = LoginThrottle(s.rate_limit_storage, prefix="openatd:login", **common)
        self.portal_throttle = LoginThrottle(
            s.rate_limit_storage, prefix="openatd:portal", **common
        )

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return self.db.uow()

    def verifier(self) -> FaceVerifier:
        """The process's face verifier, built on first use from the installed model package.

        Raises:
            VerificationUnavailable: the model package is missing or its files are altered.
        """
        if self.face_verifier is None:
            with _VERIFIER_LOCK:
                if self.face_verifier is None:
                    from openatd.checkins.face import OpenCVFaceVerifier

                    self.face_verifier = OpenCVFaceVerifier.from_installed_package()
        return self.face_verifier

    def pipeline_changed(self, participant_id: int | None) -> None:
        """Tell the rules that a participant's zones, devices or policy changed."""
        if self.pipeline is not None:
            self.pipeline.invalidate(participant_id)


def build_container(settings: Settings, clock: Clock | None = None) -> Container:
    """Connect to the configured database, apply migrations, wire the pipeline."""
    from openatd.ingest.pipeline import PositionPipeline

    db = Database(settings.database_url)
    db.migrate()
    c = Container(settings=settings, db=db, clock=clock or SystemClock())
    c.pipeline = PositionPipeline(db, settings, c.clock, share=settings.worker_share)
    return c
