"""Probes: /healthz says the process is up; /readyz says its dependencies answer.

Readiness names the failing dependency but never the error, which could carry a host or a password.
While the server drains before shutting down (gateway.service.serving), /readyz answers 503 `draining`, so
load balancers stop sending new requests while the ones in flight finish.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Check = Callable[[], Awaitable[object]]
ReadinessObserver = Callable[[bool], None]
NO_STORE: Final = {"Cache-Control": "no-store"}

DRAINING: Final = "gateway.draining"
"""Key, in the ASGI lifespan state, of the `threading.Event` a server sets when it starts draining.

The server puts it there before the app starts; the state is copied into every request's scope.
"""


def draining(request: Request) -> bool:
    event = request.scope.get("state", {}).get(DRAINING)
    return isinstance(event, threading.Event) and event.is_set()


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def readiness_endpoint(
    checks: dict[str, Check | None], *, timeout_seconds: float, observe: ReadinessObserver | None = None
) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(request: Request) -> Response:
        if draining(request):
            if observe is not None:
                observe(False)
            return JSONResponse({"status": "draining"}, status_code=503, headers=NO_STORE)
        results: dict[str, str] = {}
        for name, check in checks.items():
            if check is None:
                results[name] = "not configured"
                continue
            try:
                await asyncio.wait_for(check(), timeout_seconds)
            except Exception:
                results[name] = "unreachable"
            else:
                results[name] = "ok"
        ready = "unreachable" not in results.values()
        if observe is not None:
            observe(ready)
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": results},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return readyz


def routes(
    checks: dict[str, Check | None], *, timeout_seconds: float, observe: ReadinessObserver | None = None
) -> list[Route]:
    readyz = readiness_endpoint(checks, timeout_seconds=timeout_seconds, observe=observe)
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
