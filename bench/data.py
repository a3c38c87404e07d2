"""Chart-data throughput and latency: the gateway on the DuckDB demo against a bare Starlette endpoint.

Run: python bench/data.py [--seconds 5] [--connections 16] [--rounds 3] [--pairs 9] [--redis-url URL]
(needs `wrk`: Debian package wrk)

Both servers run as `uvicorn` processes with one worker, uvloop and httptools, with the embedded
defaults (SQLite registry, DuckDB demo warehouse, in-process caches, no REDIS_URL), and are loaded by
the same wrk command (one thread, so the client and the server each get one of two cores). With
`--redis-url`, the gateway uses that Redis as replicas in production do (shared caches, event
streams, audit events), under a key prefix of its own that is deleted at the end.

- hot: POST /api/v1/chart/data for one chart with a known token, answered from the result cache;
- cold: the same with "force": true (result cache bypassed; token, filter and rewrite caches warm),
  so the query runs on DuckDB every time;
- bare: a Starlette endpoint answering the same JSON body.
- added latency: the cold path's median with one connection, minus the median of running the same
  rewritten SQL directly on the gateway's DuckDB connector in-process, measured in adjacent short windows
  (one second of each, `--pairs` times) and reported as the median of the per-pair differences, so that
  the machine's drift between windows cancels out.
- hot / bare: each round loads bare and then hot; the ratio is given best against best and as the
  median of the rounds' own ratios.

Targets (issue 5): hot >= 60% of bare's requests/s; added median latency on the cold path < 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import redis
from harness import free_port, gateway_env, guest_token, server, wrk

from gateway.config import Config
from gateway.data.plans import QueryPlans
from gateway.data.rewrite_pool import RewritePool
from gateway.data.row_policy import RowPolicies
from gateway.replica.snapshots import TenantSnapshots
from gateway.rls.rewrite import RewriteCache
from gateway.service.demo.onboarding import DEMO_FILE, prepare_demo
from gateway.tokens.claims import GuestClaims
from gateway.warehouse import Connectors
from tenants.crypto import SecretBox
from tenants.db import create_engine, session_factory
from tenants.store import RegistryStore

CHART = "Revenue by region"
BARE_APP = textwrap.dedent(
    """
    import json, os
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    BODY = json.loads(os.environ["BENCH_BODY"])

    async def chart_data(request):
        return JSONResponse(BODY, headers={"Cache-Control": "no-store"})

    app = Starlette(routes=[Route("/api/v1/chart/data", chart_data, methods=["POST"])])
    """
)


async def planned_sql(config: Config, token: str, chart_id: int) -> str:
    """The rewritten SQL the gateway runs for the chart, planned by its own modules in this process."""
    engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
    try:
        store = RegistryStore(
            session_factory(engine), SecretBox(config.effective_secret_key().get_secret_value())
        )
        # The gateway verified this token; here only its rules and user matter.
        claims = GuestClaims.from_payload(jwt.decode(token, options={"verify_signature": False}))
        snapshot = await TenantSnapshots(store).active(claims.tenant_id)
        plans = QueryPlans(RowPolicies(None, prefix=""), RewritePool(RewriteCache()))
        plan = await plans.chart(snapshot, claims, snapshot.chart(str(chart_id)), [], None)
        return plan.sql
    finally:
        await engine.dispose()


async def direct_median_ms(warehouse_file: Path, sql: str, calls: int = 300) -> float:
    """The median of running `sql` on the gateway's own DuckDB connector, in this process."""
    connectors = Connectors()
    try:
        connector = connectors.get(f"duckdb://{warehouse_file}")
        await connector.execute(sql, row_limit=10_000, timeout=30)
        timings = []
        for _ in range(calls):
            started = time.perf_counter()
            await connector.execute(sql, row_limit=10_000, timeout=30)
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)
    finally:
        await connectors.aclose()


