"""Onboarding a tenant over HTTP against a running gateway, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.support.gateways import InProcessGateway
from tests.support.onboarding import ORDERS_COLUMNS, created


def onboard(client: httpx.Client, slug: str = "acme") -> dict[str, Any]:
    """The full onboarding of one tenant, as an operator's script would do it."""
    tenant = created(
        client.post(
            "/api/v1/tenants",
            json={"slug": slug, "name": "Acme Corp", "dialect": "duckdb", "attributes": {"plan": "gold"}},
        )
    )
    app = created(client.post(f"/api/v1/tenants/{slug}/apps", json={"name": "acme-backend"}))
    warehouse = created(
        client.post(
            f"/api/v1/tenants/{slug}/warehouses",
            json={"name": "main", "url": "postgresql://reader:s3cret-pw@warehouse.internal:5432/shop"},
        )
    )
    dataset = created(
        client.post(
            f"/api/v1/tenants/{slug}/datasets",
            json={"name": "orders", "warehouse": "main", "table": "public.orders", "columns": ORDERS_COLUMNS},
        )
    )
    revenue = created(
        client.post(
            f"/api/v1/tenants/{slug}/charts",
            json={
                "title": "Revenue by region",
                "dataset": "orders",
                "viz_type": "bar",
                "query": {
                    "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
                    "groupby": ["region"],
                    "order_by": [{"column": "revenue", "descending": True}],
                },
            },
        )
    )
    count = created(
        client.post(
            f"/api/v1/tenants/{slug}/charts",
            json={
                "title": "Orders",
                "dataset": "orders",
                "viz_type": "big_number",
                "query": {"metrics": [{"aggregate": "COUNT", "label": "orders"}]},
            },
        )
    )
    dashboard = created(
        client.post(
            f"/api/v1/tenants/{slug}/dashboards",
            json={"title": "Sales", "charts": [revenue["id"], count["uuid"]], "layout": {"columns": 2}},
        )
    )
    base_filter = created(
        client.post(
            f"/api/v1/tenants/{slug}/filters",
            json={"name": "own rows", "dataset": "orders", "clause": "tenant_id = 42", "group_key": "tenant"},
        )
    )
    everywhere = created(
        client.post(
            f"/api/v1/tenants/{slug}/filters",
            json={"name": "recent", "dataset": "*", "clause": "ordered_at >= DATE '2020-01-01'"},
        )
    )
    origins = [
        created(client.post(f"/api/v1/tenants/{slug}/origins", json={"origin": origin}))
        for origin in ("https://app.acme.example", "https://*.acme.example", "http://localhost:3000")
    ]
    return {
        "tenant": tenant,
        "app": app,
        "warehouse": warehouse,
        "dataset": dataset,
        "charts": [revenue, count],
        "dashboard": dashboard,
        "filters": [base_filter, everywhere],
        "origins": origins,
    }


def snapshot(client: httpx.Client, slug: str) -> dict[str, Any]:
    """Everything the API shows about a tenant."""
    state: dict[str, Any] = {"tenant": client.get(f"/api/v1/tenants/{slug}").json()}
    for collection in (
        "apps",
        "warehouses",
        "datasets",
        "charts",
        "dashboards",
        "filters",
        "origins",
        "keys",
    ):
        response = client.get(f"/api/v1/tenants/{slug}/{collection}")
        assert response.status_code == 200, response.text
        state[collection] = response.json()["items"]
    return state


