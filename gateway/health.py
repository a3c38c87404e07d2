"""Probes: /healthz says the process is up; /readyz says its dependencies answer.

Readiness names the failing dependency but never the error, which could carry a host or a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Check = Callable[[], Awaitable[object]]


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


def readiness_endpoint(
    checks: dict[str, Check | None], *, timeout_seconds: float
) -> Callable[[Request], Awaitable[Response]]:
    async def readyz(_request: Request) -> Response:
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
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "checks": results},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )

    return readyz


def routes(checks: dict[str, Check | None], *, timeout_seconds: float) -> list[Route]:
    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readiness_endpoint(checks, timeout_seconds=timeout_seconds), methods=["GET"]),
    ]
