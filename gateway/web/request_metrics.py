"""Request counts and latencies per route template, method and status, into `gateway.metrics`."""

from __future__ import annotations

import time

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.metrics import Metrics
from gateway.web.access_log import StatusResponder
from gateway.web.route_template import route_template


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        responder = StatusResponder(send)
        started = time.perf_counter()
        try:
            await self.app(scope, receive, responder.send)
        except RedisError:
            self.metrics.redis_errors.inc()
            raise
        finally:
            # An exception escaping here is answered 500 by Starlette's outermost middleware.
            self.metrics.observe_request(
                route=route_template(scope),
                method=scope["method"],
                status=responder.status or 500,
                seconds=time.perf_counter() - started,
            )
