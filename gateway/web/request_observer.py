"""Every request, observed once when its answer is complete: an access-log line and its metrics.

The access line names the route by its template, never the raw path or the query string, and logs
no header: it cannot carry a token, a credential or a value a caller put in a URL. The same
status, route and duration feed `gateway_http_requests_total` and the latency histogram, and a
Redis failure escaping a handler is counted.
"""

from __future__ import annotations

import logging
import time

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.metrics import Metrics
from gateway.web.route_template import route_template

logger = logging.getLogger("gateway.access")


class RequestObserverMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what Starlette's outermost middleware answers when an exception escapes

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_observed)
        except RedisError:
            self.metrics.redis_errors.inc()
            raise
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            self.metrics.observe_request(route=route, method=method, status=status, seconds=seconds)
            logger.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={
                    "route": route,
                    "method": method,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )
