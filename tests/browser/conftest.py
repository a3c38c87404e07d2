"""Browser tests of embedding (issue 6): Debian's headless Chromium driven by Playwright.

One `gateway demo` process for the session (the gateway on `http://127.0.0.1:P1`, its host site on
`http://localhost:P2`, a different origin that the demo tenants allow), one browser for the session,
and a fresh browser context per test. Pages that play an attacker are served by `StaticSite`, a real
HTTP server on a third port, reached as `http://127.0.0.1:P3`: an origin no tenant allows.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

import duckdb
import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Frame, Page, Request, sync_playwright

from gateway.service.demo.onboarding import DEMO_FILE
from tests.support.gateways import gateway_env
from tests.support.services import ADMIN_TOKEN, REDIS_URL, free_port

CHROMIUM: Final = Path("/usr/bin/chromium")
# The demo's guest tokens live this long, so that a test sees the SDK refresh one (at 80 %).
TOKEN_TTL: Final = 20
TENANT_IDS: Final = {"acme": 1, "globex": 2}
FRAME_TITLES: Final = {
    "acme": "Acme Corporation sales dashboard",
    "globex": "Globex Corporation sales dashboard",
}


def wait_until(condition: Callable[[], Any], *, timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {message}")


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def frame_selector(slug: str) -> str:
    return f'iframe[title="{FRAME_TITLES[slug]}"]'


def dashboard_frame(page: Page, slug: str, *, drawn: str = ".viz-table tbody tr") -> Frame:
    """The iframe of `slug`'s dashboard, once `drawn` is in it (by default, its table's rows)."""
    page.frame_locator(frame_selector(slug)).locator(drawn).first.wait_for(timeout=20_000)
    frame = page.locator(frame_selector(slug)).element_handle().content_frame()
    assert frame is not None
    return frame


# -------------------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    """A running `gateway demo`: the gateway, its host site, and the demo's DuckDB file."""

    gateway_url: str
    host_url: str
    warehouse: Path
    process: subprocess.Popen[bytes]
    log: Path
    admin: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.admin = httpx.Client(
            base_url=self.gateway_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )

    @property
    def host_port(self) -> int:
        return int(self.host_url.rsplit(":", 1)[1])

    def dashboard_uuid(self, slug: str) -> str:
        answer = self.admin.get(f"/api/v1/tenants/{slug}/dashboards")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["items"][0]["uuid"])

    def app_token(self, slug: str) -> str:
        """An OAuth access token of a new app of this tenant (it may mint and revoke)."""
        app = self.admin.post(f"/api/v1/tenants/{slug}/apps", json={"name": f"test-{secrets.token_hex(4)}"})
        assert app.status_code == 201, app.text
        answer = httpx.post(
            f"{self.gateway_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(app.json()["client_id"], app.json()["client_secret"]),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def mint(self, slug: str, **extra: Any) -> str:
        """A guest token for the tenant's (first) dashboard."""
        body = {
            "user": {"username": "someone"},
            "resources": [{"type": "dashboard", "id": self.dashboard_uuid(slug)}],
            "rls": [],
            **extra,
        }
        answer = httpx.post(
            f"{self.gateway_url}/api/v1/security/guest_token/",
            json=body,
            headers={"Authorization": f"Bearer {self.app_token(slug)}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["token"])

    def revoke(self, slug: str, jti: str) -> None:
        answer = httpx.post(
            f"{self.gateway_url}/api/v1/security/guest_token/revoke",
            json={"jti": jti},
            headers={"Authorization": f"Bearer {self.app_token(slug)}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    directory = tmp_path_factory.mktemp("demo")
    port, host_port = free_port(), free_port()
    env = gateway_env(
        f"sqlite:///{directory / 'registry.db'}",
        REDIS_URL=REDIS_URL,
        GATEWAY_REDIS_PREFIX=f"gw-browser-{secrets.token_hex(4)}:",
    )
    log = directory / "demo.log"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway",
                "demo",
                "--port",
                str(port),
                "--host-port",
                str(host_port),
                "--token-ttl",
                str(TOKEN_TTL),
            ],
            cwd=directory,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    running = Demo(
        f"http://127.0.0.1:{port}", f"http://localhost:{host_port}", directory / DEMO_FILE, process, log
    )

    def answering() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"gateway demo exited with {process.returncode}:\n{log.read_text()}")
        try:
            return (
                httpx.get(f"{running.gateway_url}/healthz", timeout=1).status_code == 200
                and httpx.get(f"http://127.0.0.1:{host_port}/", timeout=1).status_code == 200
            )
        except httpx.TransportError:
            return False

    try:
        wait_until(answering, timeout=60, message="gateway demo answers on both ports")
        yield running
    finally:
        running.admin.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ------------------------------------------------------------------------------------ the browser


# Package-scoped, like every fixture here: Playwright's sync API keeps an event loop running in this
# thread while it is started, and the asynchronous tests of other packages need it gone.
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    # The CI script installs Debian's chromium; on a developer machine it may still be installing.
    wait_until(
        lambda: CHROMIUM.exists() or shutil.which("chromium"), timeout=600, message="chromium installed"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@dataclass
class Session:
    """One browser context and page, with everything the page and its frames did recorded."""

    context: BrowserContext
    page: Page
    console: list[ConsoleMessage] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def api_requests(self, prefix: str = "/api/v1/") -> list[Request]:
        return [r for r in self.requests if r.url.split("://", 1)[1].split("/", 1)[-1].startswith(prefix[1:])]

    def console_text(self) -> str:
        return "\n".join(message.text for message in self.console)

    def wait_for(self, condition: Callable[[], Any], *, timeout: float, message: str) -> Any:
        """`wait_until`, letting Playwright deliver the browser's events (console, requests) meanwhile."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            self.page.wait_for_timeout(100)
        raise AssertionError(f"not within {timeout} s: {message}")

    def idle(self, seconds: float) -> None:
        """Let the browser run (and its events arrive) for a while, to show that something does not happen."""
        self.page.wait_for_timeout(seconds * 1000)

    def credentials(self, slug: str) -> list[str]:
        """What the host's backend handed the SDK for `slug` (guest tokens, or tickets), in order."""
        handed = []
        for request in self.requests:
            if (
                request.url.endswith("/api/credential")
                and (request.post_data_json or {}).get("tenant") == slug
            ):
                response = request.response()
                if response is not None and response.ok:
                    handed.append(str(response.json()["credential"]))
        return handed

    def data_requests(self, dashboard_uuid: str) -> list[Request]:
        """Requests to the gateway's API made by the frame showing this dashboard."""
        return [r for r in self.api_requests() if r.frame.url.endswith(f"/embedded/{dashboard_uuid}")]


@pytest.fixture
def session(browser: Browser) -> Iterator[Session]:
    context = browser.new_context(viewport={"width": 1400, "height": 1150})
    page = context.new_page()
    recorded = Session(context, page)
    context.on("console", lambda message: recorded.console.append(message))
    context.on("request", lambda request: recorded.requests.append(request))
    yield recorded
    context.close()


# --------------------------------------------------------------------------------- attacker pages


class StaticSite:
    """A real HTTP server answering pages the tests give it, on 127.0.0.1 (an origin no tenant allows)."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?", 1)[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def page(self, html: str) -> str:
        path = f"/{secrets.token_hex(6)}.html"
        self.pages[path] = html
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="package")
def attacker_site() -> Iterator[StaticSite]:
    site = StaticSite()
    yield site
    site.close()


@pytest.fixture(scope="package")
def trusted_site(demo: Demo, attacker_site: StaticSite) -> str:
    """The same server reached as `http://localhost:P3`: an origin acme allows (added for these tests)."""
    origin = attacker_site.origin.replace("127.0.0.1", "localhost")
    added = demo.admin.post("/api/v1/tenants/acme/origins", json={"origin": origin})
    assert added.status_code in (201, 409), added.text
    return origin


# A host page of its own: the SDK embeds acme's dashboard, and `fetchGuestToken` hands out the given
# credentials in order (the last one again once they run out).
SDK_PAGE = """<!doctype html><meta charset="utf-8"><title>host</title>
<div id="dashboard" style="height: 800px"></div>
<script type="module">
  const config = CONFIG;
  const { embedDashboard } = await import(`${config.gatewayUrl}/sdk/embed.js`);
  let calls = 0;
  window.embed = embedDashboard({
    id: config.dashboard,
    gatewayUrl: config.gatewayUrl,
    mountPoint: document.getElementById("dashboard"),
    mode: config.mode,
    iframeTitle: "Lab dashboard",
    fetchGuestToken: async () => config.credentials[Math.min(calls++, config.credentials.length - 1)],
  });
</script>"""


def sdk_page(
    site: StaticSite,
    origin: str,
    demo: Demo,
    credentials: list[str],
    *,
    mode: str = "cookieless",
    dashboard: str | None = None,
) -> str:
    """The URL, on `origin`, of an SDK host page for a dashboard (acme's) handing out `credentials`."""
    config = {
        "gatewayUrl": demo.gateway_url,
        "dashboard": dashboard or demo.dashboard_uuid("acme"),
        "mode": mode,
        "credentials": credentials,
    }
    url = site.page(SDK_PAGE.replace("CONFIG", json.dumps(config)))
    return origin + url.removeprefix(site.origin)


def screenshot_dir(tmp_path: Path) -> Path:
    directory = Path(os.environ.get("GATEWAY_SCREENSHOT_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


# ------------------------------------------------------------------- what a dashboard shows

RECENT_ORDERS_SQL = """
    SELECT order_id, order_date, region, category, status, quantity, amount FROM main.orders
    WHERE tenant_id = ? ORDER BY order_date DESC, order_id DESC LIMIT 20
"""


def table_cells(frame: Frame) -> list[list[str]]:
    cells: list[list[str]] = frame.evaluate(
        """() => [...document.querySelectorAll('.viz-table tbody tr')]
                 .map((row) => [...row.cells].map((cell) => cell.textContent))"""
    )
    return cells


def direct_rows(warehouse: Path, sql: str, tenant_id: int) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as conn:
        return list(conn.execute(sql, [tenant_id]).fetchall())
