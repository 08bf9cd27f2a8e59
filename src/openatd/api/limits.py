"""Request body limits, enforced before any route reads a byte (ASGI middleware).

A declared ``Content-Length`` over the limit is answered 413 at once; a body
sent without one (chunked) is read up to the limit and refused as soon as it
passes it. Memory per request is therefore bounded by the limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON_LIMIT = 2 * 1024 * 1024
"""Bytes allowed in a JSON or form body (a zone of 10,000 positions is about 400 kB)."""
MULTIPART_LIMIT = 110 * 1024 * 1024
"""Bytes allowed in a multipart upload (five enrolment photos of at most 20 MB each)."""


class BodyLimitMiddleware:
    """Refuse request bodies over the limit for their content type with 413."""

    def __init__(
        self, app: ASGIApp, json_limit: int = JSON_LIMIT, multipart_limit: int = MULTIPART_LIMIT
    ) -> None:
        self.app = app
        self.json_limit = json_limit
        self.multipart_limit = multipart_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        multipart = headers.get("content-type", "").startswith("multipart/")
        limit = self.multipart_limit if multipart else self.json_limit
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                await _refuse(send, 400, "Content-Length is not a number")
                return
            if int(declared) > limit:
                await _refuse(send, 413, f"request body over {limit} bytes")
                return
            await self.app(scope, receive, send)
            return
        # No declared length: read it all (bounded), then hand it on.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _refuse(send, 413, f"request body over {limit} bytes")
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
