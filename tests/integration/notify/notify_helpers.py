"""A real SMTP server (aiosmtpd) and a fake Twilio-compatible SMS provider, both on loopback."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller

from free_ports import free_port


@dataclass
class SmtpSink:
    """aiosmtpd handler that keeps every message; refuses recipients in ``refuse``."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    """A real SMTP server on a free loopback port."""

    def __init__(self) -> None:
        self.sink = SmtpSink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@dataclass
class SmsProvider:
    """A fake Twilio Messages API: records each message; refuses numbers in ``invalid`` with
    400 (Twilio error 21211), answers 503 while ``down``."""

    sid: str = "AC0123456789abcdef0123456789abcdef"
    token: str = "sms-auth-token"
    sent: list[dict[str, str]] = field(default_factory=list)
    invalid: set[str] = field(default_factory=set)
    down: bool = False
    port: int = 0
    server: ThreadingHTTPServer | None = None

    def start(self) -> SmsProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                expected = (
                    "Basic "
                    + base64.b64encode(f"{provider.sid}:{provider.token}".encode()).decode()
                )
                if self.path != f"/2010-04-01/Accounts/{provider.sid}/Messages.json":
                    return self._answer(404, {"message": "not found"})
                if self.headers.get("Authorization") != expected:
                    return self._answer(401, {"message": "authenticate"})
                if provider.down:
                    return self._answer(503, {"message": "service unavailable"})
                if form.get("To") in provider.invalid:
                    return self._answer(
                        400, {"code": 21211, "message": "Invalid 'To' Phone Number"}
                    )
                provider.sent.append(form)
                return self._answer(
                    201, {"sid": f"SM{len(provider.sent):032d}", "status": "queued"}
                )

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def to(self, number: str) -> list[dict[str, str]]:
        return [m for m in self.sent if m["To"] == number]


def wait_for(check: Callable[[], Any], timeout: float = 60.0, step: float = 0.1) -> Any:
    """Poll *check* until it returns something truthy; fails after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(step)
