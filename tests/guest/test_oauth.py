"""Host-app authentication: the OAuth2 client-credentials grant at `POST /oauth/token`, and what its
access tokens may do at the mint endpoint."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.gateways import GatewayProcess, gateway_env
from tests.support.guests import (
    CREATE,
    REVOKE,
    App,
    Gateway,
    Servers,
    assert_api_error,
    claims_of,
    default_body,
    drop_redis_prefix,
    eventually,
    redis_prefix,
    verify_with_jwks,
)
from tests.support.services import REDIS_URL


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def other_secret(secret: str) -> str:
    """`secret` with its last character changed: as long, and certainly different."""
    return secret[:-1] + ("A" if secret[-1] != "A" else "B")


def oauth_error(response: httpx.Response, status: int, error: str) -> None:
    """An RFC 6749 error answer: this status, `{"error": <error>, "error_description": ...}`, no token."""
    assert response.status_code == status, f"expected {status}: {response.status_code} {response.text}"
    body = response.json()
    assert body.get("error") == error, response.text
    assert isinstance(body.get("error_description"), str)
    assert "access_token" not in body


def test_core_flow_on_each_registry_backend(database_url: str, tmp_path: Path) -> None:
    """Client credentials -> access token -> guest token -> verified by JWKS and accepted by a read."""
    prefix = redis_prefix()
    process = GatewayProcess(
        gateway_env(database_url, REDIS_URL=REDIS_URL, GATEWAY_REDIS_PREFIX=prefix), tmp_path
    ).start()
    gateway = Gateway(process, database_url=database_url, redis_prefix=prefix)
    try:
        tenant = gateway.onboard()
        answer = gateway.token_request(tenant.app)
        assert answer.status_code == 200, answer.text
        access = answer.json()["access_token"]
        token = gateway.mint(tenant, default_body(tenant, "core-user"), access=access)
        payload = verify_with_jwks(gateway.jwks(), token)
        assert payload["sub"] == "core-user" and payload["tid"] == tenant.id
        read = gateway.dashboard(token, tenant.dashboard["id"])
        assert read.status_code == 200, read.text
        assert read.json()["id"] == tenant.dashboard["id"]
    finally:
        gateway.close()
        process.stop()
        drop_redis_prefix(prefix)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_client_credentials_grant(gw: Gateway, method: str) -> None:
    tenant = gw.onboard()
    response = gw.token_request(tenant.app, method=method)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"access_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600  # GATEWAY_ACCESS_TOKEN_TTL default
    assert set(body["scope"].split(" ")) == {CREATE, REVOKE}
    assert body["access_token"] and body["access_token"] != tenant.app.client_secret
    # The access token works at the mint endpoint.
    assert gw.mint_response(body["access_token"], default_body(tenant)).status_code == 200


def test_scopes_are_narrowed_on_request_and_enforced(gw: Gateway) -> None:
    tenant = gw.onboard()
    create_only = gw.token_request(tenant.app, scope=CREATE, method="post")
    assert create_only.status_code == 200, create_only.text
    assert create_only.json()["scope"] == CREATE
    access = create_only.json()["access_token"]
    assert gw.mint_response(access, default_body(tenant)).status_code == 200
    refused = gw.revoke(tenant, {"sub": "alice"}, access=access)
    assert_api_error(refused, 403, "insufficient_scope")

    revoke_only = gw.token_request(tenant.app, scope=REVOKE)
    assert revoke_only.status_code == 200, revoke_only.text
    assert revoke_only.json()["scope"] == REVOKE
    assert_api_error(
        gw.mint_response(revoke_only.json()["access_token"], default_body(tenant)), 403, "insufficient_scope"
    )
    assert gw.revoke(tenant, {"sub": "alice"}, access=revoke_only.json()["access_token"]).status_code == 200

    both = gw.token_request(tenant.app, scope=f"{REVOKE} {CREATE}")
    assert both.status_code == 200, both.text
    assert set(both.json()["scope"].split(" ")) == {CREATE, REVOKE}


def test_an_app_cannot_obtain_a_scope_it_was_not_given(gw: Gateway) -> None:
    tenant = gw.onboard(scopes=[CREATE])
    assert tenant.app.scopes == [CREATE]
    for scope in (REVOKE, f"{CREATE} {REVOKE}", "admin", "guest_token:*"):
        oauth_error(gw.token_request(tenant.app, scope=scope), 400, "invalid_scope")
    granted = gw.token_request(tenant.app)
    assert granted.status_code == 200 and granted.json()["scope"] == CREATE
    # Nor can it revoke with what it was given.
    assert_api_error(
        gw.revoke(tenant, {"sub": "x"}, access=granted.json()["access_token"]), 403, "insufficient_scope"
    )


@pytest.mark.parametrize("method", ["basic", "post"])
def test_client_authentication_failures_are_invalid_client(gw: Gateway, method: str) -> None:
    tenant = gw.onboard()
    other = gw.onboard()
    app = tenant.app
    wrong_secret = App(app.client_id, other_secret(app.client_secret), [])
    unknown = App("no-such-client", app.client_secret, [])
    # Another tenant's secret with this client id.
    crossed = App(app.client_id, other.app.client_secret, [])
    empty = App(app.client_id, "", [])
    for credentials in (wrong_secret, unknown, crossed, empty):
        oauth_error(gw.token_request(credentials, method=method), 401, "invalid_client")


@pytest.mark.parametrize("method", ["basic", "post"])
def test_unknown_clients_are_indistinguishable_from_wrong_secrets(gw: Gateway, method: str) -> None:
    """No client-id enumeration: an unknown id, a wrong secret and a disabled app get the very same answer."""
    tenant = gw.onboard()
    disabled = gw.new_app(tenant.slug, name="disabled")
    response = gw.admin.patch(
        f"/api/v1/tenants/{tenant.slug}/apps/{disabled.client_id}", json={"status": "disabled"}
    )
    assert response.status_code == 200, response.text
    app = tenant.app
    answers = {
        "wrong secret": gw.token_request(
            App(app.client_id, other_secret(app.client_secret), []), method=method
        ),
        "unknown client": gw.token_request(
            App("c" + app.client_id[1:] + "z", app.client_secret, []), method=method
        ),
        "disabled app": gw.token_request(disabled, method=method),
    }
    shapes = {name: f"{r.status_code} {r.text}" for name, r in answers.items()}
    assert len(set(shapes.values())) == 1, "\n".join(f"{name}: {shape}" for name, shape in shapes.items())


def test_missing_client_authentication_is_refused(gw: Gateway) -> None:
    response = gw.http.post("/oauth/token", data={"grant_type": "client_credentials"})
    oauth_error(response, 401, "invalid_client")


def test_other_grant_types_are_unsupported(gw: Gateway) -> None:
    tenant = gw.onboard()
    for grant in (
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
    ):
        oauth_error(gw.token_request(tenant.app, grant_type=grant), 400, "unsupported_grant_type")


def test_a_disabled_app_can_no_longer_authenticate_or_mint(gw: Gateway) -> None:
    tenant = gw.onboard()
    issued_before = gw.access_token(tenant.app)
    response = gw.admin.patch(
        f"/api/v1/tenants/{tenant.slug}/apps/{tenant.app.client_id}", json={"status": "disabled"}
    )
    assert response.status_code == 200, response.text
    for method in ("basic", "post"):
        oauth_error(gw.token_request(tenant.app, method=method), 401, "invalid_client")
    # Most secure reading (the contract only names /oauth/token): an access token issued before the app
    # was disabled must not keep minting.
    late = eventually(
        lambda: gw.mint_response(issued_before, default_body(tenant)),
        lambda r: r.status_code != 200,
        within=2,
    )
    assert late.status_code == 401, late.text
    assert late.json()["error"]["code"] == "invalid_token"
    assert "token" not in late.json()


def test_apps_of_a_suspended_tenant_cannot_mint(gw: Gateway) -> None:
    tenant = gw.onboard()
    issued_before = gw.access_token(tenant.app)
    gw.set_tenant_status(tenant, "suspended")
    for method in ("basic", "post"):
        oauth_error(gw.token_request(tenant.app, method=method), 400, "unauthorized_client")
    late = eventually(
        lambda: gw.mint_response(issued_before, default_body(tenant)),
        lambda r: r.status_code != 200,
        within=2,
    )
    assert late.status_code == 403, late.text
    assert late.json()["error"]["code"] == "tenant_suspended"
    assert "token" not in late.json()


def test_mint_requires_a_valid_access_token(gw: Gateway) -> None:
    tenant = gw.onboard()
    body = default_body(tenant)
    access = gw.access_token(tenant.app)
    guest = gw.mint(tenant, body, access=access)
    tampered = access[:-2] + ("AA" if access[-2:] != "AA" else "BB")
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {tampered}"},
        # The operator's admin token is not an OAuth access token.
        {"Authorization": gw.admin.headers["authorization"]},
        # Nor is a guest token.
        {"Authorization": f"Bearer {guest}"},
        # Nor are the client credentials themselves.
        {"Authorization": f"Bearer {tenant.app.client_secret}"},
        {"Authorization": "Basic " + b64(f"{tenant.app.client_id}:{tenant.app.client_secret}")},
    ):
        response = gw.http.post("/api/v1/security/guest_token/", json=body, headers=headers)
        assert_api_error(response, 401, "invalid_token")


def test_client_secrets_are_not_stored_in_clear(gw: Gateway) -> None:
    tenant = gw.onboard()
    assert gw.access_token(tenant.app)
    database = Path(urlsplit(gw.database_url).path)
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert tenant.app.client_id.encode() in stored  # the right file was read
    assert tenant.app.client_secret.encode() not in stored


def test_access_tokens_expire(servers: Servers) -> None:
    gateway = servers.start(GATEWAY_ACCESS_TOKEN_TTL="2")
    tenant = gateway.onboard()
    answer = gateway.token_request(tenant.app)
    assert answer.status_code == 200 and answer.json()["expires_in"] == 2
    access = answer.json()["access_token"]
    assert gateway.mint_response(access, default_body(tenant)).status_code == 200
    time.sleep(2.2)
    # A small clock leeway is tolerated, no more than 10 s.
    late = eventually(
        lambda: gateway.mint_response(access, default_body(tenant)),
        lambda r: r.status_code == 401,
        within=10,
    )
    assert_api_error(late, 401, "invalid_token")
    # A fresh one works again.
    assert gateway.mint_response(gateway.access_token(tenant.app), default_body(tenant)).status_code == 200


def test_minted_token_tenant_is_the_apps(gw: Gateway) -> None:
    """An access token speaks for its own app's tenant only: minting with A's credentials names A."""
    a, b = gw.onboard(), gw.onboard()
    token = gw.mint(a)
    assert claims_of(token)["tid"] == a.id != b.id
