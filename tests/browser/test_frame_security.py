"""Attacks on the embedded page from other origins, performed in the browser: each must fail.

- A host origin the tenant does not list frames the page: the browser refuses (CSP frame-ancestors),
  and the SDK never even fetches a token, since the frame never answers its handshake.
- A foreign page posts the handshake, with a valid token, to a window of the page (a popup it opened, or
  a frame beside it on an allowed host): the page answers nothing and makes no request.
- Markup injected into a rendered dashboard (as an XSS would) runs no script: the CSP allows only the
  page's nonce'd module (and, through 'strict-dynamic', what that module itself loads).
"""

from __future__ import annotations

import json

from tests.browser.conftest import (
    Demo,
    Session,
    StaticSite,
    dashboard_frame,
    frame_selector,
    sdk_page,
)

# A page on a foreign origin that opens the embedded page and performs the handshake the SDK would,
# then hands over a valid token: it records anything the page answers on the channel.
POPUP_ATTACK = """<!doctype html><meta charset="utf-8"><title>attacker</title>
<script>
window.received = [];
window.errors = [];
window.attack = (url, token) => {
  const target = window.open(url, "_blank");
  setTimeout(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = (event) => window.received.push(event.data);
    try {
      target.postMessage({type: "gw:init", protocol: 1, mode: "cookieless"}, "*", [channel.port2]);
      target.postMessage({type: "gw:token", token}, "*");
    } catch (error) {
      window.errors.push(String(error));
    }
    channel.port1.postMessage({type: "gw:token", token});
  }, 1500);
};
</script>"""

# An allowed host page framing the dashboard, with no SDK, beside a frame from a foreign origin.
ALLOWED_HOST = """<!doctype html><meta charset="utf-8"><title>host</title>
<iframe id="dashboard" src="{embed_url}" sandbox="allow-scripts allow-same-origin"></iframe>
<iframe id="neighbour" src="{neighbour_url}"></iframe>"""
NEIGHBOUR_ATTACK = """<!doctype html><meta charset="utf-8"><title>neighbour</title>
<script>
window.received = [];
setTimeout(() => {
  const channel = new MessageChannel();
  channel.port1.onmessage = (event) => window.received.push(event.data);
  parent.frames[0].postMessage({type: "gw:init", protocol: 1, mode: "cookieless"}, "*", [channel.port2]);
  channel.port1.postMessage({type: "gw:token", token: TOKEN});
  window.sent = true;
}, 1000);
</script>"""


INJECTED_MARKUP = """
<img src="/no-such-image.png" onerror="window.injected = 'img onerror'">
<svg onload="window.injected = 'svg onload'"></svg>
<iframe srcdoc="<script>parent.injected = 'srcdoc script'</script>"></iframe>
"""


def test_a_host_origin_the_tenant_does_not_list_cannot_frame_the_dashboard(
    demo: Demo, session: Session
) -> None:
    # The demo's host site, reached by another name: http://127.0.0.1:P2 is not http://localhost:P2.
    session.page.goto(f"http://127.0.0.1:{demo.host_port}/")
    session.wait_for(
        lambda: session.console_text().count("frame-ancestors") >= 2,
        timeout=15,
        message=f"the browser reports both frames refused; console:\n{session.console_text()}",
    )
    refusals = [m.text for m in session.console if "frame-ancestors" in m.text]
    for text in refusals:
        # e.g. Framing 'http://127.0.0.1:P1/' violates the following Content Security Policy directive:
        # "frame-ancestors http://localhost:8000 http://localhost:P2". The request has been blocked.
        assert "violates the following Content Security Policy directive" in text, text
        assert f"http://localhost:{demo.host_port}" in text and "blocked" in text, text
    session.idle(1.5)
    for slug in ("acme", "globex"):
        frame = session.page.locator(frame_selector(slug)).element_handle().content_frame()
        assert frame is not None
        assert not frame.url.startswith(demo.gateway_url), frame.url  # the browser's error page instead
        assert session.page.frame_locator(frame_selector(slug)).locator(".tile").count() == 0
    # The frame never answered the handshake: no token was fetched from the host, no data asked for.
    assert not [r for r in session.requests if r.url.endswith("/api/credential")]
    assert session.api_requests() == []


