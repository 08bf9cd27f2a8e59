"""Tracker ingest servers: the asyncio listeners that devices connect to.

This is the only code in OpenATD that opens sockets for trackers. One TCP
listener per enabled protocol (plus a UDP endpoint on the same port number for
protocols whose session class lists ``"udp"`` in ``transports``), each on its
configurable port, Traccar's port by default (``SESSION.default_port``).

Per connection (per remote address for UDP):

1. a fresh :class:`~openatd.protocols.base.ProtocolSession` is fed the bytes
   (sans-I/O; incomplete frames stay buffered in the session);
2. a frame that breaks its protocol is logged with its raw hex and counted in
   ``openatd_ingest_decode_errors_total{protocol=...}``; the connection goes on;
3. a decoded frame is attributed to a device: the message's own ``unique_id``,
   else the session's (set by the login frame). Every report is stamped with
   ``received = clock.now()`` (the arrival of the bytes) and its device id;
4. frames of one connection are handled strictly in order by one worker task
   (which exists only while frames are waiting, so idle connections cost no task):
   unknown devices (:meth:`ReportSink.is_known` false) are logged and counted and
   their data is neither stored nor acknowledged; known devices' reports are
   awaited through :meth:`ReportSink.submit`, and only once it has returned
   (durably stored) is the frame's reply (the ACK) written. If ``submit`` raises,
   nothing is acknowledged, so the device keeps the data and sends it again.
   Consecutive waiting frames of the same device are submitted together (one
   ``submit`` call, replies then written in order), which keeps ordering and the
   ACK-after-storage rule while cutting the per-frame overhead under load;
5. a TCP connection silent for ``idle_timeout_s`` seconds is closed.

Unknown devices, decided here: a login (or any frame) from an unregistered
device gets **no reply at all**, not even the login ACK, and the connection is
left open until the idle timeout. A device without its login ACK keeps its
positions in its own memory and retries, so nothing is lost if an operator
registers it later; answering its login would make it send positions that we
would then refuse to ACK. Unknown results are re-checked at most every
``unknown_recheck_s`` seconds per connection, known results are cached for the
connection's life (a ``NotFound`` from ``submit`` drops the cache entry).

Hostile input (issue 14). Sessions enforce the framing contract of
:class:`~openatd.protocols.base.ProtocolSession` (bounded frames, a bounded buffer of
``max_buffer`` bytes, a CPU budget per frame); a session that exceeds its buffer bound
is closed here (``openatd_ingest_closed_early{reason="buffer_bound"}``). Until a
*registered* device has identified itself on a TCP connection, the connection may
send at most ``unidentified_bytes`` and stay at most ``unidentified_timeout_s``
seconds (reasons ``unidentified_bytes`` / ``unidentified_timeout``); a device
reconnects and resends, so nothing a real tracker holds is lost. Decode errors and
unknown devices are counted always but logged at most once a minute per source
address (:class:`_PeerLog`), so a flood cannot flood the log.

Metrics (see :class:`~openatd.ingest.metrics.IngestMetrics`) live on the
``CollectorRegistry`` passed in. Back-pressure: when more than
``max_pending_frames`` frames or ``max_pending_bytes`` bytes of frames wait on one
connection, reading from it pauses until half of that has been processed.

Example (what ``openatd serve`` does next to the HTTP API)::

    server = IngestServer(sink, listeners_from_settings(settings),
                          host=settings.tracker_host, clock=SystemClock(),
                          idle_timeout_s=settings.idle_timeout_s, registry=registry)
    bound = await server.start()      # {"gt06": BoundListener("gt06", 5023, None), ...}
    ...
    await server.stop()
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry

from openatd.domain.clock import Clock, SystemClock
from openatd.domain.messages import DeviceReport
from openatd.errors import InvalidInput, NotFound, OpenATDError, ProtocolDecodeError
from openatd.ingest.metrics import IngestMetrics
from openatd.ingest.sink import ReportSink
from openatd.protocols.base import (
    DEFAULT_FRAME_BUDGET_S,
    DEFAULT_MAX_BUFFER,
    FrameResult,
    ProtocolSession,
)
from openatd.protocols.registry import session_class
from openatd.settings import Settings

__all__ = [
    "BoundListener",
    "IngestServer",
    "ListenerSpec",
    "event_loop_factory",
    "listeners_from_settings",
    "run",
]

log = logging.getLogger("openatd.ingest")

_T = TypeVar("_T")
_Address = Any  # socket address as asyncio reports it: (host, port) or (host, port, flow, scope)


@dataclass(frozen=True, slots=True)
class ListenerSpec:
    """One protocol to listen for.

    Attributes:
        protocol: a name from :data:`openatd.protocols.registry.PROTOCOL_NAMES`.
        port: TCP (and UDP) port; ``None`` means the protocol's Traccar default
            port, ``0`` an ephemeral port chosen by the OS (tests).
        udp: also open a UDP endpoint when the protocol supports UDP.
    """

    protocol: str
    port: int | None = None
    udp: bool = True


@dataclass(frozen=True, slots=True)
class BoundListener:
    """The ports a protocol's listener actually bound (``udp_port`` is ``None`` without UDP)."""

    protocol: str
    tcp_port: int
    udp_port: int | None


