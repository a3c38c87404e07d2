"""A guest token's life in the browser: refreshed by the SDK before it expires, without a reload and
without losing what the user did; revoked, and the dashboard says so instead of showing data."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Frame, Page, Request

from tests.browser.conftest import (
    TOKEN_TTL,
    Demo,
    Session,
    claims_of,
    dashboard_frame,
    frame_selector,
    screenshot_dir,
)


def statuses(frame: Frame) -> set[str]:
    column: list[str] = frame.evaluate(
        "() => [...document.querySelectorAll('.viz-table tbody tr')].map((row) => row.cells[4].textContent)"
    )
    return set(column)


def choose_status(page: Page, status: str) -> None:
    """What a user of the host page does: pick a status; the host calls setFilters on both dashboards."""
    page.select_option("#status", status)


def bearer_of(request: Request) -> str:
    return request.all_headers().get("authorization", "").removeprefix("Bearer ")


def test_the_sdk_refreshes_the_token_before_it_expires_without_a_reload(demo: Demo, session: Session) -> None:
    page = session.page
    acme_uuid = demo.dashboard_uuid("acme")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    page.goto(demo.host_url + "/")
    frame = dashboard_frame(page, "acme")
    dashboard_frame(page, "globex")
    # Unmounted, globex's embed must not fetch tokens any more: its refresh timer is gone with it.
    page.evaluate("() => window.embeds[1].unmount()")
    globex_tokens = len(session.credentials("globex"))

    choose_status(page, "completed")
    session.wait_for(lambda: statuses(frame) == {"completed"}, timeout=15, message="filter applied")
    scrolled = frame.evaluate(
        "() => { window.marker = 'still the same page'; window.scrollTo(0, 100); return scrollY; }"
    )
    assert scrolled > 0
    first = session.credentials("acme")[0]
    lifetime = claims_of(first)["exp"] - claims_of(first)["iat"]
    assert lifetime == TOKEN_TTL

    tokens = session.wait_for(
        lambda: len(session.credentials("acme")) >= 2 and session.credentials("acme"),
        timeout=TOKEN_TTL + 10,
        message="the SDK fetches a second token before the first expires",
    )
    second = tokens[1]
    assert claims_of(second)["jti"] != claims_of(first)["jti"]
    session.idle(1)
    # Nothing was reloaded: the same document, scrolled where it was, still filtered.
    assert frame.evaluate("() => [window.marker, window.scrollY]") == ["still the same page", scrolled]
    assert statuses(frame) == {"completed"}
    assert [url for url in navigations if url.endswith(acme_uuid)] == [
        f"{demo.gateway_url}/embedded/{acme_uuid}"
    ]

    # The first token is now worthless; the dashboard keeps working because it uses the second.
    demo.revoke("acme", claims_of(first)["jti"])
    asked = len(session.data_requests(acme_uuid))
    choose_status(page, "shipped")
    session.wait_for(lambda: statuses(frame) == {"shipped"}, timeout=15, message="new filter applied")
    new_requests = session.data_requests(acme_uuid)[asked:]
    assert new_requests and all(bearer_of(request) == second for request in new_requests)
    assert len(session.credentials("globex")) == globex_tokens


def test_a_revoked_token_turns_the_dashboard_into_a_clear_error(
    demo: Demo, session: Session, tmp_path: Path
) -> None:
    page = session.page
    page.goto(demo.host_url + "/")
    acme = dashboard_frame(page, "acme")
    globex = dashboard_frame(page, "globex")
    (token,) = session.credentials("acme")
    demo.revoke("acme", claims_of(token)["jti"])

    choose_status(page, "returned")  # the next data request carries the revoked token
    alert = page.frame_locator(frame_selector("acme")).get_by_role("alert")
    alert.wait_for(timeout=15_000)
    assert "Access to this dashboard was revoked" in alert.inner_text()
    assert "token_revoked" in alert.inner_text()
    assert acme.locator(".tile").count() == 0, "no chart (and no row) stays on screen"
    # The other tenant's dashboard, with its own token, goes on.
    session.wait_for(lambda: statuses(globex) == {"returned"}, timeout=15, message="globex filtered")
    # Its total excludes returned orders: for this filter, the chart has nothing to show, and says so.
    assert globex.locator(".viz-big_number .status-empty").inner_text().startswith("No data")
    page.screenshot(path=screenshot_dir(tmp_path) / "demo-acme-revoked.png")
    # Revocation is final for this embed: the SDK does not quietly fetch a new token.
    session.idle(2)
    assert session.credentials("acme") == [token]
