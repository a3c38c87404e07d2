"""The README's first command and the health probes, with and without Redis and the registry."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.gateways import GatewayProcess, gateway_env
from tests.support.services import POSTGRES_URL, REDIS_URL, PostgresDatabases, free_port


def test_embedded_defaults_serve_without_redis_or_postgres(tmp_path: Path) -> None:
    """`gateway serve` with nothing configured: SQLite in the working directory, no Redis."""
    env = {
        k: v for k, v in gateway_env(None).items() if k not in ("GATEWAY_ADMIN_TOKEN", "GATEWAY_SECRET_KEY")
    }
    server = GatewayProcess(env, tmp_path).start()
    try:
        assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(server.url + "/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"registry": "ok", "redis": "not configured"}
        assert (tmp_path / "gateway.db").exists() and (tmp_path / "gateway-secret.key").exists()
        assert "this run's admin token is" in server.output()
    finally:
        server.stop()


def test_readiness_follows_redis(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'r.db'}"
    reachable = GatewayProcess(gateway_env(database, REDIS_URL=REDIS_URL), tmp_path).start()
    try:
        ready = httpx.get(reachable.url + "/readyz")
        assert ready.status_code == 200 and ready.json()["checks"]["redis"] == "ok"
    finally:
        reachable.stop()
    nothing_listens = f"redis://:do-not-leak@127.0.0.1:{free_port()}/0"
    unreachable = GatewayProcess(gateway_env(database, REDIS_URL=nothing_listens), tmp_path).start()
    try:
        assert httpx.get(unreachable.url + "/healthz").status_code == 200
        ready = httpx.get(unreachable.url + "/readyz")
        assert ready.status_code == 503
        assert ready.json() == {
            "status": "unavailable",
            # Without Redis the replica cannot follow the event streams either.
            "checks": {"registry": "ok", "redis": "unreachable", "events": "unreachable"},
        }
        assert "do-not-leak" not in ready.text
    finally:
        unreachable.stop()


def test_readiness_follows_the_registry(tmp_path: Path, postgres_databases: PostgresDatabases) -> None:
    database = postgres_databases.create()
    server = GatewayProcess(gateway_env(database), tmp_path).start()
    try:
        assert httpx.get(server.url + "/readyz").status_code == 200
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{database.rsplit("/", 1)[1]}" WITH (FORCE)')
        ready = httpx.get(server.url + "/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["registry"] == "unreachable"
        assert httpx.get(server.url + "/healthz").status_code == 200
    finally:
        server.stop()


def test_several_workers_share_one_migrated_registry(tmp_path: Path) -> None:
    alone = GatewayProcess(gateway_env(f"sqlite:///{tmp_path / 'r.db'}"), tmp_path)
    with pytest.raises(RuntimeError, match="--workers above 1 needs REDIS_URL"):
        alone.start("--workers", "2")
    env = gateway_env(
        f"sqlite:///{tmp_path / 'r.db'}", REDIS_URL=REDIS_URL, GATEWAY_REDIS_PREFIX=f"w-{free_port()}:"
    )
    server = GatewayProcess(env, tmp_path).start("--workers", "2")
    try:
        with server.client() as client:
            slugs = [f"w{i}" for i in range(8)]
            for slug in slugs:
                assert client.post("/api/v1/tenants", json={"slug": slug, "name": slug}).status_code == 201
            # Fresh connections land on either worker; all of them see every tenant.
            for _ in range(6):
                with server.client() as fresh:
                    listed = fresh.get("/api/v1/tenants").json()["items"]
                    assert [t["slug"] for t in listed] == slugs
    finally:
        server.stop()