def listeners_from_settings(settings: Settings) -> list[ListenerSpec]:
    """Listener specs from ``settings.protocols``.

    Each comma-separated entry is ``name`` (Traccar's default port) or
    ``name:port``, e.g. ``OPENATD_PROTOCOLS="gt06,teltonika:6027"``.

    Raises:
        InvalidInput: a port that is not an integer in 0..65535, or a protocol twice.
    """
    specs: list[ListenerSpec] = []
    seen: set[str] = set()
    for entry in settings.enabled_protocols:
        name, _, port_text = entry.partition(":")
        name = name.strip()
        port: int | None = None
        if port_text.strip():
            try:
                port = int(port_text)
            except ValueError:
                raise InvalidInput(f"protocol port is not an integer: {entry!r}") from None
            if not 0 <= port <= 65535:
                raise InvalidInput(f"protocol port out of range 0..65535: {entry!r}")
        if name in seen:
            raise InvalidInput(f"protocol listed twice: {name!r}")
        seen.add(name)
        specs.append(ListenerSpec(name, port))
    return specs


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """``uvloop.new_event_loop`` when uvloop is installed (an optional speed-up), else ``None``."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, _T], *, use_uvloop: bool = True) -> _T:
    """Run *main* to completion on a new event loop (uvloop if installed and wanted)."""
    factory = event_loop_factory() if use_uvloop else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


# One waiting unit of work on a link: (frame sequence number, device id or None,
# stamped reports, reply bytes or None, frame bytes counted for back-pressure).
_Item = tuple[int, str | None, list[DeviceReport], bytes | None, int]


class _PeerLog:
    """Log lines rate-limited per (source host, kind): at most one per ``period_s`` seconds.

    A suppressed line is counted and the count is said in the next line that passes.
    At most ``max_keys`` keys are remembered (then the table starts afresh), so a flood
    from many addresses costs bounded memory.
    """

    __slots__ = ("_seen", "max_keys", "period_s")

    def __init__(self, period_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.period_s = period_s
        self.max_keys = max_keys
        self._seen: dict[tuple[str, str], list[float]] = {}

    def allow(self, peer: _Address, kind: str) -> tuple[bool, int]:
        """Whether to log now for *peer*'s host and *kind*, and how many were suppressed."""
        host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
        key = (host, kind)
        now = time.monotonic()
        entry = self._seen.get(key)
        if entry is None:
            if len(self._seen) >= self.max_keys:
                self._seen.clear()
            self._seen[key] = [now, 0.0]
            return True, 0
        if now - entry[0] >= self.period_s:
            suppressed = int(entry[1])
            entry[0], entry[1] = now, 0.0
            return True, suppressed
        entry[1] += 1
        return False, 0


