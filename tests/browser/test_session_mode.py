"""Session mode in the browser: a one-time ticket becomes a partitioned, HttpOnly session cookie; the page
then sends no token at all; a ticket used once opens nothing the second time."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser

from tests.browser.conftest import (
    RECENT_ORDERS_SQL,
    TENANT_IDS,
    Demo,
    Session,
    StaticSite,
    dashboard_frame,
    direct_rows,
    sdk_page,
    table_cells,
)

SESSION_COOKIE = "__Host-gw_session"  # each dashboard's cookie is this name plus a suffix of its own


def session_cookies(cookies: list[Any]) -> list[Any]:
    return [c for c in cookies if c["name"].startswith(SESSION_COOKIE)]


def test_session_mode_works_with_a_partitioned_cookie(demo: Demo, session: Session) -> None:
    acme_uuid = demo.dashboard_uuid("acme")
    session.page.goto(demo.host_url + "/?mode=session&tenant=acme")
    frame = dashboard_frame(session.page, "acme")
    assert frame.locator(".viz-table tbody tr").count() == 20

    (cookie,) = session_cookies(session.context.cookies())
    assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "None"
    # Partitioned (CHIPS): kept under the embedding site, so it works where third-party cookies are blocked.
    assert cookie.get("partitionKey") == "http://localhost", cookie
    assert SESSION_COOKIE not in frame.evaluate("() => document.cookie")  # HttpOnly: no script reads it

    data_requests = session.data_requests(acme_uuid)
    assert data_requests
    for request in data_requests:
        headers = request.all_headers()
        assert "authorization" not in headers and "x-guesttoken" not in headers
        assert SESSION_COOKIE in headers.get("cookie", "")
        if request.method == "POST":
            assert headers.get("x-csrf-token"), "a state-changing request carries the CSRF token"
        response = request.response()
        assert response is not None and response.status == 200


def test_a_replayed_ticket_opens_no_session(demo: Demo, session: Session, browser: Browser) -> None:
    acme_uuid = demo.dashboard_uuid("acme")
    session.page.goto(demo.host_url + "/?mode=session&tenant=acme")
    dashboard_frame(session.page, "acme")
    (ticket,) = session.credentials("acme")  # redeemed by the dashboard already

    # Someone who got hold of the ticket (a log line, a proxy) redeems it from another browser.
    other = browser.new_context()
    try:
        page = other.new_page()
        page.goto(f"{demo.gateway_url}/embedded/{acme_uuid}")
        answer = page.evaluate(
            """async ([ticket, dashboard]) => {
                const redeem = await fetch("/embedded/session", {
                    method: "POST", credentials: "same-origin",
                    headers: {"Content-Type": "application/json"}, body: JSON.stringify({ticket}),
                });
                const data = await fetch(`/api/v1/dashboard/${dashboard}`, {credentials: "same-origin"});
                return [redeem.status, await redeem.json(), data.status];
            }""",
            [ticket, acme_uuid],
        )
        redeem_status, redeem_body, data_status = answer
        assert redeem_status == 401 and redeem_body["error"]["code"] == "ticket_invalid", answer
        assert "csrf_token" not in redeem_body
        assert data_status == 401, answer
        assert session_cookies(other.cookies()) == []
    finally:
        other.close()


def test_a_dashboard_handed_a_used_ticket_says_so_and_shows_nothing(
    demo: Demo, session: Session, attacker_site: StaticSite, trusted_site: str
) -> None:
    session.page.goto(demo.host_url + "/?mode=session&tenant=acme")
    dashboard_frame(session.page, "acme")
    (used,) = session.credentials("acme")
    # A host page handing its dashboard that ticket again (and again, when asked for a new one).
    lab = session.context.new_page()
    asked = len(session.api_requests())
    lab.goto(sdk_page(attacker_site, trusted_site, demo, [used], mode="session"))
    alert = lab.frame_locator('iframe[title="Lab dashboard"]').get_by_role("alert")
    alert.wait_for(timeout=15_000)
    assert "could not start a session" in alert.inner_text()
    assert "ticket_invalid" in alert.inner_text()
    session.idle(1)
    assert session.api_requests()[asked:] == [], "no data request without a session"


def test_two_dashboards_on_one_page_keep_their_own_sessions(demo: Demo, session: Session) -> None:
    """Both frames share the gateway's partitioned cookie jar on the host page: each keeps its own cookie."""
    session.page.goto(demo.host_url + "/?mode=session")
    shown = {slug: table_cells(dashboard_frame(session.page, slug)) for slug in TENANT_IDS}
    for slug, tenant_id in TENANT_IDS.items():
        expected = direct_rows(demo.warehouse, RECENT_ORDERS_SQL, tenant_id)
        assert [int(cells[0]) for cells in shown[slug]] == [row[0] for row in expected]
    cookies = session_cookies(session.context.cookies())
    assert len({c["name"] for c in cookies}) == 2, cookies
    for slug in TENANT_IDS:
        for request in session.data_requests(demo.dashboard_uuid(slug)):
            response = request.response()
            assert response is not None and response.status == 200, (slug, request.url)
