"""Fixtures: a real SMTP server and a fake SMS provider on loopback, per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from notify_helpers import SmsProvider, SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sms() -> Iterator[SmsProvider]:
    provider = SmsProvider().start()
    try:
        yield provider
    finally:
        provider.stop()
