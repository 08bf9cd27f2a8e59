"""What a running OpenATD holds: settings, database, clock and the position pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from openatd.domain.clock import Clock, SystemClock
from openatd.settings import Settings
from openatd.storage.db import Database
from openatd.storage.repositories import UnitOfWork

if TYPE_CHECKING:
    from openatd.ingest.pipeline import PositionPipeline


@dataclass
class Container:
    """Wiring of one OpenATD process; built once by :func:`build_container`."""

    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    pipeline: PositionPipeline | None = None

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return self.db.uow()

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
    c.pipeline = PositionPipeline(db, settings, c.clock)
    return c
