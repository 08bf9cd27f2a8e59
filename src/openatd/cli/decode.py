"""``openatd decode``: decode tracker frames given in hex, as tracker servers log them.

Each HEX argument (or, with none, each non-empty line of standard input) is one
complete frame as the protocol's frame splitter hands it to the decoder; a text
protocol's frame is its bytes hex-encoded. All frames of one invocation are one
device session, in order, so a login frame can precede the data frames it
identifies. One JSON object per input frame is printed on its own line::

    {"frame": 0, "messages": [...], "reply_hex": "..." or null, "error": null or "..."}

``messages`` are :meth:`~openatd.domain.messages.DeviceReport.to_json` objects
(times ISO 8601 UTC, speed m/s, battery %, alarms in OpenATD's names). The exit
code is 1 when any frame was malformed (invalid hex included), 2 for an unknown
protocol.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer

from openatd.errors import InvalidInput
from openatd.protocols import registry
from openatd.protocols.base import ProtocolSession


def register(app: typer.Typer) -> None:
    """Add the ``decode`` command to *app*."""
    app.command("decode")(decode_command)


def decode_frames(session: ProtocolSession, frames: Iterable[str]) -> list[dict[str, Any]]:
    """Decode hex frames in order on one *session*; one result object per frame.

    A frame that is not valid hex, or that the decoder rejects, gives an object with
    ``error`` set and no messages; decoding goes on with the next frame.
    """
    results: list[dict[str, Any]] = []
    for index, text in enumerate(frames):
        out: dict[str, Any] = {"frame": index, "messages": [], "reply_hex": None, "error": None}
        try:
            frame = bytes.fromhex(text.strip())
        except ValueError as exc:
            out["error"] = f"invalid hex: {exc}"
            results.append(out)
            continue
        if not frame:
            out["error"] = "empty frame"
            results.append(out)
            continue
        result = session.receive_datagram(frame)
        if result.error is not None:
            out["error"] = result.error.reason
        elif result.decoded is not None:
            out["messages"] = [message.to_json() for message in result.decoded.messages]
            reply = result.decoded.reply
            out["reply_hex"] = reply.hex() if reply is not None else None
        results.append(out)
    return results


def decode_command(
    protocol: Annotated[
        str, typer.Argument(help=f"Protocol: {', '.join(registry.PROTOCOL_NAMES)}.")
    ],
    frames: Annotated[
        list[str] | None,
        typer.Argument(
            help="Frames in hex, one complete frame each; read from stdin (one a line) if none."
        ),
    ] = None,
) -> None:
    """Decode tracker frames (hex) of one device session and print one JSON line per frame."""
    try:
        session = registry.new_session(protocol)
    except InvalidInput as exc:
        raise typer.BadParameter(str(exc), param_hint="PROTOCOL") from exc
    source = frames if frames else [line for line in sys.stdin if line.strip()]
    results = decode_frames(session, source)
    for result in results:
        typer.echo(json.dumps(result, ensure_ascii=False))
    if any(result["error"] is not None for result in results):
        raise typer.Exit(code=1)
