"""The access log: one JSON line per request, written when its answer is complete.

It names the route by its template, never the raw path or the query string, and logs no header:
the line cannot carry a token, a credential or a value a caller put in a URL.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.web.route_template import route_template

logger = logging.getLogger("gateway.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder = StatusResponder(send)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, responder.send)
        finally:
            # An exception escaping here is answered 500 by Starlette's outermost middleware.
            status = responder.status or 500
            route = route_template(scope)
            method = scope["method"]
            logger.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                },
            )


class StatusResponder:
    """Remembers the status of the answer passing through it."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
        await self._send(message)
