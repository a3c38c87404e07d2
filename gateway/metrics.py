"""Prometheus metrics, served at /metrics in the text exposition format.

Each app owns a `Metrics` with its own `CollectorRegistry`, so several apps in one process (tests, or
an embedding server) never share or collide. Handlers reach it as `metrics_of(request)`.

Labels carry only bounded, non-secret values: a route's path template (never the raw path), a
standard method (any other is `other`), a status, a refusal code, a cache or connector name. Never a
tenant, a token or a user: a caller cannot create series.

Series, and who fills them:

- `gateway_http_requests_total{route,method,status}`, `gateway_http_request_duration_seconds{route,method}`:
  every HTTP request (gateway.web.request_observer); `route` is `unmatched` when no route matched.
- `gateway_tokens_minted_total`, `gateway_tokens_verified_total`, `gateway_tokens_rejected_total{reason}`:
  the guest-token endpoints; `reason` is the refusal's `TokenError` code.
- `gateway_cache_requests_total{cache,outcome}`: cache lookups, `outcome` `hit` or `miss`; defined here,
  filled by the data plane's plan, rewrite and result caches (the verified-token cache does not expose
  its hits).
- `gateway_warehouse_query_seconds{connector}`: defined here, filled by the data plane's connectors.
- `gateway_redis_errors_total`: Redis failures that reached a request or the readiness probe (failures the
  revocation store absorbs show as `gateway_tokens_rejected_total{reason="revocation_unavailable"}`).
- `gateway_event_lag_seconds`: age of the last event the replica follower applied (gateway.replica).
- `gateway_ready`: 1 when the last /readyz answered ready, 0 when unavailable or draining.

With `gateway serve --workers N` every worker has its own registry and answers /metrics alone; run one
worker per pod (scale with replicas) for complete numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Warehouse queries run longer than requests of the gateway itself.
_QUERY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.http_requests = Counter(
            "gateway_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.http_request_duration = Histogram(
            "gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            ["route", "method"],
            registry=registry,
        )
        self.tokens_minted = Counter("gateway_tokens_minted", "Guest tokens minted", registry=registry)
        self.tokens_verified = Counter(
            "gateway_tokens_verified", "Guest tokens that passed verification", registry=registry
        )
        self.tokens_rejected = Counter(
            "gateway_tokens_rejected",
            "Guest tokens refused, by refusal code",
            ["reason"],
            registry=registry,
        )
        self.cache_requests = Counter(
            "gateway_cache_requests",
            "Cache lookups by cache (plan, rewrite, result) and outcome (hit, miss)",
            ["cache", "outcome"],
            registry=registry,
        )
        self.warehouse_query_seconds = Histogram(
            "gateway_warehouse_query_seconds",
            "Time a warehouse took to answer a query, by connector",
            ["connector"],
            buckets=_QUERY_BUCKETS,
            registry=registry,
        )
        self.redis_errors = Counter(
            "gateway_redis_errors", "Redis failures seen by requests and probes", registry=registry
        )
        self.event_lag = Gauge(
            "gateway_event_lag_seconds",
            "Seconds between an event's publication and its application by this replica (last event)",
            registry=registry,
        )
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.ready = Gauge(
            "gateway_ready", "1 when the last readiness check passed, 0 otherwise", registry=registry
        )

    def cache_lookup_counter(self, cache: str) -> Callable[[bool], None]:
        """A `hit -> None` callback counting one cache's lookups (label children bound once)."""
        hit, miss = self.cache_requests.labels(cache, "hit"), self.cache_requests.labels(cache, "miss")
        return lambda found: (hit if found else miss).inc()

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        # Label children looked up once per (route, method, status): routes are templates, so few.
        known = method if method in _METHODS else "other"
        children = self._request_children.get((route, known, status))
        if children is None:
            children = self._request_children[(route, known, status)] = (
                self.http_requests.labels(route=route, method=known, status=str(status)),
                self.http_request_duration.labels(route=route, method=known),
            )
        children[0].inc()
        children[1].observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def endpoint(self, _request: Request) -> Response:
        return Response(
            self.exposition(),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )

    def routes(self) -> list[Route]:
        return [Route("/metrics", self.endpoint, methods=["GET"])]


def metrics_of(request: Request) -> Metrics:
    """The metrics of the app serving `request` (set by `gateway.app.create_app`)."""
    metrics = request.app.state.metrics
    assert isinstance(metrics, Metrics)
    return metrics


def openapi_section() -> tuple[dict[str, Any], dict[str, Any]]:
    """/metrics as `gateway.openapi.build_document` takes a section: (paths, schemas)."""
    paths = {
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics of this process",
                "tags": ["operations"],
                "responses": {
                    "200": {
                        "description": "The Prometheus text exposition format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        }
    }
    return paths, {}
