"""The gateway's edge layer on its own, for tests of what it adds to any app's answers."""

from __future__ import annotations

from starlette.middleware import Middleware

from gateway.edge.access_log import AccessLog
from gateway.edge.cors import KnownOrigins
from gateway.edge.middleware import EdgeMiddleware
from gateway.telemetry.metrics import Metrics


async def no_origins() -> set[str]:
    return set()


def edge(metrics: Metrics | None = None) -> Middleware:
    """The gateway's edge layer, as the app builds it, with nothing else of the app."""
    return Middleware(
        EdgeMiddleware,
        metrics=metrics or Metrics(),
        known_origins=KnownOrigins(no_origins),
        access_log=AccessLog(),
    )
