"""A guest-token client for tests: a gateway process with its admin and host-app calls, tenants,
JOSE helpers to forge tokens, and `Servers`, which starts gateways and stops them all at the end.

Every gateway is a real `gateway serve` process (`tests.support.gateways.GatewayProcess`) backed by
a real registry and the real Redis. Every test onboards its own tenants (random slugs) so that
nothing one test does is seen by another.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import redis

from tests.support.gateways import GatewayProcess, gateway_env
from tests.support.services import REDIS_URL

ISSUER = "embed-gateway"
AUDIENCE = "embedded-analytics"
MINT_PATH = "/api/v1/security/guest_token/"
REVOKE_PATH = "/api/v1/security/guest_token/revoke"
JWKS_PATH = "/.well-known/jwks.json"
CREATE = "guest_token:create"
REVOKE = "guest_token:revoke"

ORDERS_COLUMNS = [
    {"name": "id", "type": "INTEGER"},
    {"name": "tenant_id", "type": "INTEGER"},
    {"name": "region", "type": "VARCHAR"},
    {"name": "customer", "type": "VARCHAR"},
    {"name": "amount", "type": "DOUBLE"},
    {"name": "ordered_at", "type": "DATE"},
]
CUSTOMERS_COLUMNS = [
    {"name": "id", "type": "INTEGER"},
    {"name": "tenant_id", "type": "INTEGER"},
    {"name": "name", "type": "VARCHAR"},
]
TENANT_ORIGINS = ["https://app.acme.example", "https://*.acme.example", "http://localhost:3000"]
# Every code a refused guest token may carry (contract, section 6).
TOKEN_REFUSAL_CODES = frozenset(
    {
        "missing_token",
        "token_malformed",
        "token_too_large",
        "unknown_key",
        "algorithm_not_allowed",
        "invalid_signature",
        "token_expired",
        "token_not_yet_valid",
        "wrong_audience",
        "wrong_issuer",
        "wrong_token_type",
        "missing_claim",
        "token_revoked",
        "tenant_suspended",
        "key_retired",
        "tenant_mismatch",
    }
)


# --------------------------------------------------------------------------------------------- JOSE


RETIRING_MAX_TTL = 30  # the smallest max_token_ttl_seconds a tenant may have


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def unb64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def header_of(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a token, unverified (the test inspects what the gateway signed)."""
    return dict(json.loads(unb64url(token.split(".")[1])))


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS with exactly this header, payload and signature (canonical base64url)."""
    return f"{b64url_json(header)}.{b64url_json(payload)}.{b64url(signature)}"


def with_payload(token: str, payload: dict[str, Any]) -> str:
    """`token` with its payload replaced and its original header and signature kept."""
    head, _, signature = token.split(".")
    return f"{head}.{b64url_json(payload)}.{signature}"


# ------------------------------------------------------------------------------------ HTTP helpers


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `{"error": {...}}` object of an API refusal."""
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), response.text
    return dict(body["error"])


def assert_api_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert "token" not in body, f"a refusal must carry no token: {response.text}"
    error = error_of(response)
    if code is not None:
        assert error.get("code") == code, f"expected code {code!r}: {response.text}"
    return error


def assert_refused(response: httpx.Response, code: str) -> None:
    """A guest-token refusal: 401 with this exact code and a message."""
    error = assert_api_error(response, 401, code)
    assert isinstance(error.get("message"), str) and error["message"]


@dataclass
class App:
    client_id: str
    client_secret: str
    scopes: list[str]


@dataclass
class Tenant:
    slug: str
    id: str
    algorithm: str
    app: App
    datasets: dict[str, dict[str, Any]]
    charts: list[dict[str, Any]]
    dashboards: list[dict[str, Any]]
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def dashboard(self) -> dict[str, Any]:
        return self.dashboards[0]


