"""The edge of every HTTP exchange: one ASGI layer around everything, Starlette's 500 handler included.

On the way in it gives the request its id and log context (`gateway.edge.request_id`) and answers CORS
preflights of the data endpoints (`gateway.edge.cors`). On the way out it completes the answer's
headers: the request id, the security headers (`gateway.edge.security_headers`) and, on the data
endpoints, CORS. Once the app has returned it writes the access line (`gateway.edge.access_log`) and
the request's metrics, and counts a Redis failure that escaped a handler.

One layer rather than one middleware per concern: each ASGI layer wraps the request in a coroutine
and every message in a `send` of its own, and on the data endpoints, which answer from caches in
tens of microseconds, four layers cost as much as the handler. Because it sits outside Starlette's
error handler, an unhandled error's 500 still carries the id and the headers, and is logged as a 500.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable

from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.edge import request_id
from gateway.edge.access_log import AccessLog
from gateway.edge.cors import KnownOrigins, add_cors_headers, is_data_path, preflight_answer
from gateway.edge.paths import app_path
from gateway.edge.route_template import route_template
from gateway.edge.security_headers import security_headers
from gateway.http.headers import request_headers
from gateway.telemetry import logs
from gateway.telemetry.metrics import Metrics


class EdgeMiddleware:
    def __init__(
        self, app: ASGIApp, *, metrics: Metrics, known_origins: KnownOrigins, access_log: AccessLog
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.known_origins = known_origins
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = request_headers(scope)
        origin = incoming.get(b"origin")
        the_id = request_id.request_id(incoming.get(request_id.HEADER))
        logs.begin_request(the_id)
        state = scope.setdefault("state", {})
        path = app_path(scope)
        data_path = is_data_path(path)
        preflight = (
            data_path
            and scope["method"] == "OPTIONS"
            and origin is not None
            and b"access-control-request-method" in incoming
        )
        # A preflight's answer carries its own CORS headers; a data endpoint's answer gets them here.
        cors = data_path and not preflight
        status = 500  # what Starlette's error handler answers when an exception escapes

        # Not a coroutine function: it returns the server's own `send` awaitable, one frame fewer per message.
        def send_completed(message: Message) -> Awaitable[None]:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = message["headers"] = list(message.get("headers", ()))
                present = {name.lower(): index for index, (name, _) in enumerate(headers)}
                at = present.get(b"content-type")
                content_type = b"" if at is None else headers[at][1]
                for added in security_headers(scope, path, content_type):
                    if added[0] not in present:
                        headers.append(added)
                headers.append((request_id.HEADER, the_id.encode()))
                if cors:
                    add_cors_headers(headers, present.get(b"vary"), state)
            return send(message)

        started = time.perf_counter()
        try:
            if preflight:
                assert origin is not None
                answer = await preflight_answer(self.known_origins, origin.decode("latin-1"))
                await answer(scope, receive, send_completed)
            else:
                await self.app(scope, receive, send_completed)
        except RedisError:
            self.metrics.redis_errors.inc()
            raise
        finally:
            seconds = time.perf_counter() - started
            route, method = route_template(scope), scope["method"]
            self.metrics.observe_request(route=route, method=method, status=status, seconds=seconds)
            self.access_log.record(method=method, route=route, status=status, seconds=seconds)
