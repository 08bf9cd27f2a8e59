"""A pipeline process for the kill -9 tests: the real pipeline consuming the bus, nothing else.

What ``openatd serve --role pipeline`` runs for the bus, without the API and intake (whose
imports take seconds on a loaded test machine). Usage:
``python nats_pipeline_main.py DB_URL NATS_URL STREAM PREFIX PARTITIONS CONSUMER
[WORKER_K/N SEEN_FILE TICK_S OFFLINE_AFTER_S]``.

With the optional arguments: this is pipeline worker K of N; every device and fix time it
hands to the pipeline is appended to SEEN_FILE (``uid<TAB>fix time`` lines, in the order
handed over, flushed at once so that a ``kill -9`` loses none); the clock rules run every
TICK_S seconds once the backlog is read (as ``serve`` does), offline after OFFLINE_AFTER_S.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

from openatd.domain.clock import SystemClock
from openatd.domain.messages import DeviceReport
from openatd.ingest.nats_bus import NatsBusConfig
from openatd.ingest.nats_consumer import NatsBusConsumer
from openatd.ingest.ownership import WorkerShare
from openatd.ingest.pipeline import PositionPipeline
from openatd.settings import get_settings
from openatd.storage.db import Database


class _Recording(PositionPipeline):
    """The pipeline, writing down what the consumer hands it (in that order)."""

    seen_path = ""

    async def submit_many(self, items: Sequence[tuple[str, Sequence[DeviceReport]]]) -> int:
        if self.seen_path:
            with open(self.seen_path, "a") as out:
                for uid, reports in items:
                    for r in reports:
                        if r.fix_time is not None:
                            out.write(f"{uid}\t{r.fix_time.isoformat()}\n")
                out.flush()
        return await super().submit_many(items)


async def main(
    db_url: str,
    url: str,
    stream: str,
    prefix: str,
    parts: str,
    name: str,
    worker: str = "0/1",
    seen: str = "",
    tick_s: str = "3600",
    offline_after_s: str = "1800",
) -> None:
    db = Database(db_url)
    settings = get_settings(
        database_url=db_url,
        env="development",
        tick_interval_s=float(tick_s),
        offline_after_s=int(offline_after_s),
    )
    share = WorkerShare.parse(worker, int(parts))
    pipeline = _Recording(db, settings, SystemClock(), share=share)
    pipeline.seen_path = seen
    await pipeline.start(ticks=False)
    config = NatsBusConfig(
        url=url,
        stream=stream,
        subject_prefix=prefix,
        partitions=int(parts),
        consumer=name,
        ack_wait_s=5.0,
        worker=share.worker,
        workers=share.workers,
    )
    consumer = NatsBusConsumer(pipeline, config)
    await consumer.start()
    await consumer.caught_up.wait()
    pipeline.start_ticks()
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(*sys.argv[1:11]))