class Gateway:
    """A running gateway plus the calls the tests make of it."""

    def __init__(self, process: GatewayProcess, *, database_url: str, redis_prefix: str) -> None:
        self.process = process
        self.url = process.url
        self.database_url = database_url
        self.redis_prefix = redis_prefix
        self.admin = process.client()
        self.http = httpx.Client(base_url=process.url, timeout=30)

    def close(self) -> None:
        self.admin.close()
        self.http.close()

    # ---------------------------------------------------------------- onboarding (admin API)

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.admin.post(path, json=body)
        assert response.status_code == 201, f"POST {path}: {response.status_code} {response.text}"
        created: dict[str, Any] = response.json()
        return created

    def new_app(self, slug: str, scopes: list[str] | None = None, name: str = "backend") -> App:
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = scopes
        made = self.create(f"/api/v1/tenants/{slug}/apps", body)
        return App(made["client_id"], made["client_secret"], made["scopes"])

    def onboard(
        self,
        *,
        algorithm: str | None = None,
        max_ttl: int | None = None,
        token_ttl: int | None = None,
        scopes: list[str] | None = None,
        extra_dataset: str | None = None,
    ) -> Tenant:
        """A tenant with an app, datasets `orders` and `customers`, two charts and two dashboards."""
        slug = "t" + secrets.token_hex(5)
        body: dict[str, Any] = {
            "slug": slug,
            "name": f"Tenant {slug}",
            "dialect": "duckdb",
            "origins": TENANT_ORIGINS,
        }
        if algorithm is not None:
            body["signing_algorithm"] = algorithm
        if max_ttl is not None:
            body["max_token_ttl_seconds"] = max_ttl
        if token_ttl is not None:
            body["token_ttl_seconds"] = token_ttl
        tenant = self.create("/api/v1/tenants", body)
        app = self.new_app(slug, scopes)
        self.create(
            f"/api/v1/tenants/{slug}/warehouses",
            {"name": "main", "url": "postgresql://reader:pw-" + slug + "@warehouse.internal:5432/shop"},
        )
        datasets = {}
        for name, columns in (("orders", ORDERS_COLUMNS), ("customers", CUSTOMERS_COLUMNS)):
            datasets[name] = self.create(
                f"/api/v1/tenants/{slug}/datasets",
                {"name": name, "warehouse": "main", "table": f"public.{name}", "columns": columns},
            )
        if extra_dataset:
            datasets[extra_dataset] = self.create(
                f"/api/v1/tenants/{slug}/datasets",
                {
                    "name": extra_dataset,
                    "warehouse": "main",
                    "table": f"public.{extra_dataset}",
                    "columns": CUSTOMERS_COLUMNS,
                },
            )
        revenue = self.create(
            f"/api/v1/tenants/{slug}/charts",
            {
                "title": "Revenue by region",
                "dataset": "orders",
                "viz_type": "bar",
                "query": {
                    "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
                    "groupby": ["region"],
                },
            },
        )
        count = self.create(
            f"/api/v1/tenants/{slug}/charts",
            {
                "title": "Orders",
                "dataset": "orders",
                "viz_type": "big_number",
                "query": {"metrics": [{"aggregate": "COUNT", "label": "orders"}]},
            },
        )
        sales = self.create(
            f"/api/v1/tenants/{slug}/dashboards",
            {"title": "Sales", "charts": [revenue["id"], count["id"]], "layout": {"columns": 2}},
        )
        other = self.create(f"/api/v1/tenants/{slug}/dashboards", {"title": "Other", "charts": [count["id"]]})
        return Tenant(
            slug=slug,
            id=tenant["id"],
            algorithm=tenant["signing_algorithm"],
            app=app,
            datasets=datasets,
            charts=[revenue, count],
            dashboards=[sales, other],
            raw=tenant,
        )

    def keys(self, tenant: Tenant) -> list[dict[str, Any]]:
        response = self.admin.get(f"/api/v1/tenants/{tenant.slug}/keys")
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def active_kid(self, tenant: Tenant) -> str:
        active = [k["kid"] for k in self.keys(tenant) if k["status"] == "active"]
        assert len(active) == 1, active
        return active[0]

    def set_tenant_status(self, tenant: Tenant, status: str) -> None:
        response = self.admin.patch(f"/api/v1/tenants/{tenant.slug}", json={"status": status})
        assert response.status_code == 200, response.text

    # ---------------------------------------------------------------- OAuth and minting

    def token_request(
        self,
        app: App,
        *,
        scope: str | None = None,
        method: str = "basic",
        grant_type: str = "client_credentials",
    ) -> httpx.Response:
        form = {"grant_type": grant_type}
        if scope is not None:
            form["scope"] = scope
        if method == "basic":
            return self.http.post("/oauth/token", data=form, auth=(app.client_id, app.client_secret))
        form.update(client_id=app.client_id, client_secret=app.client_secret)
        return self.http.post("/oauth/token", data=form)

    def access_token(self, app: App, scope: str | None = None) -> str:
        response = self.token_request(app, scope=scope)
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def mint_response(self, access_token: str, body: Any, *, path: str = MINT_PATH) -> httpx.Response:
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {access_token}"})

    def mint(self, tenant: Tenant, body: dict[str, Any] | None = None, *, access: str | None = None) -> str:
        response = self.mint_response(access or self.access_token(tenant.app), body or default_body(tenant))
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"token"}, response.text
        token: str = response.json()["token"]
        return token

    def revoke(self, tenant: Tenant, body: dict[str, Any], *, access: str | None = None) -> httpx.Response:
        return self.http.post(
            REVOKE_PATH,
            json=body,
            headers={"Authorization": f"Bearer {access or self.access_token(tenant.app)}"},
        )

    # ---------------------------------------------------------------- guest reads

    def dashboard(self, token: str | None, ref: Any, *, header: str = "bearer") -> httpx.Response:
        headers = {}
        if token is not None:
            headers = {"Authorization": f"Bearer {token}"} if header == "bearer" else {"X-GuestToken": token}
        return self.http.get(f"/api/v1/dashboard/{ref}", headers=headers)

    def jwks(self) -> dict[str, Any]:
        response = self.http.get(JWKS_PATH)
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document


