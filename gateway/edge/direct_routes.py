"""The data plane's hot endpoints, served without Starlette's router and exception middleware.

An embedded dashboard's chart requests are answered from caches in a few tens of microseconds, and
Starlette's layers between the server and an endpoint (error middleware, exception middleware, router,
route, request/response adapter, each wrapping `send`) cost a sixth of that. `DirectRoutes` sits in
front of them and sends a request whose method and path match one of its routes exactly straight to
the endpoint, with the same `Request`, the same exception handlers (looked up through the exception's
MRO, as Starlette does) and the same `scope["route"]` for metrics and access lines. Everything else
goes on to Starlette unchanged.

An exception only the `Exception` handler claims is answered by it (a 500 saying nothing of its cause)
and raised again, as Starlette's error middleware does, so the server still logs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.edge.paths import app_path

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class DirectRoutes:
    def __init__(
        self, app: ASGIApp, *, routes: Sequence[Route], exception_handlers: Mapping[Any, ExceptionHandler]
    ) -> None:
        self.app = app
        self._routes = {(method, route.path): route for route in routes for method in route.methods or ()}
        self._handlers = dict(exception_handlers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get((scope["method"], app_path(scope))) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        request = Request(scope, receive, send)
        try:
            response = await route.endpoint(request)
        except Exception as exc:
            handler = next((self._handlers[c] for c in type(exc).__mro__ if c in self._handlers), None)
            if handler is None:
                raise
            await (await handler(request, exc))(scope, receive, send)
            if handler is self._handlers.get(Exception):
                raise
            return
        await response(scope, receive, send)
