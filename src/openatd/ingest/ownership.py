"""Which devices a pipeline worker owns: bus partitions split among N workers (issue 11).

Lives here: :func:`partition_of` (a device's bus partition) and :class:`WorkerShare` (worker
K of N consumes the partitions p with ``p % N == K``, and only its devices' clock rules run
there). No broker code: the pipeline imports this without ``nats-py``. The NATS bus itself
is :mod:`openatd.ingest.nats_bus`.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from openatd.errors import ConfigurationError


def partition_of(unique_id: str, partitions: int) -> int:
    """The bus partition of a device: ``crc32(unique_id as UTF-8) mod partitions``.

    Stable across processes, machines and Python versions.

    >>> partition_of("123456789012345", 16)
    2
    """
    return zlib.crc32(unique_id.encode()) % partitions


_SPEC = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")


@dataclass(frozen=True, slots=True)
class WorkerShare:
    """This pipeline process is worker *worker* of *workers*, over *partitions* partitions.

    Worker K of N owns the partitions p with ``p % N == K`` and the devices in them. Every
    worker must be started with the same N and the same number of partitions; the
    assignment is static (a dead worker's partitions wait in the stream until it is
    restarted, see :mod:`openatd.ingest.nats_bus`).

    >>> share = WorkerShare.parse("1/2", 4)
    >>> share.partitions_owned, share.label
    ((1, 3), '1/2')
    >>> WorkerShare().owns("123456789012345")  # 0/1, the default, owns every device
    True

    Raises:
        ConfigurationError: not ``0 <= worker < workers <= partitions`` (one line, naming
            ``OPENATD_BUS_WORKER`` / ``--bus-worker``).
    """

    worker: int = 0
    workers: int = 1
    partitions: int = 16

    def __post_init__(self) -> None:
        where = f"OPENATD_BUS_WORKER / --bus-worker {self.worker}/{self.workers}"
        if self.workers < 1 or not 0 <= self.worker < self.workers:
            raise ConfigurationError(f"{where}: K/N needs 0 <= K < N (worker K of N)")
        if self.workers > self.partitions:
            raise ConfigurationError(
                f"{where}: {self.workers} workers for {self.partitions} partitions "
                "(OPENATD_BUS_PARTITIONS) would leave a worker without a partition; "
                "use at most as many workers as partitions"
            )

    @classmethod
    def parse(cls, spec: str, partitions: int) -> WorkerShare:
        """From ``"K/N"`` (the setting's form).

        Raises:
            ConfigurationError: not of the form K/N, or out of range (see the class).
        """
        m = _SPEC.match(spec)
        if m is None:
            raise ConfigurationError(
                f"OPENATD_BUS_WORKER / --bus-worker {spec!r}: expected K/N, e.g. 0/2 "
                "(this process is worker K of N)"
            )
        return cls(int(m.group(1)), int(m.group(2)), partitions)

    @property
    def label(self) -> str:
        """``"K/N"``."""
        return f"{self.worker}/{self.workers}"

    @property
    def partitions_owned(self) -> tuple[int, ...]:
        """The partitions this worker consumes, ascending."""
        return tuple(range(self.worker, self.partitions, self.workers))

    @property
    def is_lead(self) -> bool:
        """True for worker 0: it runs the jobs that must run once across all workers
        (retention, reminders and notifications, check-in sweeps, audit checkpoints,
        position partitions)."""
        return self.worker == 0

    def owns(self, unique_id: str) -> bool:
        """True when *unique_id*'s partition belongs to this worker."""
        if self.workers == 1:
            return True
        return partition_of(unique_id, self.partitions) % self.workers == self.worker
