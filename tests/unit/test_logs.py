"""``OPENATD_LOG_FORMAT``: the JSON lines a log shipper reads, and the text lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from openatd.ingest.bus import worker_config
from openatd.logs import configure_logging
from openatd.settings import get_settings


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, its handlers and level put back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_exception(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", process="ingest[1]")
    configure_logging("json", process="ingest[1]")  # twice: still one line per record
    log = logging.getLogger("openatd.test")
    log.info("stored %d positions", 3)
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        log.exception("batch failed")
    log.debug("not at INFO")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2, lines
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO"
    assert first["logger"] == "openatd.test"
    assert first["message"] == "stored 3 positions"
    assert first["process"] == "ingest[1]"
    assert "exception" not in first
    at = datetime.fromisoformat(first["time"])
    assert at.utcoffset() == timedelta(0)  # UTC, ISO 8601
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=1)
    assert second["level"] == "ERROR" and second["message"] == "batch failed"
    assert "ZeroDivisionError: division by zero" in second["exception"]
    assert second["exception"].startswith("Traceback (most recent call last)")


def test_text_is_the_default_and_bad_formats_are_refused(
    root_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    assert get_settings().log_format == "text"
    configure_logging()
    logging.getLogger("openatd.test").warning("plain %s", "line")
    line = capsys.readouterr().err.strip()
    assert line.endswith("WARNING openatd.test: plain line")
    with pytest.raises(ValueError, match="'text' or 'json'"):
        configure_logging("xml")


def test_the_setting_reaches_the_ingest_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENATD_LOG_FORMAT", "json")
    assert worker_config(get_settings())["log_format"] == "json"
    monkeypatch.setenv("OPENATD_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        get_settings()