def default_body(tenant: Tenant, username: str = "alice", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "user": {"username": username},
        "resources": [{"type": "dashboard", "id": tenant.dashboard["id"]}],
        "rls": [],
    }
    body.update(extra)
    return body


def verify_with_jwks(jwks: dict[str, Any], token: str) -> dict[str, Any]:
    """Verify `token` exactly as a third party would: plain pyjwt and the published JWKS."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    payload: dict[str, Any] = jwt.decode(
        token, key, algorithms=[header["alg"]], audience=AUDIENCE, issuer=ISSUER
    )
    return payload


def eventually(
    probe: Callable[[], httpx.Response], done: Callable[[httpx.Response], bool], *, within: float
) -> httpx.Response:
    """Call `probe` until `done` holds or `within` seconds have passed; the last answer either way."""
    deadline = time.monotonic() + within
    while True:
        response = probe()
        if done(response) or time.monotonic() >= deadline:
            return response
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------- servers


def redis_prefix() -> str:
    return f"t-{secrets.token_hex(6)}:"


def drop_redis_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        stale = list(client.scan_iter(match=f"{prefix}*"))
        if stale:
            client.delete(*stale)
    finally:
        client.close()


G = TypeVar("G", bound="Gateway")


class Servers:
    """Starts gateways (several may share one registry and one Redis prefix) and stops them all."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[Gateway] = []
        self.prefixes: set[str] = set()

    def start(
        self,
        kind: type[G] = Gateway,  # type: ignore[assignment]  # the default is a G when G is Gateway
        *,
        database_url: str | None = None,
        prefix: str | None = None,
        redis_url: str | None = REDIS_URL,
        **env: str,
    ) -> G:
        database_url = (
            database_url or f"sqlite:///{self.directory / ('registry-' + secrets.token_hex(4) + '.db')}"
        )
        prefix = prefix or redis_prefix()
        self.prefixes.add(prefix)
        settings = dict(env, GATEWAY_REDIS_PREFIX=prefix)
        if redis_url is not None:
            settings["REDIS_URL"] = redis_url
        process = GatewayProcess(gateway_env(database_url, **settings), self.directory)
        process.start()
        gateway = kind(process, database_url=database_url, redis_prefix=prefix)
        self.started.append(gateway)
        return gateway

    def stop_all(self) -> None:
        for gateway in self.started:
            gateway.close()
            gateway.process.stop()
        for prefix in self.prefixes:
            drop_redis_prefix(prefix)
