"""Log output of the ``openatd`` processes: plain text lines, or one JSON object per line.

``OPENATD_LOG_FORMAT=json`` makes every line a JSON object a log shipper (Loki, Elastic,
journald's JSON export) reads without a parser::

    {"time": "2026-12-05T11:55:00.123456+00:00", "level": "INFO",
     "logger": "openatd.ingest.pipeline", "message": "rule engines ready for 3 devices"}

with ``"exception"`` (the traceback text) when one was logged, and ``"process"`` (e.g.
``"ingest[0]"``) in the ingest processes of ``openatd serve --workers N``. Fields a caller
passes with ``extra={...}`` are added as they are. Built on ``python-json-logger``.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
"""The text line: local time, level, logger, message (what ``openatd serve`` always wrote)."""


def json_formatter(process: str | None = None) -> logging.Formatter:
    """The JSON-lines formatter: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, ``exception`` when present, and ``process`` when *process* is given."""
    return JsonFormatter(
        "{levelname}{name}{message}",
        style="{",
        timestamp="time",
        rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
        static_fields={"process": process} if process else None,
        json_ensure_ascii=False,
    )


def configure_logging(
    log_format: str = "text",
    *,
    level: int = logging.INFO,
    text_format: str = TEXT_FORMAT,
    process: str | None = None,
) -> None:
    """Send the root logger's records to stderr, as text lines or JSON lines.

    Replaces the root logger's handlers (calling it twice does not double the lines).

    Args:
        log_format: ``"text"`` or ``"json"`` (``settings.log_format``).
        level: the root logger's level.
        text_format: the ``%``-style line of the text format.
        process: the name of this process in JSON lines (``"ingest[0]"``), or None.

    Raises:
        ValueError: *log_format* is neither ``"text"`` nor ``"json"``.
    """
    if log_format not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', got {log_format!r}")
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(json_formatter(process))
    else:
        handler.setFormatter(logging.Formatter(text_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(level)