class _Link:
    """In-order processing of one peer's frames (a TCP connection or a UDP remote address)."""

    __slots__ = (
        "_failed_seq",
        "_known",
        "_pending",
        "_seq",
        "_warned",
        "claimed",
        "closed",
        "on_drained",
        "on_trusted",
        "on_unknown",
        "peer",
        "pending_bytes",
        "protocol",
        "send",
        "server",
        "session",
        "trusted",
        "worker",
    )

    def __init__(
        self,
        server: IngestServer,
        protocol: str,
        session: ProtocolSession,
        peer: _Address,
        send: Callable[[bytes], None],
    ) -> None:
        self.server = server
        self.protocol = protocol
        self.session = session
        self.peer = peer
        self.send = send
        self.closed = False
        self.worker: asyncio.Task[None] | None = None
        self.on_drained: Callable[[int], None] | None = None
        self.trusted = False
        """A registered device has identified itself on this link."""
        self.on_trusted: Callable[[], None] | None = None
        self.on_unknown: Callable[[], None] | None = None
        self.claimed = False
        """A frame on this link named a device (it may still turn out unregistered)."""
        self.pending_bytes = 0
        """Bytes of the frames waiting for the worker (back-pressure)."""
        self._pending: deque[_Item] | None = None
        self._known: dict[str, tuple[bool, float]] | None = None
        self._warned: set[str] | None = None
        self._seq = 0
        self._failed_seq = -1

    @property
    def waiting(self) -> int:
        """Frames waiting for the worker."""
        return 0 if self._pending is None else len(self._pending)

    def accept(self, results: Iterable[FrameResult]) -> None:
        """Take the session's frame results for one chunk/datagram (called synchronously)."""
        server = self.server
        now = None
        frames = 0
        for result in results:
            if result.error is not None or result.decoded is None:
                server._decode_error(self.protocol, self.peer, result.error, result.frame)
                continue
            frames += 1
            decoded = result.decoded
            if not decoded.messages and decoded.reply is None:
                continue
            self._seq += 1
            if (
                decoded.unique_id
                or self.session.unique_id
                or any(m.unique_id for m in decoded.messages)
            ):
                self.claimed = True
            size = len(result.frame)
            self.pending_bytes += size
            frame_id = decoded.unique_id or self.session.unique_id
            if now is None:
                now = server.clock.now()
            if self._pending is None:
                self._pending = deque()
            if not decoded.messages:
                self._pending.append((self._seq, frame_id, [], decoded.reply, size))
                continue
            groups: list[tuple[str | None, list[DeviceReport]]] = []
            for msg in decoded.messages:
                if "invalid_fields" in msg.extras:
                    server.metrics.partial_frames.labels(self.protocol).inc()
                uid = msg.unique_id or frame_id
                msg.received = now  # a fresh report of this frame: stamped in place
                msg.unique_id = uid
                if groups and groups[-1][0] == uid:
                    groups[-1][1].append(msg)
                else:
                    groups.append((uid, [msg]))
            last = len(groups) - 1
            for i, (uid, reports) in enumerate(groups):
                self._pending.append(
                    (self._seq, uid, reports, decoded.reply if i == last else None, size)
                )
                size = 0  # counted once per frame
        if frames:
            server.metrics_frames(self.protocol, frames)
        if self._pending and self.worker is None:
            self.worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        pending = self._pending
        assert pending is not None
        limit = self.server.max_batch_reports
        try:
            while pending:
                seq, uid, reports, reply, size = pending.popleft()
                self.pending_bytes -= size
                replies = [reply] if reply is not None else []
                frames = 1
                # Coalesce the following frames of the same device into one submit.
                while pending and pending[0][1] == uid and len(reports) < limit:
                    seq, _, more, more_reply, size = pending.popleft()
                    self.pending_bytes -= size
                    frames += 1
                    reports.extend(more)  # lists are built per item in accept(): ours to grow
                    if more_reply is not None:
                        replies.append(more_reply)
                if self.on_drained is not None:
                    self.on_drained(len(pending))
                ok = await self._process(uid, reports, frames)
                if not ok:
                    self._failed_seq = seq
                elif replies and seq != self._failed_seq and not self.closed:
                    self.send(replies[0] if len(replies) == 1 else b"".join(replies))
        finally:
            self.worker = None

    async def _process(self, uid: str | None, reports: list[DeviceReport], frames: int) -> bool:
        """Store *reports* of device *uid* (from *frames* frames); True when they may be ACKed."""
        server = self.server
        if uid is None:
            server.metrics.unidentified_frames.labels(self.protocol).inc(frames)
            if self._warn_once(""):
                server.peer_log(
                    self.peer,
                    "unidentified",
                    logging.INFO,
                    "%s %s: frames before the device identified itself; not stored",
                    self.protocol,
                    self.peer,
                )
            return False
        try:
            known = await self._is_known(uid)
        except OpenATDError as exc:  # the bus could not ask the pipeline: not ACKed, re-sent
            server.metrics.submit_failures.labels(self.protocol).inc()
            log.error("%s device %s: not acknowledged: %s", self.protocol, uid, exc)
            return False
        if not known:
            server.metrics.unknown_device_frames.labels(self.protocol).inc(frames)
            return False
        if not reports:
            return True
        try:
            await server.sink.submit(uid, self.protocol, reports)
        except NotFound:
            if self._known is not None:
                self._known.pop(uid, None)
            server.metrics.unknown_device_frames.labels(self.protocol).inc(frames)
            log.warning(
                "%s device %s: unknown at submit; %d reports not stored, not acknowledged",
                self.protocol,
                uid,
                len(reports),
            )
            return False
        except OpenATDError as exc:
            server.metrics.submit_failures.labels(self.protocol).inc()
            log.error(
                "%s device %s: storing %d reports failed, not acknowledged: %s",
                self.protocol,
                uid,
                len(reports),
                exc,
            )
            return False
        except Exception:
            server.metrics.submit_failures.labels(self.protocol).inc()
            log.exception(
                "%s device %s: sink raised; %d reports not acknowledged",
                self.protocol,
                uid,
                len(reports),
            )
            return False
        server.metrics.reports.labels(self.protocol).inc(len(reports))
        return True

    async def _is_known(self, uid: str) -> bool:
        loop_time = asyncio.get_running_loop().time()
        if self._known is None:
            self._known = {}
        cached = self._known.get(uid)
        if cached is not None:
            known, checked = cached
            if known or loop_time - checked < self.server.unknown_recheck_s:
                return known
        known = await self.server.sink.is_known(uid)
        self._known[uid] = (known, loop_time)
        if not known:
            if self.on_unknown is not None:
                self.on_unknown()
            self.server.peer_log(
                self.peer,
                "unknown",
                logging.WARNING,
                "%s %s: unknown device %s; its data is not stored or acknowledged",
                self.protocol,
                self.peer,
                uid,
            )
        elif not self.trusted:
            self.trusted = True
            if self.on_trusted is not None:
                self.on_trusted()
        return known

    def _warn_once(self, key: str) -> bool:
        if self._warned is None:
            self._warned = set()
        if key in self._warned:
            return False
        self._warned.add(key)
        return True