def _best(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        figure: max(run[figure] for run in runs) if figure == "rps" else min(run[figure] for run in runs)
        for figure in runs[0]
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--redis-url", help="run the gateway with this Redis (default: none, in process)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/data.py needs wrk (Debian package `wrk`) to load the servers")
    work = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    # The cold phase's connections are one tenant's queries too.
    env = gateway_env(work) | {"GATEWAY_TENANT_QUERY_CONCURRENCY": "1000"}
    if args.redis_url:
        env |= {"REDIS_URL": args.redis_url, "GATEWAY_REDIS_PREFIX": f"bench-{secrets.token_hex(4)}:"}
    config = Config.from_env(env)
    tenant = asyncio.run(prepare_demo(config))[0]
    gateway_port, bare_port = free_port(), free_port()
    gateway_command = [sys.executable, "-m", "gateway", "serve", "--port", str(gateway_port)]
    bare_command = [
        sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(bare_port), "--workers", "1",
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    (work / "bare_app.py").write_text(BARE_APP)
    with server(gateway_command, env, work, gateway_port) as gateway_url:
        token = guest_token(gateway_url, tenant)
        headers = {"Authorization": f"Bearer {token}"}
        charts = httpx.get(f"{gateway_url}/api/v1/dashboard/{tenant.dashboard_uuid}", headers=headers).json()
        chart_id = next(c["id"] for c in charts["charts"] if c["title"] == CHART)
        body = {"dashboard_id": tenant.dashboard_uuid, "chart_id": chart_id}
        cold_body = {**body, "force": True}
        endpoint = f"{gateway_url}/api/v1/chart/data"
        answer = httpx.post(endpoint, json=body, headers=headers).json()
        sql = asyncio.run(planned_sql(config, token, chart_id))
        bare_env = {**env, "BENCH_BODY": json.dumps({**answer, "cached": True}), "PYTHONPATH": str(work)}
        with server(bare_command, bare_env, work, bare_port) as bare_url:
            bare_endpoint = f"{bare_url}/api/v1/chart/data"

            def load(url: str, payload: dict[str, Any], connections: int) -> dict[str, float]:
                return wrk(url, payload, token, seconds=args.seconds, connections=connections)

            # Interleaved rounds, so that whatever else loads the machine weighs on every figure alike.
            runs: dict[str, list[dict[str, float]]] = {}
            for _ in range(args.rounds):
                for name, url, payload, connections in (
                    ("bare", bare_endpoint, body, args.connections),
                    ("hot", endpoint, body, args.connections),
                    ("cold", endpoint, cold_body, args.connections),
                    ("bare_serial", bare_endpoint, body, 1),
                    ("hot_serial", endpoint, body, 1),
                    ("cold_serial", endpoint, cold_body, 1),
                ):
                    runs.setdefault(name, []).append(load(url, payload, connections))
            pairs = []
            for _ in range(args.pairs):
                cold_p50 = wrk(endpoint, cold_body, token, seconds=1, connections=1)["p50"]
                pairs.append((cold_p50, asyncio.run(direct_median_ms(work / DEMO_FILE, sql, calls=200))))
    best = {name: _best(figures) for name, figures in runs.items()}
    bare, hot, cold = best["bare"], best["hot"], best["cold"]
    bare_serial, hot_serial, cold_serial = best["bare_serial"], best["hot_serial"], best["cold_serial"]
    direct = statistics.median(d for _, d in pairs)
    added = statistics.median(c - d for c, d in pairs)
    ratios = [h["rps"] / b["rps"] for h, b in zip(runs["hot"], runs["bare"], strict=True)]
    rows = [
        ("bare Starlette", bare, bare_serial),
        ("gateway hot (result cached)", hot, hot_serial),
        ("gateway cold (force: query runs)", cold, cold_serial),
    ]
    print(
        f"chart {CHART!r}, {len(answer['rows'])} rows; wrk -t1 -c{args.connections} -d{args.seconds}s; "
        f"best of {args.rounds} interleaved rounds (highest req/s, lowest latencies); gateway state "
        + ("in Redis" if args.redis_url else "in process (no Redis)")
    )
    print(f"{'':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'p50 ms, 1 conn':>15}")
    for name, loaded, serial in rows:
        print(
            f"{name:34} {loaded['rps']:9.0f} {loaded['p50']:8.2f} {loaded['p99']:8.2f} {serial['p50']:15.3f}"
        )
    print(
        f"hot / bare requests/s: {hot['rps'] / bare['rps']:.2f} best against best, "
        f"{statistics.median(ratios):.2f} median of the rounds ({', '.join(f'{r:.2f}' for r in ratios)}) "
        "(target >= 0.60)"
    )
    print(f"same SQL on the DuckDB connector directly, median: {direct:.3f} ms")
    print(
        f"cold path added median latency (1 connection; median of {len(pairs)} adjacent pairs): "
        f"{added:.3f} ms (target < 1 ms)"
    )
    print(f"  of which a bare HTTP round trip: {bare_serial['p50']:.3f} ms")
    shutil.rmtree(work, ignore_errors=True)
    if args.redis_url:
        with redis.Redis.from_url(args.redis_url, socket_timeout=10) as client:
            keys = list(client.scan_iter(match=f"{config.redis_prefix}*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start : start + 500])


if __name__ == "__main__":
    main()
