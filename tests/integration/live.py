"""A real ``openatd serve`` in a thread, on loopback ports, for integration tests."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass

from free_ports import free_port


@dataclass
class LiveServer:
    """A real ``openatd serve`` in a thread: API and OsmAnd intake on loopback ports."""

    api: str
    intake: str
    database_url: str
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    task: asyncio.Task[None]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(timeout=20)


def start_live_server(database_url: str, **overrides: object) -> LiveServer:
    from openatd.cli.serve import run_server
    from openatd.settings import get_settings

    http_port, osmand_port = free_port(), free_port()
    settings = get_settings(
        database_url=database_url,
        http_port=http_port,
        osmand_port=osmand_port,
        env="development",
        **overrides,
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict[str, asyncio.Task[None]] = {}
    errors: list[BaseException] = []

    async def main() -> None:
        ev = asyncio.Event()
        task = asyncio.create_task(run_server(settings, ready=ev))
        holder["task"] = task
        waiter = asyncio.create_task(ev.wait())
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        ready.set()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except BaseException as exc:
            errors.append(exc)

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(30) or errors or holder["task"].done():
        raise RuntimeError(f"server did not start: {errors}")
    return LiveServer(
        api=f"http://127.0.0.1:{http_port}",
        intake=f"http://127.0.0.1:{osmand_port}",
        database_url=database_url,
        thread=thread,
        loop=loop,
        task=holder["task"],
    )