def test_full_onboarding_survives_a_restart(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        made = onboard(client)
        before = snapshot(client, "acme")

    assert made["tenant"]["slug"] == "acme" and made["tenant"]["status"] == "active"
    assert made["app"]["client_secret"] and made["app"]["scopes"] == [
        "guest_token:create",
        "guest_token:revoke",
    ]
    assert made["warehouse"]["url"] == "postgresql://reader@warehouse.internal:5432/shop"
    assert made["warehouse"]["credentials"] == "encrypted" and made["warehouse"]["dialect"] == "postgres"
    assert made["dashboard"]["charts"] == [c["id"] for c in made["charts"]]
    assert [o["origin"] for o in made["origins"]] == [
        "https://app.acme.example",
        "https://*.acme.example",
        "http://localhost:3000",
    ]
    assert len(before["keys"]) == 1 and before["keys"][0]["status"] == "active"
    assert before["keys"][0]["public_jwk"]["kty"] == "OKP"

    gateway.restart()

    with gateway.client() as client:
        after = snapshot(client, "acme")
        by_id = client.get(f"/api/v1/tenants/{made['tenant']['id']}")
    assert after == before
    assert by_id.json() == before["tenant"]
    secrets_shown = str(after)
    assert "s3cret-pw" not in secrets_shown and made["app"]["client_secret"] not in secrets_shown


def test_created_resources_carry_location_and_etag(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        response = client.post("/api/v1/tenants", json={"slug": "loc", "name": "Loc"})
        assert response.status_code == 201
        assert response.headers["location"] == "/api/v1/tenants/loc"
        fetched = client.get(response.headers["location"])
        assert fetched.headers["etag"] == response.headers["etag"]
        assert fetched.headers["cache-control"] == "no-store"


def test_if_match_conflict_keeps_the_newer_write(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        onboard(client)
        first = client.get("/api/v1/tenants/acme/datasets/orders")
        etag = first.headers["etag"]

        winner = client.patch(
            "/api/v1/tenants/acme/datasets/orders", json={"description": "first"}, headers={"If-Match": etag}
        )
        assert winner.status_code == 200
        assert winner.headers["etag"] != etag

        loser = client.patch(
            "/api/v1/tenants/acme/datasets/orders", json={"description": "second"}, headers={"If-Match": etag}
        )
        assert loser.status_code == 412
        assert loser.json()["error"]["code"] == "precondition_failed"
        stale_delete = client.delete("/api/v1/tenants/acme/origins/1", headers={"If-Match": '"99"'})
        assert stale_delete.status_code == 412

        current = client.get("/api/v1/tenants/acme/datasets/orders")
        assert current.json()["description"] == "first"
        assert current.headers["etag"] == winner.headers["etag"]
        assert client.get("/api/v1/tenants/acme/origins/1").status_code == 200


def test_concurrent_updates_with_the_same_etag_let_exactly_one_win(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        created(client.post("/api/v1/tenants", json={"slug": "race", "name": "Race"}))
        etag = client.get("/api/v1/tenants/race").headers["etag"]
    statuses: list[int] = []

    def patch(name: str) -> None:
        with gateway.client() as own:
            response = own.patch("/api/v1/tenants/race", json={"name": name}, headers={"If-Match": etag})
            statuses.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(f"name-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] + [412] * 5


def test_idempotent_post_returns_the_first_answer(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        created(client.post("/api/v1/tenants", json={"slug": "idem", "name": "Idem"}))
        key = {"Idempotency-Key": "create-backend-app-1"}
        first = client.post("/api/v1/tenants/idem/apps", json={"name": "backend"}, headers=key)
        again = client.post("/api/v1/tenants/idem/apps", json={"name": "backend"}, headers=key)
        assert first.status_code == again.status_code == 201
        # The retry gets the very same app, secret included: the caller may have lost the first answer.
        assert again.json() == first.json()
        assert again.headers["location"] == first.headers["location"]
        apps = client.get("/api/v1/tenants/idem/apps").json()["items"]
        assert [a["client_id"] for a in apps] == [first.json()["client_id"]]

        reused = client.post("/api/v1/tenants/idem/apps", json={"name": "other"}, headers=key)
        assert reused.status_code == 422
        assert reused.json()["error"]["code"] == "idempotency_key_reused"

        fresh = client.post(
            "/api/v1/tenants/idem/apps", json={"name": "backend"}, headers={"Idempotency-Key": "2"}
        )
        assert fresh.status_code == 201 and fresh.json()["client_id"] != first.json()["client_id"]


def test_concurrent_posts_with_one_idempotency_key_create_one_entity(gateway: InProcessGateway) -> None:
    """Apps have no natural unique key, so only the idempotency mechanism can keep this to one app."""
    with gateway.client() as client:
        created(client.post("/api/v1/tenants", json={"slug": "burst", "name": "Burst"}))
    answers: list[httpx.Response] = []

    def post() -> None:
        with gateway.client() as own:
            answers.append(
                own.post(
                    "/api/v1/tenants/burst/apps",
                    json={"name": "backend"},
                    headers={"Idempotency-Key": "same"},
                )
            )

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1  # the same app, the same one-time secret
    with gateway.client() as client:
        assert len(client.get("/api/v1/tenants/burst/apps").json()["items"]) == 1


def test_pagination_walks_every_item_once(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        created(client.post("/api/v1/tenants", json={"slug": "pages", "name": "Pages"}))
        wanted = [f"https://site{i}.pages.example" for i in range(7)]
        for origin in wanted:
            created(client.post("/api/v1/tenants/pages/origins", json={"origin": origin}))
        seen: list[str] = []
        pages = 0
        cursor = None
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = client.get("/api/v1/tenants/pages/origins", params=params).json()
            pages += 1
            seen += [item["origin"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == wanted and pages == 3
        assert client.get("/api/v1/tenants/pages/origins", params={"limit": "0"}).status_code == 422
        assert client.get("/api/v1/tenants/pages/origins", params={"cursor": "%%%"}).status_code == 422


def test_entities_in_use_cannot_be_deleted(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        made = onboard(client)
        for path, blocker in (
            ("warehouses/main", "datasets"),
            ("datasets/orders", "charts"),
            (f"charts/{made['charts'][0]['id']}", "dashboards"),
        ):
            response = client.delete(f"/api/v1/tenants/acme/{path}")
            assert response.status_code == 409, path
            assert blocker in response.json()["error"]["message"]
        assert (
            client.delete(f"/api/v1/tenants/acme/dashboards/{made['dashboard']['uuid']}").status_code == 204
        )
        assert client.delete(f"/api/v1/tenants/acme/charts/{made['charts'][0]['id']}").status_code == 204
        assert client.get(f"/api/v1/tenants/acme/charts/{made['charts'][0]['id']}").status_code == 404


def test_deleting_a_tenant_removes_everything_it_owned(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        onboard(client, "gone")
        onboard(client, "kept")
        assert client.delete("/api/v1/tenants/gone").status_code == 204
        assert client.get("/api/v1/tenants/gone").status_code == 404
        assert client.get("/api/v1/tenants/gone/datasets").status_code == 404
        listed = client.get("/api/v1/tenants").json()["items"]
        assert [t["slug"] for t in listed] == ["kept"]
        assert len(client.get("/api/v1/tenants/kept/charts").json()["items"]) == 2


def test_tenants_cannot_reach_each_others_entities(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        acme = onboard(client, "acme")
        created(client.post("/api/v1/tenants", json={"slug": "globex", "name": "Globex"}))
        foreign_chart = acme["charts"][0]["id"]
        assert client.get(f"/api/v1/tenants/globex/charts/{foreign_chart}").status_code == 404
        refused = client.post(
            "/api/v1/tenants/globex/dashboards", json={"title": "x", "charts": [foreign_chart]}
        )
        assert refused.status_code == 422
        assert refused.json()["error"]["field"] == "charts[0]"
        refused = client.post(
            "/api/v1/tenants/globex/filters",
            json={"name": "f", "dataset": "orders", "clause": "tenant_id = 1"},
        )
        assert refused.status_code == 422 and refused.json()["error"]["field"] == "dataset"
