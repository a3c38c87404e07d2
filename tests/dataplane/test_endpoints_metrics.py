"""The data plane fills its Prometheus series: cache hit ratios and warehouse latency per connector."""

from __future__ import annotations

import re

import httpx

from tests.dataplane.conftest import DataGateway, Engine, data_of

ALL = "All orders"


def sample(metrics: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_cache_outcomes_and_warehouse_latency_are_counted(gw: DataGateway, duckdb_engine: Engine) -> None:
    tenant = gw.onboard_demo(duckdb_engine, 1)
    token = gw.guest(tenant)
    before = httpx.get(gw.url + "/metrics").text
    for _ in range(3):
        data_of(gw.chart_data(token, {"chart_id": tenant.chart(ALL)}))
    after = httpx.get(gw.url + "/metrics").text

    def grew(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("gateway_cache_requests_total", cache="result", outcome="miss") == 1
    assert grew("gateway_cache_requests_total", cache="result", outcome="hit") == 2
    # A repeated request is decided and planned once: later ones find the decision and never reach
    # the plan cache or the rewriter.
    assert grew("gateway_cache_requests_total", cache="decision", outcome="miss") == 1
    assert grew("gateway_cache_requests_total", cache="decision", outcome="hit") == 2
    assert grew("gateway_cache_requests_total", cache="plan", outcome="miss") == 1
    assert grew("gateway_cache_requests_total", cache="plan", outcome="hit") == 0
    assert grew("gateway_cache_requests_total", cache="rewrite", outcome="miss") == 1
    assert grew("gateway_cache_requests_total", cache="rewrite", outcome="hit") == 0
    assert grew("gateway_warehouse_query_seconds_count", connector="duckdb") == 1
