"""Attacks and malformed input found in review of the onboarding API: each is tried and must fail cleanly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.gateways import InProcessGateway, gateway_env
from tests.support.onboarding import ORDERS_COLUMNS, created
from tests.support.services import ADMIN_TOKEN, free_port


@pytest.fixture
def server(module_gateway: InProcessGateway) -> InProcessGateway:
    return module_gateway


def fresh_tenant(client: httpx.Client, dialect: str = "duckdb") -> str:
    slug = f"t{time.time_ns() % 10**12}"
    created(client.post("/api/v1/tenants", json={"slug": slug, "name": slug, "dialect": dialect}))
    return slug


def with_dataset(client: httpx.Client, slug: str) -> None:
    created(
        client.post(
            f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "duckdb:///tmp/demo.duckdb"}
        )
    )
    created(
        client.post(
            f"/api/v1/tenants/{slug}/datasets",
            json={"name": "orders", "warehouse": "wh", "table": "orders", "columns": ORDERS_COLUMNS},
        )
    )


def test_admin_api_cannot_be_reached_through_a_root_path(tmp_path: Path) -> None:
    """Served under a path prefix, the onboarding routes still demand the admin token."""
    port = free_port()
    env = gateway_env(f"sqlite:///{tmp_path / 'r.db'}")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "gateway.service.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--root-path",
            "/gw",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for path, status in (("/api/v1/tenants", 401), ("/gw/api/v1/tenants", 404)):
            response = httpx.post(f"http://127.0.0.1:{port}{path}", json={"slug": "sneaky", "name": "x"})
            assert response.status_code == status, path
        # A proxy strips the prefix before the gateway sees the request; nothing was created either way.
        listed = httpx.get(
            f"http://127.0.0.1:{port}/api/v1/tenants", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert listed.status_code == 200 and listed.json()["items"] == []
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_a_slug_cannot_shadow_another_tenants_id(server: InProcessGateway) -> None:
    with server.client() as client:
        victim = created(client.post("/api/v1/tenants", json={"slug": "victim", "name": "Victim"}))
        shadow = client.post("/api/v1/tenants", json={"slug": victim["id"], "name": "Shadow"})
        assert shadow.status_code == 422 and shadow.json()["error"]["field"] == "slug"
        assert client.get(f"/api/v1/tenants/{victim['id']}").json()["slug"] == "victim"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@db/x?password=TOPSECRET1",
        "snowflake://u@acct/db?private_key=TOPSECRET1&token=TOPSECRET1",
        "postgresql://u:12345/TOPSECRET1@db/x",
        "postgresql://u:se/TOPSECRET1@db/x",
        "postgresql://u:abc?TOPSECRET1@db/x",
        "clickhouse+http://db:8123/?access_key=TOPSECRET1",
    ],
)
def test_warehouse_credentials_are_never_stored_in_clear_nor_echoed(
    server: InProcessGateway, url: str
) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        response = client.post(f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": url})
        assert response.status_code == 422, response.text
        assert "TOPSECRET1" not in response.text
        assert client.get(f"/api/v1/tenants/{slug}/warehouses").json()["items"] == []


@pytest.mark.parametrize(
    "name", ["GATEWAY_SECRET_KEY", "GATEWAY_ADMIN_TOKEN", "REDIS_URL", "HOME", "PGPASSWORD"]
)
def test_password_env_cannot_name_the_gateways_own_secrets(server: InProcessGateway, name: str) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        response = client.post(
            f"/api/v1/tenants/{slug}/warehouses",
            json={"name": "wh", "url": "postgresql://u@attacker.example/shop", "password_env": name},
        )
        assert response.status_code == 422 and response.json()["error"]["field"] == "password_env"


def test_changing_a_warehouse_url_keeps_its_stored_password(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        created(
            client.post(
                f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "postgresql://u:pw@a/x"}
            )
        )
        moved = client.patch(f"/api/v1/tenants/{slug}/warehouses/wh", json={"url": "postgresql://u@b/x"})
        assert moved.status_code == 200
        assert moved.json()["credentials"] == "encrypted" and moved.json()["url"] == "postgresql://u@b/x"
        to_env = client.patch(f"/api/v1/tenants/{slug}/warehouses/wh", json={"password_env": "WAREHOUSE_B"})
        assert to_env.json()["credentials"] == "environment"


def test_deleting_a_dataset_does_not_silently_drop_its_row_filters(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        with_dataset(client, slug)
        guard = created(
            client.post(
                f"/api/v1/tenants/{slug}/filters",
                json={"name": "own", "dataset": "orders", "clause": "tenant_id = 42"},
            )
        )
        refused = client.delete(f"/api/v1/tenants/{slug}/datasets/orders")
        assert refused.status_code == 409 and "row filters" in refused.json()["error"]["message"]
        assert client.get(f"/api/v1/tenants/{slug}/filters/{guard['id']}").status_code == 200
        assert client.delete(f"/api/v1/tenants/{slug}/filters/{guard['id']}").status_code == 204
        assert client.delete(f"/api/v1/tenants/{slug}/datasets/orders").status_code == 204


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d", None),
        ("SELECT * INTO stolen FROM orders", None),
        ("SELECT pg_read_file('/etc/passwd')", None),
        ("SELECT pg_sleep(100)", None),
        ("SELECT set_config('role', 'admin', false)", None),
        ("SELECT * FROM orders FOR UPDATE", None),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("DROP TABLE orders", "statement_not_select"),
    ],
)
def test_virtual_dataset_and_chart_sql_must_be_a_plain_read(
    server: InProcessGateway, sql: str, code: str | None
) -> None:
    with server.client() as client:
        slug = fresh_tenant(client, dialect="postgres")
        created(
            client.post(
                f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "postgresql://u@db/x"}
            )
        )
        dataset = client.post(
            f"/api/v1/tenants/{slug}/datasets",
            json={"name": "virtual", "warehouse": "wh", "sql": sql, "columns": ORDERS_COLUMNS},
        )
        assert dataset.status_code == 422, dataset.text
        assert dataset.json()["error"]["field"] == "sql"
        if code is not None:
            assert dataset.json()["error"]["code"] == code
        created(
            client.post(
                f"/api/v1/tenants/{slug}/datasets",
                json={
                    "name": "orders",
                    "warehouse": "wh",
                    "table": "public.orders",
                    "columns": ORDERS_COLUMNS,
                },
            )
        )
        chart = client.post(
            f"/api/v1/tenants/{slug}/charts", json={"title": "c", "dataset": "orders", "sql": sql}
        )
        assert chart.status_code == 422 and chart.json()["error"]["field"] == "sql"


@pytest.mark.parametrize(
    "table",
    [
        "pg_catalog.pg_authid",
        "information_schema.tables",
        "otherdb.public.orders",
        '"/etc/passwd.csv"',
        '"https://evil.example/x.parquet"',
        "orders -- x",
        "orders /* c */",
    ],
)
def test_table_references_refuse_catalogs_files_and_comments(server: InProcessGateway, table: str) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        created(
            client.post(
                f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "duckdb:///tmp/d.duckdb"}
            )
        )
        response = client.post(
            f"/api/v1/tenants/{slug}/datasets",
            json={"name": "d", "warehouse": "wh", "table": table, "columns": ORDERS_COLUMNS},
        )
        assert response.status_code == 422 and response.json()["error"]["field"] == "table"


def test_table_references_are_stored_in_normal_form(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        created(
            client.post(
                f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "duckdb:///tmp/d.duckdb"}
            )
        )
        dataset = created(
            client.post(
                f"/api/v1/tenants/{slug}/datasets",
                json={
                    "name": "d",
                    "warehouse": "wh",
                    "table": '  main . "Orders"  ',
                    "columns": ORDERS_COLUMNS,
                },
            )
        )
        assert dataset["table"] == 'main."Orders"'


@pytest.mark.parametrize(
    "body",
    [
        b'{"slug": "nan", "name": "x", "attributes": {"a": NaN}}',
        b'{"slug": "inf", "name": "x", "attributes": {"a": Infinity}}',
        b'{"slug": "nul", "name": "x\\u0000y"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["nan", "infinity", "nul", "deep-nesting"],
)
def test_unrepresentable_json_is_refused_and_breaks_nothing(server: InProcessGateway, body: bytes) -> None:
    with server.client() as client:
        response = client.post("/api/v1/tenants", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json"
        assert client.get("/api/v1/tenants").status_code == 200


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/tenants", {"cursor": "eyJhIjogMX0"}),  # {"a": 1}
        ("/api/v1/tenants", {"cursor": "WzEsMl0"}),  # [1,2]
        ("/api/v1/tenants", {"cursor": "bnVsbA"}),  # null
        ("/api/v1/tenants", {"cursor": "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk"}),  # huge int
        ("/api/v1/tenants", {"limit": "\u00b2"}),
        ("/api/v1/tenants", {"limit": "99999999999999999999"}),
    ],
)
def test_tampered_paging_parameters_are_refused(
    server: InProcessGateway, path: str, params: dict[str, str]
) -> None:
    with server.client() as client:
        response = client.get(path, params=params)
        assert response.status_code == 422, response.text


def test_odd_identifiers_answer_not_found(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        for ref in ("\u00b2", "3000000000", "99999999999999999999", "%00"):
            assert client.get(f"/api/v1/tenants/{slug}/origins/{ref}").status_code == 404, ref
            assert client.get(f"/api/v1/tenants/{ref}").status_code == 404, ref
            assert client.get(f"/api/v1/tenants/{slug}/datasets/{ref}").status_code == 404, ref
        refused = client.post(
            f"/api/v1/tenants/{slug}/dashboards", json={"title": "d", "charts": [99999999999999999999]}
        )
        assert refused.status_code == 422


def test_etags_never_repeat_for_a_recreated_entity(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        first = client.post(
            f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "duckdb:///tmp/a.duckdb"}
        )
        old_etag = first.headers["etag"]
        assert client.delete(f"/api/v1/tenants/{slug}/warehouses/wh").status_code == 204
        created(
            client.post(
                f"/api/v1/tenants/{slug}/warehouses", json={"name": "wh", "url": "duckdb:///tmp/a.duckdb"}
            )
        )
        stale = client.patch(
            f"/api/v1/tenants/{slug}/warehouses/wh",
            json={"url": "duckdb:///tmp/b.duckdb"},
            headers={"If-Match": old_etag},
        )
        assert stale.status_code == 412
        current = client.get(f"/api/v1/tenants/{slug}/warehouses/wh").headers["etag"]
        weak = client.patch(
            f"/api/v1/tenants/{slug}/warehouses/wh",
            json={"url": "duckdb:///tmp/b.duckdb"},
            headers={"If-Match": f"W/{current}"},
        )
        assert weak.status_code == 412


def test_an_empty_patch_changes_nothing(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        before = client.get(f"/api/v1/tenants/{slug}")
        after = client.patch(f"/api/v1/tenants/{slug}", json={})
        assert after.status_code == 200 and after.json() == before.json()
        assert after.headers["etag"] == before.headers["etag"]


def test_an_idempotency_key_is_scoped_to_the_tenant_not_the_spelling_of_its_name(
    server: InProcessGateway,
) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        tenant_id = client.get(f"/api/v1/tenants/{slug}").json()["id"]
        key = {"Idempotency-Key": f"k-{slug}"}
        by_slug = client.post(f"/api/v1/tenants/{slug}/apps", json={"name": "be"}, headers=key)
        by_id = client.post(f"/api/v1/tenants/{tenant_id}/apps", json={"name": "be"}, headers=key)
        assert by_id.json() == by_slug.json()
        assert len(client.get(f"/api/v1/tenants/{slug}/apps").json()["items"]) == 1


@pytest.mark.parametrize("origin", ["https://1.2.3.4:0", "https://999.999.999.999", "https://*.1.2.3"])
def test_malformed_origins_are_refused(server: InProcessGateway, origin: str) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        response = client.post(f"/api/v1/tenants/{slug}/origins", json={"origin": origin})
        assert response.status_code == 422


def test_long_filter_names_fit_the_column(server: InProcessGateway) -> None:
    with server.client() as client:
        slug = fresh_tenant(client)
        with_dataset(client, slug)
        response = client.post(
            f"/api/v1/tenants/{slug}/filters",
            json={"name": "n" * 200, "dataset": "orders", "clause": "tenant_id = 1"},
        )
        assert response.status_code == 201, response.text
