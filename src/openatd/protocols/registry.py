"""The tracker protocols OpenATD speaks, by name.

Each protocol lives in ``openatd.protocols.<name>`` and exposes its session
class as ``SESSION`` (a :class:`~openatd.protocols.base.ProtocolSession` subclass).
"""

from __future__ import annotations

import importlib

from openatd.errors import InvalidInput
from openatd.protocols.base import ProtocolSession

PROTOCOL_NAMES: tuple[str, ...] = (
    "gt06",
    "teltonika",
    "h02",
    "tk103",
    "gps103",
    "gl200",
    "watch",
    "jt808",
    "megastek",
    "meitrack",
    "suntech",
)
"""Binary/text tracker protocols over TCP/UDP (OsmAnd is HTTP: ``openatd.protocols.osmand``)."""


def session_class(name: str) -> type[ProtocolSession]:
    """The session class for protocol *name*.

    Raises:
        InvalidInput: *name* is not a supported protocol.
    """
    if name not in PROTOCOL_NAMES:
        raise InvalidInput(f"unknown protocol {name!r}; supported: {', '.join(PROTOCOL_NAMES)}")
    module = importlib.import_module(f"openatd.protocols.{name}")
    cls: type[ProtocolSession] = module.SESSION
    return cls


def new_session(name: str) -> ProtocolSession:
    """A fresh session (per connection) for protocol *name*; see :func:`session_class`."""
    return session_class(name)()
