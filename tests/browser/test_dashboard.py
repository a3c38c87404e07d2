"""The demo's host page embeds both tenants' dashboards through the SDK; each shows its tenant's rows only."""

from __future__ import annotations

import secrets
from decimal import Decimal
from pathlib import Path

from tests.browser.conftest import (
    RECENT_ORDERS_SQL,
    TENANT_IDS,
    Demo,
    Session,
    StaticSite,
    dashboard_frame,
    direct_rows,
    frame_selector,
    screenshot_dir,
    sdk_page,
    table_cells,
)
from tests.support.services import free_port

REVENUE_SQL = (
    "SELECT sum(amount) FROM main.orders WHERE tenant_id = ? AND status NOT IN ('cancelled', 'returned')"
)


def as_number(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def test_each_dashboard_shows_its_tenants_rows_and_nothing_else(demo: Demo, session: Session) -> None:
    session.page.goto(demo.host_url + "/")
    for slug, tenant_id in TENANT_IDS.items():
        frame = dashboard_frame(session.page, slug)
        assert frame.url.startswith(demo.gateway_url + "/embedded/")
        expected = direct_rows(demo.warehouse, RECENT_ORDERS_SQL, tenant_id)
        shown = table_cells(frame)
        assert len(shown) == len(expected) == 20
        for cells, row in zip(shown, expected, strict=True):
            order_id, order_date, region, category, status, quantity, amount = row
            assert cells[:6] == [
                str(order_id),
                order_date.isoformat(),
                region,
                category,
                status,
                str(quantity),
            ]
            assert as_number(cells[6]) == amount
        (revenue,) = direct_rows(demo.warehouse, REVENUE_SQL, tenant_id)[0]
        exact_revenue = frame.locator(".big-number-exact").inner_text()  # "6,100,522.00 revenue"
        assert as_number(exact_revenue.split()[0]) == revenue
        # Cookieless mode: every data request carried the token as a bearer, and no cookie.
        data_requests = [r for r in session.api_requests() if r.frame == frame]
        assert data_requests, "the dashboard made no data request"
        for request in data_requests:
            headers = request.all_headers()
            assert headers.get("authorization", "").startswith("Bearer ")
            assert "cookie" not in headers
    # The two tenants' rows are disjoint: what acme shows, globex does not.
    acme = {cells[0] for cells in table_cells(dashboard_frame(session.page, "acme"))}
    globex = {cells[0] for cells in table_cells(dashboard_frame(session.page, "globex"))}
    assert acme and globex and not acme & globex


def test_sdk_reports_the_content_size_and_unmount_removes_the_frame(demo: Demo, session: Session) -> None:
    session.page.goto(demo.host_url + "/")
    dashboard_frame(session.page, "acme")
    size = session.page.evaluate("() => window.embeds[0].getScrollSize()")
    assert size["width"] > 300 and size["height"] > 600, size
    session.page.evaluate("() => window.embeds[0].unmount()")
    assert session.page.locator(frame_selector("acme")).count() == 0
    assert session.page.locator(frame_selector("globex")).count() == 1


def test_screenshots_of_the_demo(demo: Demo, session: Session, tmp_path: Path) -> None:
    """Saved for a person to look at (GATEWAY_SCREENSHOT_DIR, else the test's tmp dir)."""
    directory = screenshot_dir(tmp_path)
    page = session.page
    page.goto(demo.host_url + "/")
    for slug in TENANT_IDS:
        dashboard_frame(page, slug)
    page.screenshot(path=directory / "demo-side-by-side.png")
    for slug in TENANT_IDS:
        page.locator(frame_selector(slug)).screenshot(path=directory / f"demo-{slug}.png")
    # A narrow window: the host stacks the dashboards, and each dashboard stacks its charts.
    page.set_viewport_size({"width": 420, "height": 1400})
    frame = dashboard_frame(page, "acme")
    tiles = frame.evaluate(
        "() => [...document.querySelectorAll('.tile')].map((tile) => tile.getBoundingClientRect().left)"
    )
    assert len(set(tiles)) == 1, f"tiles not stacked in one column: {tiles}"
    page.locator(frame_selector("acme")).screenshot(path=directory / "demo-acme-narrow.png")
    for name in ("demo-side-by-side.png", "demo-acme.png", "demo-globex.png", "demo-acme-narrow.png"):
        assert (directory / name).stat().st_size > 10_000


def test_a_warehouse_that_does_not_answer_is_explained_in_each_chart(
    demo: Demo, session: Session, attacker_site: StaticSite, trusted_site: str, tmp_path: Path
) -> None:
    # A tenant whose warehouse is a port nothing listens on.
    slug = f"down-{secrets.token_hex(3)}"
    closed_port = free_port()
    for path, body in (
        (
            "/api/v1/tenants",
            {"slug": slug, "name": "Down Inc", "dialect": "postgres", "origins": [trusted_site]},
        ),
        (
            f"/api/v1/tenants/{slug}/warehouses",
            {"name": "main", "url": f"postgresql://r@127.0.0.1:{closed_port}/x"},
        ),
        (
            f"/api/v1/tenants/{slug}/datasets",
            {
                "name": "orders",
                "warehouse": "main",
                "table": "public.orders",
                "columns": [{"name": "region", "type": "VARCHAR"}, {"name": "amount", "type": "NUMERIC"}],
            },
        ),
    ):
        created = demo.admin.post(path, json=body)
        assert created.status_code == 201, created.text
    chart = demo.admin.post(
        f"/api/v1/tenants/{slug}/charts",
        json={
            "title": "Revenue by region",
            "dataset": "orders",
            "viz_type": "bar",
            "query": {
                "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
                "groupby": ["region"],
            },
        },
    )
    assert chart.status_code == 201, chart.text
    dashboard = demo.admin.post(
        f"/api/v1/tenants/{slug}/dashboards", json={"title": "Down", "charts": [chart.json()["id"]]}
    )
    assert dashboard.status_code == 201, dashboard.text
    uuid = dashboard.json()["uuid"]

    session.page.goto(sdk_page(attacker_site, trusted_site, demo, [demo.mint(slug)], dashboard=uuid))
    tile = session.page.frame_locator('iframe[title="Lab dashboard"]').locator(".tile")
    tile.get_by_role("alert").wait_for(timeout=20_000)
    text = tile.inner_text()
    assert "Revenue by region" in text  # the dashboard itself loaded; its chart explains the failure
    assert "The data source is not answering right now" in text
    session.page.screenshot(path=screenshot_dir(tmp_path) / "error-warehouse-down.png")
    retry = tile.get_by_role("button", name="Try again")
    asked = len(session.api_requests("/api/v1/chart/data"))
    retry.click()
    session.wait_for(
        lambda: len(session.api_requests("/api/v1/chart/data")) > asked, timeout=10, message="retried"
    )
