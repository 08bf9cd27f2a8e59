"""A pipeline process for the kill -9 test: the real pipeline consuming the bus, nothing else.

What ``openatd serve --role pipeline`` runs for the bus, without the API and intake (whose
imports take seconds on a loaded test machine). Usage:
``python nats_pipeline_main.py DB_URL NATS_URL STREAM PREFIX PARTITIONS CONSUMER``.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from openatd.domain.clock import SystemClock
from openatd.ingest.nats_bus import NatsBusConfig, NatsBusConsumer
from openatd.ingest.pipeline import PositionPipeline
from openatd.settings import get_settings
from openatd.storage.db import Database


async def main(db_url: str, url: str, stream: str, prefix: str, parts: str, name: str) -> None:
    db = Database(db_url)
    settings = get_settings(database_url=db_url, env="development", tick_interval_s=3600)
    pipeline = PositionPipeline(db, settings, SystemClock())
    await pipeline.start(ticks=False)
    config = NatsBusConfig(
        url=url,
        stream=stream,
        subject_prefix=prefix,
        partitions=int(parts),
        consumer=name,
        ack_wait_s=5.0,
    )
    consumer = NatsBusConsumer(pipeline, config)
    await consumer.start()
    await asyncio.Event().wait()  # until killed


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(main(*sys.argv[1:7]))
