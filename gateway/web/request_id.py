"""The request id: taken from `X-Request-ID` when it is a sane token, else generated, and echoed back.

It opens the request's log context (`gateway.logs`), so every line logged while the request runs
carries the id, and an operator can follow one request from the caller's logs into ours.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import logs

HEADER: Final = "X-Request-ID"
# Long enough for a UUID or a trace id, short enough to bound a log line; no spaces, quotes or controls.
_SANE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")


def accepted_request_id(value: str | None) -> str | None:
    """`value` when it is safe to log and to echo, else None."""
    return value if value is not None and _SANE.fullmatch(value) else None


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get(HEADER)) or secrets.token_hex(16)
        logs.begin_request(request_id)
        await self.app(scope, receive, _RequestIdResponder(send, request_id).send)


class _RequestIdResponder:
    def __init__(self, send: Send, request_id: str) -> None:
        self._send = send
        self._request_id = request_id

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), (b"x-request-id", self._request_id.encode())]
        await self._send(message)
