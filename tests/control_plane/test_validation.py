"""Every kind of bad request gets a clear error naming its field, and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.gateways import InProcessGateway
from tests.support.onboarding import ORDERS_COLUMNS, created


@pytest.fixture(scope="module")
def server(module_gateway: InProcessGateway) -> InProcessGateway:
    process = module_gateway
    with process.client() as client:
        created(
            client.post("/api/v1/tenants", json={"slug": "v", "name": "Validation", "dialect": "postgres"})
        )
        created(
            client.post("/api/v1/tenants/v/warehouses", json={"name": "wh", "url": "postgresql://u@db/x"})
        )
        created(
            client.post(
                "/api/v1/tenants/v/datasets",
                json={
                    "name": "orders",
                    "warehouse": "wh",
                    "table": "public.orders",
                    "columns": ORDERS_COLUMNS,
                },
            )
        )
    return process


def filter_body(clause: str, **extra: Any) -> dict[str, Any]:
    return {"name": "f", "dataset": "orders", "clause": clause, **extra}


# (path, body, status, code, field)
BAD_REQUESTS = [
    ("/api/v1/tenants", {"slug": "ok", "name": "x", "colour": "red"}, 422, "unknown_field", "colour"),
    ("/api/v1/tenants", {"slug": "ok"}, 422, "missing_field", "name"),
    ("/api/v1/tenants", {"slug": "Not A Slug", "name": "x"}, 422, "invalid_field", "slug"),
    ("/api/v1/tenants", {"slug": "-leading", "name": "x"}, 422, "invalid_field", "slug"),
    ("/api/v1/tenants", {"slug": "a" * 64, "name": "x"}, 422, "invalid_field", "slug"),
    ("/api/v1/tenants", {"slug": "ok", "name": "x" * 201}, 422, "invalid_field", "name"),
    ("/api/v1/tenants", {"slug": "ok", "name": "x", "dialect": "oracle"}, 422, "invalid_field", "dialect"),
    (
        "/api/v1/tenants",
        {"slug": "ok", "name": "x", "signing_algorithm": "none"},
        422,
        "invalid_field",
        "signing_algorithm",
    ),
    (
        "/api/v1/tenants",
        {"slug": "ok", "name": "x", "token_ttl_seconds": 5},
        422,
        "invalid_field",
        "token_ttl_seconds",
    ),
    (
        "/api/v1/tenants",
        {"slug": "ok", "name": "x", "token_ttl_seconds": 900, "max_token_ttl_seconds": 600},
        422,
        "invalid_field",
        None,
    ),
    (
        "/api/v1/tenants",
        {"slug": "ok", "name": "x", "attributes": {"k": "v" * 20000}},
        422,
        "invalid_field",
        "attributes",
    ),
    (
        "/api/v1/tenants",
        {"slug": "ok", "name": "x", "origins": ["https://a.example/path"]},
        422,
        "invalid_field",
        "origins[0]",
    ),
    ("/api/v1/tenants", {"slug": "v", "name": "dup"}, 409, "conflict", "slug"),
    ("/api/v1/tenants/v/origins", {"origin": "*"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/origins", {"origin": "https://*"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/origins", {"origin": "https://a.*.example.com"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/origins", {"origin": "https://*.com"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/origins", {"origin": "http://app.example.com"}, 422, "invalid_field", "origin"),
    (
        "/api/v1/tenants/v/origins",
        {"origin": "https://user:pw@app.example.com"},
        422,
        "invalid_field",
        "origin",
    ),
    ("/api/v1/tenants/v/origins", {"origin": "https://app.example.com?x=1"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/origins", {"origin": "javascript://alert(1)"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/origins", {"origin": "https://bad_host!.example"}, 422, "invalid_field", "origin"),
    ("/api/v1/tenants/v/apps", {"name": "a", "scopes": ["admin"]}, 422, "invalid_field", "scopes[0]"),
    ("/api/v1/tenants/v/apps", {"name": "a", "scopes": []}, 422, "invalid_field", "scopes"),
    ("/api/v1/tenants/v/warehouses", {"name": "w2", "url": "oracle://db/x"}, 422, "invalid_field", "url"),
    (
        "/api/v1/tenants/v/warehouses",
        {"name": "w2", "url": "postgresql:///nohost"},
        422,
        "invalid_field",
        "url",
    ),
    (
        "/api/v1/tenants/v/warehouses",
        {"name": "w2", "url": "postgresql://u:p@db/x", "password_env": "WAREHOUSE_PW"},
        422,
        "invalid_field",
        "password_env",
    ),
    (
        "/api/v1/tenants/v/warehouses",
        {"name": "w2", "url": "postgresql://db/x", "password_env": "lower"},
        422,
        "invalid_field",
        "password_env",
    ),
    ("/api/v1/tenants/v/warehouses", {"name": "wh", "url": "postgresql://db/x"}, 409, "conflict", "name"),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "nope", "table": "t", "columns": ORDERS_COLUMNS},
        422,
        "invalid_field",
        "warehouse",
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "columns": ORDERS_COLUMNS},
        422,
        "invalid_field",
        None,
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "table": "t", "sql": "SELECT 1", "columns": ORDERS_COLUMNS},
        422,
        "invalid_field",
        None,
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "table": "t", "columns": []},
        422,
        "invalid_field",
        "columns",
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "table": "t", "columns": [{"name": "a"}, {"name": "A"}]},
        422,
        "invalid_field",
        "columns",
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "table": "t; DROP TABLE x", "columns": ORDERS_COLUMNS},
        422,
        "invalid_field",
        "table",
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "sql": "DELETE FROM orders", "columns": ORDERS_COLUMNS},
        422,
        "statement_not_select",
        "sql",
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "d", "warehouse": "wh", "sql": "SELECT 1; SELECT 2", "columns": ORDERS_COLUMNS},
        422,
        "multiple_statements",
        "sql",
    ),
    (
        "/api/v1/tenants/v/datasets",
        {"name": "orders", "warehouse": "wh", "table": "t", "columns": ORDERS_COLUMNS},
        409,
        "conflict",
        "name",
    ),
    (
        "/api/v1/tenants/v/charts",
        {"title": "c", "dataset": "nope", "query": {"groupby": ["region"]}},
        422,
        "invalid_field",
        "dataset",
    ),
    (
        "/api/v1/tenants/v/charts",
        {"title": "c", "dataset": "orders", "query": {"groupby": ["secret_col"]}},
        422,
        "unknown_column",
        "query.groupby[0]",
    ),
    (
        "/api/v1/tenants/v/charts",
        {"title": "c", "dataset": "orders", "query": {"metrics": [{"aggregate": "SUM", "label": "x"}]}},
        422,
        "invalid_field",
        "query.metrics[0]",
    ),
    (
        "/api/v1/tenants/v/charts",
        {
            "title": "c",
            "dataset": "orders",
            "query": {"metrics": [{"aggregate": "EVAL", "column": "id", "label": "x"}]},
        },
        422,
        "invalid_field",
        "query.metrics[0].aggregate",
    ),
    (
        "/api/v1/tenants/v/charts",
        {"title": "c", "dataset": "orders", "query": {}},
        422,
        "invalid_field",
        "query",
    ),
    (
        "/api/v1/tenants/v/charts",
        {
            "title": "c",
            "dataset": "orders",
            "query": {"groupby": ["region"], "filters": [{"column": "region", "op": "IN", "value": "EU"}]},
        },
        422,
        "invalid_field",
        "query.filters[0]",
    ),
    (
        "/api/v1/tenants/v/charts",
        {"title": "c", "dataset": "orders", "viz_type": "3d-pie", "query": {"groupby": ["region"]}},
        422,
        "invalid_field",
        "viz_type",
    ),
    ("/api/v1/tenants/v/dashboards", {"title": "d", "charts": [999999]}, 422, "invalid_field", "charts[0]"),
    (
        "/api/v1/tenants/v/filters",
        filter_body("tenant_id = (SELECT max(tenant_id) FROM orders)"),
        422,
        "clause_subquery",
        "clause",
    ),
    ("/api/v1/tenants/v/filters", filter_body("no_such_column = 1"), 422, "clause_unknown_column", "clause"),
    (
        "/api/v1/tenants/v/filters",
        filter_body("tenant_id = 1; DROP TABLE orders"),
        422,
        "clause_multiple_statements",
        "clause",
    ),
    ("/api/v1/tenants/v/filters", filter_body("tenant_id = 1 /* sneaky */"), 422, "clause_comment", "clause"),
    ("/api/v1/tenants/v/filters", filter_body("tenant_id = 1 -- OR 1=1"), 422, "clause_comment", "clause"),
    ("/api/v1/tenants/v/filters", filter_body("amount + 1"), 422, "clause_not_boolean", "clause"),
    ("/api/v1/tenants/v/filters", filter_body("pg_sleep(10) IS NULL"), 422, "clause_function", "clause"),
    (
        "/api/v1/tenants/v/filters",
        filter_body("set_config('x', 'y', false) = 'y'"),
        422,
        "clause_function",
        "clause",
    ),
    ("/api/v1/tenants/v/filters", filter_body("tenant_id = 1 OR"), 422, "clause_syntax", "clause"),
    (
        "/api/v1/tenants/v/filters",
        filter_body("tenant_id = 1", dataset="nope"),
        422,
        "invalid_field",
        "dataset",
    ),
    (
        "/api/v1/tenants/v/filters",
        filter_body("tenant_id = 1", filter_type="regular"),
        422,
        "invalid_field",
        None,
    ),
    (
        "/api/v1/tenants/v/filters",
        filter_body("tenant_id = 1", filter_type="magic"),
        422,
        "invalid_field",
        "filter_type",
    ),
    (
        "/api/v1/tenants/v/filters",
        filter_body("tenant_id = 1", group_key="has space"),
        422,
        "invalid_field",
        "group_key",
    ),
    ("/api/v1/tenants/v/filters", filter_body("x" * 4001), 422, "invalid_field", "clause"),
    ("/api/v1/tenants/v/keys", {"algorithm": "EdDSA"}, 405, "method_not_allowed", None),
]


@pytest.mark.parametrize(
    ("path", "body", "status", "code", "field"),
    BAD_REQUESTS,
    ids=[f"{i}-{case[0].rsplit('/', 1)[-1]}-{case[3]}" for i, case in enumerate(BAD_REQUESTS)],
)
def test_bad_request_is_refused_with_its_reason(
    server: InProcessGateway, path: str, body: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    with server.client() as client:
        before = client.get(path).json()
        response = client.post(path, json=body)
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == code
        assert error["message"]
        if field is not None:
            assert error.get("field") == field
        assert client.get(path).json() == before


def test_validation_errors_do_not_echo_secret_values(server: InProcessGateway) -> None:
    with server.client() as client:
        response = client.post(
            "/api/v1/tenants/v/warehouses",
            json={
                "name": "leak",
                "url": "postgresql://u:hunter2-secret@db/x",
                "password_env": "WAREHOUSE_PW",
            },
        )
        assert response.status_code == 422
        assert "hunter2-secret" not in response.text
        response = client.post("/api/v1/tenants/v/apps", json={"name": "a", "scopes": ["hunter2-secret"]})
        assert response.status_code == 422 and "hunter2-secret" not in response.text


@pytest.mark.parametrize(
    ("content", "headers", "status", "code"),
    [
        (b"{not json", {"content-type": "application/json"}, 400, "invalid_json"),
        (b"[1, 2]", {"content-type": "application/json"}, 400, "invalid_json"),
        (
            b"slug=x&name=y",
            {"content-type": "application/x-www-form-urlencoded"},
            415,
            "unsupported_media_type",
        ),
        (
            b'{"slug": "big", "name": "' + b"x" * 300_000 + b'"}',
            {"content-type": "application/json"},
            413,
            "body_too_large",
        ),
    ],
    ids=["malformed", "not-an-object", "form-encoded", "oversized"],
)
def test_malformed_bodies(
    server: InProcessGateway, content: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    with server.client() as client:
        response = client.post("/api/v1/tenants", content=content, headers=headers)
        assert response.status_code == status
        assert response.json()["error"]["code"] == code


def test_streamed_oversized_body_is_cut_off(server: InProcessGateway) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"slug": "stream", "name": "'
        for _ in range(100):
            yield b"x" * 10_000
        yield b'"}'

    with server.client() as client:
        response = client.post(
            "/api/v1/tenants", content=chunks(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert client.get("/api/v1/tenants/stream").status_code == 404


@pytest.mark.parametrize(
    ("path", "body", "code", "field"),
    [
        ("/api/v1/tenants/v", {"slug": "renamed"}, "unknown_field", "slug"),
        ("/api/v1/tenants/v", {"name": None}, "invalid_field", "name"),
        ("/api/v1/tenants/v", {"token_ttl_seconds": 7200}, "invalid_field", "token_ttl_seconds"),
        ("/api/v1/tenants/v/datasets/orders", {"columns": [{"name": "id"}]}, "invalid_field", "columns"),
        ("/api/v1/tenants/v/warehouses/wh", {"url": "mysql://db/x"}, "conflict", "url"),
    ],
    ids=[
        "immutable-slug",
        "null-name",
        "ttl-over-cap",
        "columns-break-filter",
        "dialect-change-under-datasets",
    ],
)
def test_bad_updates_change_nothing(
    server: InProcessGateway, path: str, body: dict[str, Any], code: str, field: str
) -> None:
    with server.client() as client:
        client.post(
            "/api/v1/tenants/v/filters",
            json={"name": "keeps-columns", "dataset": "orders", "clause": "region = 'EU'"},
        )
        before = client.get(path)
        response = client.patch(path, json=body)
        assert response.status_code == (409 if code == "conflict" else 422), response.text
        assert response.json()["error"]["code"] == code
        assert response.json()["error"].get("field") == field
        after = client.get(path)
        assert after.json() == before.json() and after.headers["etag"] == before.headers["etag"]


def test_unknown_routes_and_methods_answer_in_the_error_envelope(server: InProcessGateway) -> None:
    with server.client() as client:
        missing = client.get("/api/v1/tenants/v/nothing-here")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong_method = client.put("/api/v1/tenants/v")
        assert (
            wrong_method.status_code == 405 and wrong_method.json()["error"]["code"] == "method_not_allowed"
        )
        assert client.get("/api/v1/tenants/nobody").json()["error"]["code"] == "not_found"


def test_validated_requests_are_accepted(server: InProcessGateway) -> None:
    """The counterpart of the refusals: the same shapes, correct, go through."""
    with server.client() as client:
        ok = client.post(
            "/api/v1/tenants/v/filters",
            json={
                "name": "regional",
                "filter_type": "regular",
                "dataset": "orders",
                "clause": "region IN ('EU', 'US') AND lower(region) <> 'x'",
                "group_key": "region",
                "roles": ["emea"],
            },
        )
        assert ok.status_code == 201, ok.text
        templated = client.post(
            "/api/v1/tenants/v/filters",
            json={"name": "mine", "dataset": "orders", "clause": "region = {{ user.attributes.region }}"},
        )
        assert templated.status_code == 201, templated.text
        origin = client.post("/api/v1/tenants/v/origins", json={"origin": "HTTPS://Shop.Example.COM:443/"})
        assert origin.status_code == 201 and origin.json()["origin"] == "https://shop.example.com"
        env_warehouse = client.post(
            "/api/v1/tenants/v/warehouses",
            json={
                "name": "ch",
                "url": "clickhouse+http://reader@ch.internal:8123/db",
                "password_env": "WAREHOUSE_CH_PASSWORD",
            },
        )
        assert env_warehouse.status_code == 201
        assert env_warehouse.json()["credentials"] == "environment"
        assert env_warehouse.json()["dialect"] == "clickhouse"