class _TcpConnection(asyncio.Protocol):
    """One device TCP connection: feeds the session, arms the idle timer, owns a :class:`_Link`.

    Until a registered device identifies itself (``_link.trusted``), the connection may
    send ``server.unidentified_bytes`` bytes and live ``server.unidentified_timeout_s``
    seconds; past either it is closed (counted in ``closed_early``).
    """

    __slots__ = (
        "_first_timer",
        "_held",
        "_last_rx",
        "_link",
        "_paused",
        "_rejected",
        "_rx_untrusted",
        "_timer",
        "_transport",
        "server",
    )

    def __init__(self, server: IngestServer, protocol: str, cls: type[ProtocolSession]) -> None:
        self.server = server
        self._link = _Link(server, protocol, server.new_session(cls), None, self._write)
        self._link.on_trusted = self._trusted
        self._link.on_unknown = self._unknown
        self._held = False
        self._rejected = False
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._first_timer: asyncio.TimerHandle | None = None
        self._last_rx = 0.0
        self._rx_untrusted = 0
        self._paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio's classes
        self._transport = cast(asyncio.Transport, transport)
        self._link.peer = transport.get_extra_info("peername")
        server = self.server
        server._connections.add(self)
        server.metrics.connections.labels(self._link.protocol).inc()
        server.metrics.connections_total.labels(self._link.protocol).inc()
        loop = asyncio.get_running_loop()
        self._last_rx = loop.time()
        if math.isfinite(server.idle_timeout_s):
            self._timer = loop.call_at(self._last_rx + server.idle_timeout_s, self._check_idle)
        if math.isfinite(server.unidentified_timeout_s):
            self._first_timer = loop.call_later(
                server.unidentified_timeout_s, self._close_early, "unidentified_timeout"
            )

    def _trusted(self) -> None:
        if self._first_timer is not None:
            self._first_timer.cancel()
            self._first_timer = None
        if self._held:  # the allowance ran out while the registry was being asked
            self._held = False
            transport = self._transport
            if not self._paused and transport is not None and not transport.is_closing():
                transport.resume_reading()

    def _unknown(self) -> None:
        self._rejected = True
        if self._held:
            self._close_early("unidentified_bytes")

    def _close_early(self, reason: str) -> None:
        self._first_timer = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        link = self._link
        self.server.metrics.closed_early.labels(link.protocol, reason).inc()
        self.server.peer_log(
            link.peer,
            reason,
            logging.WARNING,
            "%s %s: closing: %s (%d bytes received before a registered device identified)",
            link.protocol,
            link.peer,
            reason.replace("_", " "),
            self._rx_untrusted,
        )
        transport.abort()

    def data_received(self, data: bytes) -> None:
        link = self._link
        server = self.server
        self._last_rx = asyncio.get_running_loop().time()
        if not link.trusted:
            self._rx_untrusted += len(data)
        started = time.perf_counter()
        try:
            results = link.session.receive_data(data)
        except Exception as exc:  # a decoder bug in framing must not take the connection down
            link.session._buffer.clear()  # resynchronise: drop what the framer choked on
            err = ProtocolDecodeError(link.protocol, f"framing failed: {exc!r}", data[:64])
            server._decode_error(link.protocol, link.peer, err, data[:64])
            return
        server.metrics.decode_seconds.labels(link.protocol).observe(time.perf_counter() - started)
        link.accept(results)
        if link.session.failed is not None:
            self._close_early("buffer_bound")
            return
        if not link.trusted and self._rx_untrusted > server.unidentified_bytes:
            # A device was named but the registry has not answered yet (a registered
            # device's first burst): stop reading until it does, instead of buffering.
            if self._rejected or not link.claimed:
                self._close_early("unidentified_bytes")
            elif not self._held and self._transport is not None:
                self._held = True
                if not self._paused:
                    self._transport.pause_reading()
            return
        if not self._paused and (
            link.waiting >= server.max_pending_frames
            or link.pending_bytes >= server.max_pending_bytes
        ):
            assert self._transport is not None
            self._paused = True
            self._transport.pause_reading()
            link.on_drained = self._maybe_resume

    def _maybe_resume(self, waiting: int) -> None:
        server = self.server
        if (
            self._paused
            and waiting <= server.max_pending_frames // 2
            and self._link.pending_bytes <= server.max_pending_bytes // 2
        ):
            self._paused = False
            self._link.on_drained = None
            transport = self._transport
            if transport is not None and not transport.is_closing() and not self._held:
                transport.resume_reading()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _check_idle(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._last_rx + self.server.idle_timeout_s
        if loop.time() < deadline or self._link.worker is not None:
            self._timer = loop.call_at(max(deadline, loop.time() + 0.05), self._check_idle)
            return
        self._timer = None
        self.server.metrics.idle_closed.labels(self._link.protocol).inc()
        log.info(
            "%s %s: idle for %ss, closing",
            self._link.protocol,
            self._link.peer,
            self.server.idle_timeout_s,
        )
        if self._transport is not None:
            self._transport.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        """Close at once, dropping what is unsent."""
        if self._transport is not None:
            self._transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._first_timer is not None:
            self._first_timer.cancel()
            self._first_timer = None
        server = self.server
        if self in server._connections:
            server._connections.discard(self)
            server.metrics.connections.labels(self._link.protocol).dec()
        # A worker still running stores what was received; it just cannot ACK any more.
        if self._link.worker is not None:
            server._orphans.add(self._link.worker)
            self._link.worker.add_done_callback(server._orphans.discard)


_MAX_UDP_PEERS = 100_000
"""Remote addresses one UDP endpoint tracks at once; datagrams from more are dropped."""


class _UdpEndpoint(asyncio.DatagramProtocol):
    """One protocol's UDP endpoint: one session and link per remote address, expired when idle."""

    def __init__(self, server: IngestServer, protocol: str, cls: type[ProtocolSession]) -> None:
        self.server = server
        self.protocol = protocol
        self.cls = cls
        self.transport: asyncio.DatagramTransport | None = None
        self.peers: dict[_Address, tuple[_Link, float]] = {}
        self._sweeper: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop: no subclass
        self._arm_sweeper()

    def _arm_sweeper(self) -> None:
        if math.isfinite(self.server.idle_timeout_s):
            period = max(self.server.idle_timeout_s / 2, 0.05)
            self._sweeper = asyncio.get_running_loop().call_later(period, self._sweep)

    def _sweep(self) -> None:
        now = asyncio.get_running_loop().time()
        limit = self.server.idle_timeout_s
        stale = [
            a for a, (lk, seen) in self.peers.items() if now - seen >= limit and lk.worker is None
        ]
        for addr in stale:
            self.peers.pop(addr)[0].closed = True
        self._arm_sweeper()

    def datagram_received(self, data: bytes, addr: _Address) -> None:
        loop = asyncio.get_running_loop()
        entry = self.peers.get(addr)
        if entry is None:
            transport = self.transport

            def send(payload: bytes, _addr: _Address = addr) -> None:
                if transport is not None and not transport.is_closing():
                    transport.sendto(payload, _addr)

            if len(self.peers) >= _MAX_UDP_PEERS:
                self.server.metrics.closed_early.labels(self.protocol, "udp_peers").inc()
                return
            link = _Link(self.server, self.protocol, self.server.new_session(self.cls), addr, send)
        else:
            link = entry[0]
        self.peers[addr] = (link, loop.time())
        started = time.perf_counter()
        try:
            result = link.session.receive_datagram(data)
        except Exception as exc:  # a decoder bug must not take the endpoint down
            err = ProtocolDecodeError(self.protocol, f"decoder failed: {exc!r}", data)
            self.server._decode_error(self.protocol, addr, err, data)
            return
        self.server.metrics.decode_seconds.labels(self.protocol).observe(
            time.perf_counter() - started
        )
        link.accept((result,))

    def error_received(self, exc: Exception) -> None:
        log.warning("%s udp: %s", self.protocol, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        for link, _ in self.peers.values():
            link.closed = True


class IngestServer:
    """All tracker listeners of one process, with one sink, clock and metrics registry.

    Args:
        sink: where decoded reports go (the position pipeline).
        listeners: protocol names or :class:`ListenerSpec` s.
        host: address to bind (``settings.tracker_host``: ``OPENATD_PROTOCOL_HOST``,
            else the HTTP host).
        clock: stamps ``received`` on every report.
        idle_timeout_s: seconds of silence after which a TCP connection is closed
            (``math.inf``: never).
        registry: Prometheus registry for :class:`IngestMetrics` (a fresh one if ``None``).
        unknown_recheck_s: how long a connection trusts an "unknown device" answer.
        max_pending_frames: frames waiting on one connection before reading pauses.
        max_batch_reports: at most this many reports per coalesced ``submit``.
        max_pending_bytes: bytes of frames waiting on one connection before reading pauses.
        max_buffer: unframed bytes one session may hold (then its connection is closed).
        frame_budget_s: CPU seconds one frame may take to decode (then a decode error).
        unidentified_bytes: bytes a TCP connection may send before a registered device
            identifies on it.
        unidentified_timeout_s: seconds a TCP connection may stay open before a
            registered device identifies on it (``math.inf``: no limit).
        backlog: listen backlog (raise it for connection storms).
        reuse_port: set ``SO_REUSEPORT`` so that several processes share each port
            (the kernel spreads connections over them; one process is limited by
            its open-file limit and by one core).

    Raises:
        InvalidInput: an unknown protocol name (at construction).
    """

    def __init__(
        self,
        sink: ReportSink,
        listeners: Sequence[ListenerSpec | str],
        *,
        host: str = "127.0.0.1",
        clock: Clock | None = None,
        idle_timeout_s: float = 1800.0,
        registry: CollectorRegistry | None = None,
        unknown_recheck_s: float = 60.0,
        max_pending_frames: int = 256,
        max_batch_reports: int = 2000,
        backlog: int = 4096,
        reuse_port: bool = False,
        max_pending_bytes: int = 256 * 1024,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        frame_budget_s: float = DEFAULT_FRAME_BUDGET_S,
        unidentified_bytes: int = 8192,
        unidentified_timeout_s: float = 60.0,
    ) -> None:
        self.sink = sink
        self.specs = [ListenerSpec(s) if isinstance(s, str) else s for s in listeners]
        self.classes = {spec.protocol: session_class(spec.protocol) for spec in self.specs}
        self.host = host
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.idle_timeout_s = float(idle_timeout_s)
        self.metrics = IngestMetrics(registry if registry is not None else CollectorRegistry())
        self.unknown_recheck_s = unknown_recheck_s
        self.max_pending_frames = max_pending_frames
        self.max_batch_reports = max_batch_reports
        self.backlog = backlog
        self.reuse_port = reuse_port
        self.max_pending_bytes = max_pending_bytes
        self.max_buffer = max_buffer
        self.frame_budget_s = frame_budget_s
        self.unidentified_bytes = unidentified_bytes
        self.unidentified_timeout_s = float(unidentified_timeout_s)
        self._peer_log = _PeerLog()
        self.bound: dict[str, BoundListener] = {}
        self._servers: list[asyncio.Server] = []
        self._udp: list[asyncio.DatagramTransport] = []
        self._connections: set[_TcpConnection] = set()
        self._orphans: set[asyncio.Task[None]] = set()
        self._frames_counters: dict[str, Any] = {}

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sink: ReportSink,
        clock: Clock | None = None,
        *,
        registry: CollectorRegistry | None = None,
    ) -> IngestServer:
        """A server for ``settings.protocols`` on ``settings.tracker_host``, with its limits.

        Raises:
            InvalidInput: a malformed ``protocols`` entry or an unknown protocol.
        """
        return cls(
            sink,
            listeners_from_settings(settings),
            host=settings.tracker_host,
            clock=clock,
            idle_timeout_s=settings.idle_timeout_s,
            registry=registry,
            max_pending_bytes=settings.protocol_max_pending_bytes,
            max_buffer=settings.protocol_max_buffer,
            frame_budget_s=settings.protocol_frame_budget_s,
            unidentified_bytes=settings.protocol_unidentified_bytes,
            unidentified_timeout_s=settings.protocol_unidentified_timeout_s,
        )

    @property
    def connection_count(self) -> int:
        """Open TCP connections, all protocols."""
        return len(self._connections)

    async def start(self) -> dict[str, BoundListener]:
        """Open every listener; returns the bound ports by protocol.

        Raises:
            OSError: a port is in use or not allowed (listeners opened so far are closed).
        """
        loop = asyncio.get_running_loop()
        try:
            for spec in self.specs:
                cls = self.classes[spec.protocol]
                port = cls.default_port if spec.port is None else spec.port
                server = await loop.create_server(
                    lambda p=spec.protocol, c=cls: _TcpConnection(self, p, c),
                    self.host,
                    port,
                    backlog=self.backlog,
                    reuse_address=True,
                    reuse_port=self.reuse_port or None,
                )
                self._servers.append(server)
                tcp_port = int(server.sockets[0].getsockname()[1])
                udp_port: int | None = None
                if spec.udp and "udp" in cls.transports:
                    udp_port = await self._open_udp(spec.protocol, cls, tcp_port)
                self.bound[spec.protocol] = BoundListener(spec.protocol, tcp_port, udp_port)
                log.info(
                    "%s listening on %s tcp %d udp %s (tracker host: OPENATD_PROTOCOL_HOST, "
                    "else the HTTP host)",
                    spec.protocol,
                    self.host,
                    tcp_port,
                    udp_port,
                )
        except BaseException:
            await self.stop()
            raise
        return dict(self.bound)

    async def _open_udp(self, protocol: str, cls: type[ProtocolSession], port: int) -> int:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpEndpoint(self, protocol, cls),
            local_addr=(self.host, port),
            reuse_port=self.reuse_port or None,
        )
        self._udp.append(transport)
        return int(transport.get_extra_info("sockname")[1])

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop listening, close all connections, let in-flight submits finish (up to *grace_s*)."""
        for server in self._servers:
            server.close()
        for transport in self._udp:
            transport.close()
        workers = [c._link.worker for c in self._connections if c._link.worker is not None]
        for conn in list(self._connections):
            conn.close()
        workers.extend(self._orphans)
        for server in self._servers:
            # wait_closed() waits for every accepted connection's transport to close: one
            # that never does (a peer that stopped reading, a connection accepted while we
            # were closing) must not hold the shutdown for ever.
            try:
                await asyncio.wait_for(server.wait_closed(), grace_s)
            except TimeoutError:
                left = list(self._connections)
                log.warning("%d connection(s) still open after %ss; aborted", len(left), grace_s)
                for conn in left:
                    conn.abort()
        self._servers.clear()
        self._udp.clear()
        if workers:
            _, late = await asyncio.wait(workers, timeout=grace_s)
            for task in late:
                task.cancel()
        await asyncio.sleep(0)  # let connection_lost callbacks run
        self.bound.clear()

    async def __aenter__(self) -> IngestServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def new_session(self, cls: type[ProtocolSession]) -> ProtocolSession:
        """A session of *cls* with this server's buffer bound and CPU budget."""
        session = cls()
        session.max_buffer = self.max_buffer
        session.frame_budget_s = self.frame_budget_s
        return session

    def peer_log(self, peer: _Address, kind: str, level: int, msg: str, *args: object) -> None:
        """Log *msg* unless a line of *kind* for *peer*'s host was logged in the last minute."""
        allowed, suppressed = self._peer_log.allow(peer, kind)
        if not allowed:
            return
        if suppressed:
            msg += " (%d similar lines from this address suppressed)"
            args = (*args, suppressed)
        log.log(level, msg, *args)

    # -- callbacks from links -------------------------------------------------------------

    def metrics_frames(self, protocol: str, n: int) -> None:
        counter = self._frames_counters.get(protocol)
        if counter is None:
            counter = self._frames_counters[protocol] = self.metrics.frames.labels(protocol)
        counter.inc(n)

    def _decode_error(
        self, protocol: str, peer: _Address, error: ProtocolDecodeError | None, frame: bytes
    ) -> None:
        self.metrics.decode_errors.labels(protocol).inc()
        if error is None:
            error = ProtocolDecodeError(protocol, "frame result without outcome", frame)
        self.peer_log(
            peer,
            "decode",
            logging.WARNING,
            "%s %s: malformed frame: %s; raw %s",
            protocol,
            peer,
            error.reason,
            (error.raw_hex or frame.hex())[:512],
        )
