"""Prometheus metrics, served at /metrics in the text exposition format.

Each app owns a `Metrics` with its own `CollectorRegistry`, so several apps in one process (tests, or
an embedding server) never share or collide. Whatever counts is given it when the app is built.

Labels carry only bounded, non-secret values: a route's path template (never the raw path), a
standard method (any other is `other`), a status, a refusal code, a cache or connector name. Never a
tenant, a token or a user: a caller cannot create series.

Series, and who fills them:

- `gateway_http_requests_total{route,method,status}`, `gateway_http_request_duration_seconds{route,method}`:
  every HTTP request (gateway.edge.middleware); `route` is `unmatched` when no route matched.
- `gateway_tokens_minted_total`, `gateway_tokens_verified_total`, `gateway_tokens_rejected_total{reason}`:
  the guest-token endpoints; `reason` is the refusal's `TokenError` code.
- `gateway_cache_requests_total{cache,outcome}`: cache lookups, `outcome` `hit` or `miss`; defined here,
  filled by the data plane's decision, plan, rewrite and result caches (the verified-token cache does
  not expose its hits).
- `gateway_warehouse_query_seconds{connector}`: defined here, filled by the data plane's connectors.
- `gateway_redis_errors_total`: Redis failures that reached a request or the readiness probe (failures the
  revocation store absorbs show as `gateway_tokens_rejected_total{reason="revocation_unavailable"}`).
- `gateway_event_lag_seconds`: age of the last event the replica follower applied (gateway.replica.follower).
- `gateway_ready`: 1 when the last /readyz answered ready, 0 when unavailable or draining.

With `gateway serve --workers N` every worker has its own registry and answers /metrics alone; run one
worker per pod (scale with replicas) for complete numbers.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from itertools import accumulate
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

STANDARD_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# prometheus_client's default buckets, which the request histogram has always had (+Inf counted apart).
_REQUEST_BUCKETS: Final = Histogram.DEFAULT_BUCKETS[:-1]
_REQUEST_BOUNDS: Final = (*(repr(bound) for bound in _REQUEST_BUCKETS), "+Inf")  # as `le` labels
# Warehouse queries run longer than requests of the gateway itself.
_QUERY_BUCKETS: Final = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self._hot = _HotSeries()
        registry.register(self._hot)
        self.tokens_minted = Counter("gateway_tokens_minted", "Guest tokens minted", registry=registry)
        self.tokens_rejected = Counter(
            "gateway_tokens_rejected",
            "Guest tokens refused, by refusal code",
            ["reason"],
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
        self.audit_events_dropped = Counter(
            "gateway_audit_events_dropped",
            "Audit events dropped because Redis took none while the backlog filled up",
            registry=registry,
        )
        self.event_lag = Gauge(
            "gateway_event_lag_seconds",
            "Seconds between an event's publication and its application by this replica (last event)",
            registry=registry,
        )
        self.ready = Gauge(
            "gateway_ready", "1 when the last readiness check passed, 0 otherwise", registry=registry
        )

    def cache_lookup_counter(self, cache: str) -> Callable[[bool], None]:
        """A `hit -> None` callback counting one cache's lookups."""
        lookups = self._hot.cache_lookups
        hit, miss = (cache, "hit"), (cache, "miss")
        lookups.setdefault(hit, 0)
        lookups.setdefault(miss, 0)

        def count(found: bool) -> None:
            lookups[hit if found else miss] += 1

        return count

    def count_verified_token(self) -> None:
        self._hot.tokens_verified += 1

    def observe_request(self, *, route: str, method: str, status: int, seconds: float) -> None:
        hot = self._hot
        key = (route, method if method in STANDARD_METHODS else "other")
        requests = hot.requests.setdefault(key, {})
        requests[status] = requests.get(status, 0) + 1
        duration = hot.durations.get(key)
        if duration is None:
            duration = hot.durations[key] = _Histogram()
        duration.observe(seconds)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    async def endpoint(self, _request: Request) -> Response:
        return Response(
            self.exposition(),
            headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"},
        )

    def routes(self) -> list[Route]:
        return [Route("/metrics", self.endpoint, methods=["GET"])]


class _Histogram:
    """Bucket counts (not yet cumulative) and the sum of what was observed."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(_REQUEST_BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(_REQUEST_BUCKETS, seconds)] += 1
        self.total += seconds


class _HotSeries(Collector):
    """The series every request moves, counted in plain integers and read when /metrics is scraped.

    prometheus_client takes a lock for every increment and a request made five of them; these are
    only ever updated from the event loop's thread, which needs none.
    """

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], dict[int, int]] = {}
        self.durations: dict[tuple[str, str], _Histogram] = {}
        self.tokens_verified = 0
        self.cache_lookups: dict[tuple[str, str], int] = {}

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "gateway_http_requests",
            "HTTP requests answered, by route template, method and status",
            labels=["route", "method", "status"],
        )
        for (route, method), by_status in list(self.requests.items()):
            for status, count in list(by_status.items()):
                requests.add_metric([route, method, str(status)], count)
        durations = HistogramMetricFamily(
            "gateway_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            labels=["route", "method"],
        )
        for (route, method), histogram in list(self.durations.items()):
            cumulative = list(accumulate(histogram.counts))
            durations.add_metric(
                [route, method], list(zip(_REQUEST_BOUNDS, cumulative, strict=True)), histogram.total
            )
        verified = CounterMetricFamily(
            "gateway_tokens_verified", "Guest tokens that passed verification", value=self.tokens_verified
        )
        lookups = CounterMetricFamily(
            "gateway_cache_requests",
            "Cache lookups by cache (decision, plan, rewrite, result) and outcome (hit, miss)",
            labels=["cache", "outcome"],
        )
        for (cache, outcome), count in list(self.cache_lookups.items()):
            lookups.add_metric([cache, outcome], count)
        yield from (requests, durations, verified, lookups)


def openapi_section() -> tuple[dict[str, Any], dict[str, Any]]:
    """/metrics as `gateway.service.openapi.build_document` takes a section: (paths, schemas)."""
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
