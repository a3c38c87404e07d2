"""Bounds on what one client connection may hold: how long its requests take to arrive, how big their
headers are, how long it idles.

uvicorn (0.55, httptools) bounds only the idle time after an answer (`timeout_keep_alive`), and any
byte received cancels that timer until the next answer. Nothing bounds a connection before its first
request, the time a request's headers or body take to arrive, or the size of its headers (h11's
`h11_max_incomplete_event_size` has no httptools equivalent; llhttp buffers a header of any length).
A client could hold sockets, and memory, by never sending a request or by sending one a byte at a time.

`BoundedHttpToolsProtocol` adds, per request:

- its request line and headers must arrive within `GATEWAY_HEADER_TIMEOUT_SECONDS`, counted from the
  connection's opening for the first request and from the first byte of each later one, and within
  `GATEWAY_MAX_HEADER_BYTES` (else 431);
- then its body within `GATEWAY_BODY_TIMEOUT_SECONDS`, whether or not the app reads it (an app that
  answers early would otherwise let the rest of the body trickle in for ever).

A request too late is answered 408 (`header_timeout`, `body_timeout`), an oversized head 431, and the
connection closed; a connection on which nothing was sent is closed without an answer. Time the server
itself is not reading (a pipelined request waiting for the answer before it, a body the app has not
asked for yet) is not held against the client. These answers are written by the protocol, since the
app has not got the request (or is still waiting for it): they carry the JSON error envelope but not
the edge's request id.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import uvicorn
from pydantic import Field
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from gateway.config import Count, EnvSettings, Seconds


class ConnectionSettings(EnvSettings):
    keep_alive_seconds: Seconds = Field(
        5.0,
        le=300,
        validation_alias="GATEWAY_KEEP_ALIVE_SECONDS",
        description="a connection idle this long after an answer is closed",
    )
    header_timeout_seconds: Seconds = Field(
        10.0,
        le=120,
        validation_alias="GATEWAY_HEADER_TIMEOUT_SECONDS",
        description="a request's line and headers must arrive within this",
    )
    body_timeout_seconds: Seconds = Field(
        30.0,
        le=600,
        validation_alias="GATEWAY_BODY_TIMEOUT_SECONDS",
        description="then its body within this",
    )
    max_header_bytes: Count = Field(
        64 * 1024,
        le=1024 * 1024,
        validation_alias="GATEWAY_MAX_HEADER_BYTES",
        description="largest request line and headers",
    )


class BoundedConfig(uvicorn.Config):
    """uvicorn's settings, served by `BoundedHttpToolsProtocol` under `connections`."""

    def __init__(self, app: str, *, connections: ConnectionSettings, **options: Any) -> None:
        super().__init__(
            app,
            http=BoundedHttpToolsProtocol,
            # The gateway has no WebSocket route; an upgraded connection would escape these bounds.
            ws="none",
            timeout_keep_alive=connections.keep_alive_seconds,  # type: ignore[arg-type]  # a float works
            **options,
        )
        self.connections = connections


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with deadlines on a request's headers and body and a header bound."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        assert isinstance(config, BoundedConfig), "served through BoundedConfig only"
        self.limits = config.connections
        # What is being received: a request's head, its body, or nothing (between requests).
        self._receiving: Literal["headers", "body"] | None = None
        self._header_bytes = 0
        self._headers_began = 0.0
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._begin_headers()
        self._arm_headers_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._receiving is None:
            self._begin_headers()  # even bytes that begin no request (blank lines) start the clock
        if self._receiving == "headers":
            self._header_bytes += len(data)
        super().data_received(data)
        if self.transport.is_closing():
            return
        # The deadlines are armed after parsing: most requests end in the chunk that begins them.
        if self._receiving == "headers":
            if self._header_bytes > self.limits.max_header_bytes:
                limit = self.limits.max_header_bytes
                self._refuse_headers(
                    431, "headers_too_large", f"the request line and headers exceed {limit} bytes"
                )
            elif self._deadline is None:
                self._arm_headers_deadline()
        elif self._receiving == "body" and self._deadline is None:
            self._arm(self.limits.body_timeout_seconds)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._receiving != "headers":  # a pipelined request, begun in the chunk that ended another
            self._begin_headers()

    def on_headers_complete(self) -> None:
        self._cancel_deadline()
        self._receiving = "body"
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_deadline()
        self._receiving = None
        super().on_message_complete()

    def _begin_headers(self) -> None:
        self._receiving = "headers"
        self._header_bytes = 0
        self._headers_began = self.loop.time()

    def _arm_headers_deadline(self) -> None:
        when = self._headers_began + self.limits.header_timeout_seconds
        self._deadline = self.loop.call_at(when, self._deadline_passed)

    def _arm(self, seconds: float) -> None:
        self._deadline = self.loop.call_later(seconds, self._deadline_passed)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._receiving == "headers":
            if self._server_holds_back_headers():
                self._arm(self.limits.header_timeout_seconds)
            elif self._header_bytes == 0:
                self.transport.close()
            else:
                seconds = self.limits.header_timeout_seconds
                self._refuse_headers(
                    408, "header_timeout", f"the request's headers did not arrive within {seconds:g} s"
                )
        elif self._receiving == "body":
            if self._server_holds_back_body():
                self._arm(self.limits.body_timeout_seconds)
            else:
                seconds = self.limits.body_timeout_seconds
                self._refuse_body(f"the request's body did not arrive within {seconds:g} s")

    def _server_holds_back_headers(self) -> bool:
        """Reading is paused, or the answer to the request before is still being made."""
        return self.flow.read_paused or (self.cycle is not None and not self.cycle.response_complete)

    def _server_holds_back_body(self) -> bool:
        """Reading is paused (the app has not read what came), or the client waits for 100 Continue."""
        return self.flow.read_paused or self.cycle.waiting_for_100_continue

    def _refuse_headers(self, status: int, code: str, message: str) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined request's head: the answer under way is the previous request's, not this one's.
            self.transport.close()
        else:
            self._answer_and_close(status, code, message)

    def _refuse_body(self, message: str) -> None:
        if self.cycle.response_started:
            self.transport.close()  # the app answered without the rest of the body
            return
        # The app still waits for the body: it now reads a disconnect, and its answer is dropped.
        self.cycle.disconnected = True
        self.cycle.message_event.set()
        self._answer_and_close(408, "body_timeout", message)

    def _answer_and_close(self, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        head = [STATUS_LINE[status]]
        for name, value in [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"cache-control", b"no-store"),
            (b"connection", b"close"),
        ]:
            head.append(b"%s: %s\r\n" % (name, value))
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()