def test_a_foreign_page_opening_the_dashboard_gets_nothing_for_its_handshake(
    demo: Demo, session: Session, attacker_site: StaticSite
) -> None:
    uuid = demo.dashboard_uuid("acme")
    token = demo.mint("acme")
    page = session.page
    page.goto(attacker_site.page(POPUP_ATTACK))
    with session.context.expect_page() as opened:
        page.evaluate(
            "([url, token]) => window.attack(url, token)", [f"{demo.gateway_url}/embedded/{uuid}", token]
        )
    popup = opened.value
    popup.wait_for_load_state()
    session.idle(3)
    assert page.evaluate("() => window.received") == []
    # Opened on its own, the page says what it is for and waits for nothing.
    assert "meant to be embedded" in popup.locator("main").inner_text()
    assert session.api_requests() == []


def test_a_foreign_frame_beside_the_dashboard_cannot_hand_it_a_token(
    demo: Demo, session: Session, attacker_site: StaticSite, trusted_site: str
) -> None:
    uuid = demo.dashboard_uuid("acme")
    neighbour = attacker_site.page(NEIGHBOUR_ATTACK.replace("TOKEN", json.dumps(demo.mint("acme"))))
    host = attacker_site.page(
        ALLOWED_HOST.format(embed_url=f"{demo.gateway_url}/embedded/{uuid}", neighbour_url=neighbour)
    )
    page = session.page
    page.goto(host.replace(attacker_site.origin, trusted_site))
    dashboard = page.frame_locator("#dashboard")
    dashboard.locator("main").wait_for()
    neighbour_frame = page.locator("#neighbour").element_handle().content_frame()
    assert neighbour_frame is not None
    session.wait_for(
        lambda: neighbour_frame.evaluate("() => window.sent === true"), timeout=10, message="sent"
    )
    session.idle(2)
    assert neighbour_frame.evaluate("() => window.received") == []
    assert session.api_requests() == []
    assert "Loading dashboard" in dashboard.locator("main").inner_text()


def test_a_token_naming_other_sites_is_not_used_on_this_one(
    demo: Demo, session: Session, attacker_site: StaticSite, trusted_site: str
) -> None:
    # acme allows both origins; this token may only be used from the demo's host site.
    token = demo.mint("acme", origins=[demo.host_url])
    session.page.goto(sdk_page(attacker_site, trusted_site, demo, [token]))
    alert = session.page.frame_locator('iframe[title="Lab dashboard"]').get_by_role("alert")
    alert.wait_for(timeout=15_000)
    assert "This dashboard may not be shown on this site" in alert.inner_text()
    assert session.api_requests() == []


def test_markup_injected_into_the_dashboard_cannot_run_script(demo: Demo, session: Session) -> None:
    session.page.goto(demo.host_url + "/")
    frame = dashboard_frame(session.page, "acme")
    # What an XSS in the page would insert: markup carrying an inline script or event handlers.
    frame.evaluate(
        """(payload) => document.body.insertAdjacentHTML("beforeend", payload)""",
        INJECTED_MARKUP,
    )
    session.wait_for(
        lambda: session.console_text().count("violates the following Content Security Policy") >= 3,
        timeout=10,
        message=f"the browser reports the refused scripts; console:\n{session.console_text()}",
    )
    session.idle(0.5)
    assert frame.evaluate("() => window.injected ?? null") is None
    console = session.console_text()
    assert "inline event handler" in console and "inline script" in console, console
    # The dashboard itself still works.
    assert frame.locator(".viz-table tbody tr").count() == 20
