"""Session mode: a one-time ticket traded for a cookie-backed server-side session, and the attacks on it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tests.dataplane.conftest import DataTenant, Engine, data_of
from tests.hardening.conftest import LOGOUT, SESSION_COOKIE, HardenedGateway
from tests.support.guests import Servers, assert_api_error, claims_of
from tests.support.services import REDIS_URL, SECRET_KEY

CHART_DATA = "/api/v1/chart/data"
BASE64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture(scope="module")
def tenants(gw: HardenedGateway, duckdb_engine: Engine) -> tuple[DataTenant, DataTenant]:
    return gw.tenant(duckdb_engine, 1)[0], gw.tenant(duckdb_engine, 2)[0]


@pytest.fixture(scope="module")
def brief(servers: Servers) -> HardenedGateway:
    """A gateway without Redis (sessions in process memory) whose tickets live 1 s and sessions idle 2 s."""
    return servers.start(
        HardenedGateway, redis_url=None, GATEWAY_SESSION_TICKET_SECONDS="1", GATEWAY_SESSION_IDLE_SECONDS="2"
    )


def dashboard_path(tenant: DataTenant) -> str:
    return f"/api/v1/dashboard/{tenant.dashboard['id']}"


def chart_body(tenant: DataTenant) -> dict[str, Any]:
    return {"chart_id": tenant.chart("All orders"), "dashboard_id": tenant.dashboard["id"]}


def session_keys(gw: HardenedGateway) -> list[bytes]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(match=f"{gw.redis_prefix}embed:session:*"))
    finally:
        client.close()


def wait_until(condition: Callable[[], bool], *, within: float) -> bool:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_a_ticket_opens_a_session_with_a_partitioned_host_cookie(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    token = gw.guest(tenant)
    ticket = gw.ticket(token)
    assert ticket.status_code == 200, ticket.text
    assert set(ticket.json()) == {"ticket", "expires_in"} and ticket.json()["expires_in"] == 60
    assert "set-cookie" not in ticket.headers
    opened = gw.open_session(ticket.json()["ticket"])
    assert opened.status_code == 200, opened.text
    [cookie] = opened.headers.get_list("set-cookie")
    value = cookie.split(";")[0].removeprefix(f"{SESSION_COOKIE}=")
    assert cookie == f"{SESSION_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=None; Partitioned"
    body = opened.json()
    assert set(body) == {"csrf_token", "expires_at"} and len(body["csrf_token"]) >= 32
    # The session never outlives its token, and the cookie holds nothing of it.
    assert body["expires_at"] <= claims_of(token)["exp"]
    assert token not in cookie and body["csrf_token"] not in cookie


def test_the_page_reads_with_the_cookie_and_writes_with_the_csrf_token(
    gw: HardenedGateway, tenants: Any
) -> None:
    tenant, _ = tenants
    cookie, csrf = gw.session_for(gw.guest(tenant))
    described = gw.with_session("GET", dashboard_path(tenant), cookie)
    assert described.status_code == 200 and described.json()["id"] == tenant.dashboard["id"]
    rows = data_of(gw.with_session("POST", CHART_DATA, cookie, csrf=csrf, json=chart_body(tenant)))["rows"]
    assert rows and {row[1] for row in rows} == {tenant.tenant_id}  # column 2 is tenant_id
    assert "access-control-allow-origin" not in described.headers


def test_writes_without_the_right_csrf_token_are_refused(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    cookie, csrf = gw.session_for(gw.guest(tenant))
    other_cookie, other_csrf = gw.session_for(gw.guest(tenant))
    for sent in (None, "", csrf[:-1], csrf + "x", other_csrf):
        response = gw.with_session("POST", CHART_DATA, cookie, csrf=sent, json=chart_body(tenant))
        assert_api_error(response, 403, "csrf_failed")
        assert "rows" not in response.json()
    assert gw.with_session(
        "POST", CHART_DATA, other_cookie, csrf=other_csrf, json=chart_body(tenant)
    ).is_success


def test_a_ticket_works_once(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    ticket = gw.ticket(gw.guest(tenant)).json()["ticket"]
    assert gw.open_session(ticket).status_code == 200
    for attempt in (ticket, ticket, ticket + "x", "made-up"):
        replayed = gw.open_session(attempt)
        assert_api_error(replayed, 401, "ticket_invalid")
        assert "set-cookie" not in replayed.headers


def test_a_ticket_expires(brief: HardenedGateway, duckdb_engine: Engine) -> None:
    tenant, _ = brief.tenant(duckdb_engine)
    ticket = brief.ticket(brief.guest(tenant)).json()["ticket"]
    time.sleep(1.3)
    late = brief.open_session(ticket)
    assert_api_error(late, 401, "ticket_invalid")
    assert "set-cookie" not in late.headers


def test_an_idle_session_ends(brief: HardenedGateway, duckdb_engine: Engine) -> None:
    tenant, _ = brief.tenant(duckdb_engine)
    cookie, _ = brief.session_for(brief.guest(tenant))
    for _ in range(2):  # each use restarts the idle timer
        time.sleep(1.0)
        assert brief.with_session("GET", dashboard_path(tenant), cookie).status_code == 200
    time.sleep(2.5)
    ended = brief.with_session("GET", dashboard_path(tenant), cookie)
    assert_api_error(ended, 401, "session_invalid")
    assert ended.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=;")


def test_a_session_ends_at_its_absolute_limit_even_in_use(servers: Servers, duckdb_engine: Engine) -> None:
    capped = servers.start(HardenedGateway, GATEWAY_SESSION_MAX_SECONDS="2")
    tenant, _ = capped.tenant(duckdb_engine)
    cookie, _ = capped.session_for(capped.guest(tenant))
    for _ in range(2):
        assert capped.with_session("GET", dashboard_path(tenant), cookie).status_code == 200
        time.sleep(0.8)
    time.sleep(0.6)
    assert_api_error(capped.with_session("GET", dashboard_path(tenant), cookie), 401, "session_invalid")


def test_revoking_a_token_deletes_its_sessions_at_once(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    token = gw.guest(tenant)
    cookies = [gw.session_for(token)[0] for _ in range(2)]
    before = len(session_keys(gw))
    revoked = gw.revoke(tenant, {"jti": claims_of(token)["jti"]})
    assert revoked.status_code == 200, revoked.text
    # Deleted by the revocation event, before anyone uses them again.
    assert wait_until(lambda: len(session_keys(gw)) <= before - 2, within=5)
    for cookie in cookies:
        assert_api_error(gw.with_session("GET", dashboard_path(tenant), cookie), 401, "session_invalid")


def test_a_session_whose_token_was_revoked_ends_at_its_next_use(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    user = f"user-{time.time_ns()}"
    cookie, _ = gw.session_for(gw.guest(tenant, username=user))
    assert gw.with_session("GET", dashboard_path(tenant), cookie).status_code == 200
    before = len(session_keys(gw))
    revoked = gw.revoke(tenant, {"sub": user})
    assert revoked.status_code == 200, revoked.text
    assert_api_error(gw.with_session("GET", dashboard_path(tenant), cookie), 401, "token_revoked")
    assert len(session_keys(gw)) == before - 1
    assert_api_error(gw.with_session("GET", dashboard_path(tenant), cookie), 401, "session_invalid")


def test_forged_and_tampered_cookies_are_refused(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    cookie, csrf = gw.session_for(gw.guest(tenant))
    session_id, _, mac = cookie.partition(".")
    flipped = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    # The same 256 bits spelled otherwise: the last character's two low bits are not part of them.
    respelled = mac[:-1] + BASE64URL[BASE64URL.index(mac[-1]) ^ 1]
    forgeries = (
        session_id,
        f"{session_id}.{flipped}",
        f"{session_id}.{respelled}",
        f"{session_id}.{mac[:-4]}",
        f"{session_id}.{mac}=",
        f"{session_id[:-1]}x.{mac}",
        f"{session_id}.{mac}.{mac}",
        "x.y",
        ".",
        "",
    )
    for forged in forgeries:
        response = gw.with_session("POST", CHART_DATA, forged, csrf=csrf, json=chart_body(tenant))
        assert_api_error(response, 401, "session_invalid")
    assert gw.with_session("POST", CHART_DATA, cookie, csrf=csrf, json=chart_body(tenant)).status_code == 200


def test_a_cookie_signed_under_another_secret_key_is_refused(
    servers: Servers, gw: HardenedGateway, tenants: Any
) -> None:
    tenant, _ = tenants
    cookie, _ = gw.session_for(gw.guest(tenant))
    # Same registry, same Redis keys: the session is there to be found, only the signing key differs.
    rekeyed = servers.start(
        HardenedGateway,
        database_url=gw.database_url,
        prefix=gw.redis_prefix,
        GATEWAY_SECRET_KEY=secrets.token_urlsafe(48),
    )
    assert_api_error(rekeyed.with_session("GET", dashboard_path(tenant), cookie), 401, "session_invalid")
    assert gw.with_session("GET", dashboard_path(tenant), cookie).status_code == 200


def test_a_cookie_signed_the_way_of_earlier_releases_is_refused(gw: HardenedGateway, tenants: Any) -> None:
    """The signing key is no longer derived by HKDF: such a cookie ends its session (fail closed)."""
    tenant, _ = tenants
    cookie, _ = gw.session_for(gw.guest(tenant))
    session_id = cookie.partition(".")[0]
    hkdf = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"embed-gateway session cookie signing v1"
    )
    mac = hmac.new(hkdf.derive(SECRET_KEY.encode()), session_id.encode(), hashlib.sha256).digest()
    earlier = f"{session_id}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert_api_error(gw.with_session("GET", dashboard_path(tenant), earlier), 401, "session_invalid")


def test_a_session_is_used_only_by_the_gateways_own_page(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    cookie, csrf = gw.session_for(gw.guest(tenant))
    for origin in ("https://evil.example", "null"):
        response = gw.with_session(
            "POST", CHART_DATA, cookie, csrf=csrf, json=chart_body(tenant), origin=origin
        )
        assert_api_error(response, 403, "origin_forbidden")
        assert "access-control-allow-origin" not in response.headers
    ticket = gw.ticket(gw.guest(tenant)).json()["ticket"]
    redeemed_elsewhere = gw.http.post(
        "/embedded/session", json={"ticket": ticket}, headers={"Origin": "https://evil.example"}
    )
    assert_api_error(redeemed_elsewhere, 403, "origin_forbidden")
    assert "set-cookie" not in redeemed_elsewhere.headers


def test_a_session_never_reaches_another_tenants_dashboard(gw: HardenedGateway, tenants: Any) -> None:
    tenant, other = tenants
    cookie, csrf = gw.session_for(gw.guest(tenant))
    assert_api_error(gw.with_session("GET", dashboard_path(other), cookie), 403, "resource_forbidden")
    response = gw.with_session("POST", CHART_DATA, cookie, csrf=csrf, json=chart_body(other))
    assert_api_error(response, 403, "resource_forbidden")


def test_a_bearer_token_ignores_the_cookie(gw: HardenedGateway, tenants: Any) -> None:
    tenant, other = tenants
    cookie, _ = gw.session_for(gw.guest(tenant))
    headers = {"Authorization": f"Bearer {gw.guest(other)}", "Cookie": f"{SESSION_COOKIE}={cookie}"}
    # No CSRF token needed, and the answer is the bearer's tenant's, not the session's.
    response = gw.http.post(CHART_DATA, json=chart_body(other), headers=headers)
    assert {row[1] for row in data_of(response)["rows"]} == {other.tenant_id}
    forged = {"Authorization": f"Bearer {gw.guest(other)}", "Cookie": f"{SESSION_COOKIE}=forged.cookie"}
    assert gw.http.get(dashboard_path(other), headers=forged).status_code == 200


def test_a_new_ticket_replaces_the_session_and_logout_ends_it(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    first, _ = gw.session_for(gw.guest(tenant))
    renewed = gw.open_session(gw.ticket(gw.guest(tenant)).json()["ticket"], cookie=first)
    assert renewed.status_code == 200, renewed.text
    second = renewed.headers["set-cookie"].split(";")[0].removeprefix(f"{SESSION_COOKIE}=")
    assert_api_error(gw.with_session("GET", dashboard_path(tenant), first), 401, "session_invalid")
    assert gw.with_session("GET", dashboard_path(tenant), second).status_code == 200
    assert_api_error(gw.with_session("POST", LOGOUT, second), 403, "csrf_failed")
    logout = gw.with_session("POST", LOGOUT, second, csrf=renewed.json()["csrf_token"])
    assert logout.status_code == 204
    assert logout.headers["set-cookie"].startswith(f"{SESSION_COOKIE}=;")
    assert_api_error(gw.with_session("GET", dashboard_path(tenant), second), 401, "session_invalid")


def test_the_ticket_endpoint_takes_only_a_bearer_token(gw: HardenedGateway, tenants: Any) -> None:
    tenant, _ = tenants
    cookie, csrf = gw.session_for(gw.guest(tenant))
    from_session = gw.with_session("POST", "/api/v1/embed/ticket", cookie, csrf=csrf)
    assert_api_error(from_session, 401, "missing_token")
    assert_api_error(gw.ticket("not.a.token"), 401)


def test_one_token_cannot_mint_tickets_without_end(gw: HardenedGateway, tenants: Any) -> None:
    """Each ticket, and each session opened with it, holds a copy of the token: their number is bounded."""
    tenant, _ = tenants
    token = gw.guest(tenant)
    for _ in range(10):
        assert gw.ticket(token).status_code == 200
    refused = gw.ticket(token)
    assert_api_error(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    assert gw.ticket(gw.guest(tenant)).status_code == 200  # another token is not affected
