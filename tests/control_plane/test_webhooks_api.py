"""Registering webhooks through the onboarding API (issue 7), on SQLite and PostgreSQL registries.

The signing secret is shown once and kept encrypted; targets that could reach the gateway's own
network are refused unless the operator allows them (GATEWAY_WEBHOOK_ALLOW_PRIVATE).
"""

from __future__ import annotations

import doctest
import secrets
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from gateway.config import Config
from gateway.http import outbound as webhook_targets
from tenants.crypto import SecretBox
from tenants.db import create_engine, session_factory
from tenants.store import RegistryStore
from tests.conftest import Backend
from tests.support.gateways import InProcessGateway, gateway_env
from tests.support.services import SECRET_KEY, PostgresDatabases

RECEIVER = "http://127.0.0.1:9/hooks"  # never called here: registration does not connect
PUBLIC_TARGET = "https://hooks.example.com/gateway"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessGateway]:
    """A gateway whose operator allows internal webhook targets, as tests and internal networks do."""
    directory = tmp_path_factory.mktemp("webhooks")
    url = (
        f"sqlite:///{directory / 'registry.db'}" if request.param == "sqlite" else postgres_databases.create()
    )
    served = InProcessGateway(gateway_env(url, GATEWAY_WEBHOOK_ALLOW_PRIVATE="1")).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def strict_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessGateway]:
    """A gateway with the default setting: https and public targets only."""
    directory = tmp_path_factory.mktemp("webhooks-strict")
    served = InProcessGateway(gateway_env(f"sqlite:///{directory / 'registry.db'}")).start()
    yield served
    served.stop()


def new_tenant(client: httpx.Client) -> str:
    slug = "t" + secrets.token_hex(5)
    response = client.post("/api/v1/tenants", json={"slug": slug, "name": slug})
    assert response.status_code == 201, response.text
    return slug


def hooks_path(slug: str) -> str:
    return f"/api/v1/tenants/{slug}/webhooks"


def register(client: httpx.Client, slug: str, **body: Any) -> dict[str, Any]:
    response = client.post(hooks_path(slug), json={"url": RECEIVER, "event_types": ["*"], **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def listed(client: httpx.Client, slug: str) -> list[dict[str, Any]]:
    response = client.get(hooks_path(slug))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def refused(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    error: dict[str, Any] = response.json()["error"]
    assert error["message"]
    if code is not None:
        assert error["code"] == code, response.text
    return error


def registry_url(process: InProcessGateway) -> str:
    return process.env["GATEWAY_DATABASE_URL"]


def stored_text(database_url: str, table: str) -> str:
    """Every value of every row of a registry table, as text: what someone reading the database sees."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as connection:
            rows = connection.execute(f"SELECT * FROM {table}").fetchall()
    else:
        with psycopg.connect(database_url) as connection:
            rows = connection.execute(f"SELECT * FROM {table}").fetchall()
    return repr(rows)


async def store_webhooks(database_url: str, tenant_id: str) -> list[Any]:
    engine = create_engine(Config.from_env({"GATEWAY_DATABASE_URL": database_url}).database_url)
    try:
        return await RegistryStore(session_factory(engine), SecretBox(SECRET_KEY)).webhooks(tenant_id)
    finally:
        await engine.dispose()


# ------------------------------------------------------------------------------------ the secret


def test_the_secret_is_shown_once_and_never_again(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        response = client.post(
            hooks_path(slug),
            json={"url": RECEIVER, "event_types": ["token.minted", "data.query"], "description": "siem"},
        )
        assert response.status_code == 201, response.text
        made = response.json()
        secret = made["secret"]
        assert secret.startswith("whsec_") and len(secret) > 40
        assert made["url"] == RECEIVER and made["event_types"] == ["token.minted", "data.query"]
        assert made["enabled"] is True and made["description"] == "siem"
        assert response.headers["location"].endswith(f"/webhooks/{made['id']}") and response.headers["etag"]

        item = f"{hooks_path(slug)}/{made['id']}"
        shown = client.get(item)
        changed = client.patch(item, json={"enabled": False}, headers={"If-Match": shown.headers["etag"]})
        answers = [shown, client.get(hooks_path(slug)), changed]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            assert secret not in answer.text and "secret" not in answer.text
        assert changed.json()["enabled"] is False


def test_the_secret_is_encrypted_at_rest(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        secret = client.post(
            hooks_path(slug),
            json={"url": RECEIVER, "event_types": ["*"]},
            headers={"Idempotency-Key": "at-rest"},
        ).json()["secret"]
    database = registry_url(gateway)
    webhooks = stored_text(database, "webhooks")
    assert RECEIVER in webhooks  # the table was read
    assert secret not in webhooks and secret.removeprefix("whsec_") not in webhooks
    # The idempotent replay of the 201 holds the secret: encrypted too.
    assert secret.removeprefix("whsec_") not in stored_text(database, "idempotency_records")


@pytest.mark.anyio
async def test_the_store_hands_the_data_plane_its_tenants_webhooks_decrypted(
    gateway: InProcessGateway,
) -> None:
    with gateway.client() as client:
        slug, other = new_tenant(client), new_tenant(client)
        tenant_id = client.get(f"/api/v1/tenants/{slug}").json()["id"]
        first = register(client, slug, event_types=["access.denied"])
        second = register(client, slug, url=RECEIVER + "/2", enabled=False)
        register(client, other)

    found = await store_webhooks(registry_url(gateway), tenant_id)

    assert [(w.id, w.tenant_id, w.url, w.event_types, w.secret, w.enabled) for w in found] == [
        (first["id"], tenant_id, RECEIVER, ("access.denied",), first["secret"], True),
        (second["id"], tenant_id, RECEIVER + "/2", ("*",), second["secret"], False),
    ]
    assert first["secret"] not in repr(found[0])


def test_an_idempotent_create_replays_the_same_secret(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        body = {"url": RECEIVER, "event_types": ["token.revoked"]}
        key = {"Idempotency-Key": "hook-1"}
        first = client.post(hooks_path(slug), json=body, headers=key)
        again = client.post(hooks_path(slug), json=body, headers=key)
        assert first.status_code == again.status_code == 201, again.text
        assert again.json() == first.json() and again.json()["secret"].startswith("whsec_")
        assert len(listed(client, slug)) == 1
        other_body = client.post(hooks_path(slug), json={**body, "description": "x"}, headers=key)
        refused(other_body, 422, "idempotency_key_reused")
        assert len(listed(client, slug)) == 1


def test_rotating_the_secret_shows_the_new_one_once(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        made = register(client, slug)
        item = f"{hooks_path(slug)}/{made['id']}"
        etag = client.get(item).headers["etag"]

        rotated = client.post(item + "/rotate-secret", headers={"If-Match": etag})
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith("whsec_") and new_secret != made["secret"]
        assert rotated.headers["etag"] != etag
        stale = client.post(item + "/rotate-secret", headers={"If-Match": etag})
        refused(stale, 412, "precondition_failed")
        refused(client.post(item + "/rotate-secret", json={"secret": "mine"}), 422)
        assert new_secret not in client.get(item).text


# ------------------------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    "body",
    [
        {"event_types": ["*"]},
        {"url": RECEIVER},
        {"url": "ftp://files.example.com/in", "event_types": ["*"]},
        {"url": "https://user:pw@hooks.example.com/in", "event_types": ["*"]},
        {"url": "https://hooks.example.com/in#part", "event_types": ["*"]},
        {"url": "https:///in", "event_types": ["*"]},
        {"url": "https://hooks.example.com:99999/in", "event_types": ["*"]},
        {"url": "https://hooks.example.com/" + "a" * 2048, "event_types": ["*"]},
        {"url": "https://hooks.example.com/a b", "event_types": ["*"]},
        {"url": RECEIVER, "event_types": []},
        {"url": RECEIVER, "event_types": ["token.minted", "token.minted"]},
        {"url": RECEIVER, "event_types": ["token.exploded"]},
        {"url": RECEIVER, "event_types": ["*", "token.minted"]},
        {"url": RECEIVER, "event_types": "*"},
        {"url": RECEIVER, "event_types": ["*"], "description": "x" * 2001},
        {"url": RECEIVER, "event_types": ["*"], "secret": "whsec_chosen-by-the-caller"},
        {"url": RECEIVER, "event_types": ["*"], "enabled": None},
    ],
)
def test_invalid_bodies_are_refused_and_create_nothing(
    gateway: InProcessGateway, body: dict[str, Any]
) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        refused(client.post(hooks_path(slug), json=body), 422)
        assert listed(client, slug) == []


def test_a_patch_is_validated_like_a_create(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        made = register(client, slug)
        item = f"{hooks_path(slug)}/{made['id']}"
        before = client.get(item).json()
        changes: list[dict[str, Any]] = [
            {"url": "gopher://hooks.example.com/"},
            {"event_types": []},
            {"event_types": ["nope"]},
            {"url": None},
            {"id": 7},
        ]
        for change in changes:
            refused(client.patch(item, json=change), 422)
        assert client.get(item).json() == before


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://127.1/hooks",
        "https://2130706433/hooks",
        "https://localhost/hooks",
        "https://api.localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.9/hooks",
        "https://192.168.1.1/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hooks",
        "https://0.0.0.0/hooks",
        "https://224.0.0.1/hooks",
        "https://[::1]/hooks",
        "https://[fe80::1]/hooks",
        "https://[fd00::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "http://hooks.example.com/plain-http",
    ],
)
def test_internal_targets_are_refused_without_the_operators_consent(
    strict_gateway: InProcessGateway, url: str
) -> None:
    with strict_gateway.client() as client:
        slug = new_tenant(client)
        refused(client.post(hooks_path(slug), json={"url": url, "event_types": ["*"]}), 422)
        assert listed(client, slug) == []
        # Nor can an accepted webhook be pointed there afterwards.
        made = register(client, slug, url=PUBLIC_TARGET)
        item = f"{hooks_path(slug)}/{made['id']}"
        refused(client.patch(item, json={"url": url}), 422)
        assert client.get(item).json()["url"] == PUBLIC_TARGET


def test_the_target_rules_examples_hold() -> None:
    result = doctest.testmod(webhook_targets)
    assert result.attempted > 0 and result.failed == 0


def test_the_operator_may_allow_internal_targets(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        for url in ("http://127.0.0.1:8080/hooks", "http://localhost:9000/", "https://10.0.0.7/in"):
            assert register(client, slug, url=url)["url"] == url


# ------------------------------------------------------------------------ the collection's contract


def test_patch_and_delete_honour_if_match(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        item = f"{hooks_path(slug)}/{register(client, slug)['id']}"
        etag = client.get(item).headers["etag"]

        changed = client.patch(item, json={"event_types": ["data.query"]}, headers={"If-Match": etag})
        assert changed.status_code == 200, changed.text
        assert changed.json()["event_types"] == ["data.query"] and changed.headers["etag"] != etag
        refused(client.patch(item, json={"enabled": False}, headers={"If-Match": etag}), 412)
        refused(client.delete(item, headers={"If-Match": etag}), 412)
        assert client.get(item).json()["enabled"] is True

        deleted = client.delete(item, headers={"If-Match": changed.headers["etag"]})
        assert deleted.status_code == 204, deleted.text
        refused(client.get(item), 404, "not_found")
        assert listed(client, slug) == []


def test_another_tenant_cannot_see_or_touch_them(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        owner, intruder = new_tenant(client), new_tenant(client)
        made = register(client, owner)
        foreign = f"{hooks_path(intruder)}/{made['id']}"
        assert listed(client, intruder) == []
        refused(client.get(foreign), 404)
        refused(client.patch(foreign, json={"url": RECEIVER + "/stolen"}), 404)
        refused(client.post(foreign + "/rotate-secret"), 404)
        refused(client.delete(foreign), 404)
        assert [w["url"] for w in listed(client, owner)] == [RECEIVER]


def test_the_list_is_paginated(gateway: InProcessGateway) -> None:
    with gateway.client() as client:
        slug = new_tenant(client)
        made = [register(client, slug, url=f"{RECEIVER}/{i}")["id"] for i in range(3)]
        first = client.get(hooks_path(slug), params={"limit": 2}).json()
        rest = client.get(hooks_path(slug), params={"limit": 2, "cursor": first["next_cursor"]}).json()
        assert [w["id"] for w in first["items"] + rest["items"]] == made and rest["next_cursor"] is None


def test_the_routes_need_the_admin_token_and_are_described(gateway: InProcessGateway) -> None:
    with httpx.Client(base_url=gateway.url, timeout=30) as anonymous:
        refused(anonymous.get("/api/v1/tenants/acme/webhooks"), 401)
        refused(anonymous.post("/api/v1/tenants/acme/webhooks/1/rotate-secret"), 401)
        paths = anonymous.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/tenants/{tenant}/webhooks"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/tenants/{tenant}/webhooks/{ref}"])
    assert "post" in paths["/api/v1/tenants/{tenant}/webhooks/{ref}/rotate-secret"]


# ------------------------------------------------------------------------------------ config events


@pytest.mark.anyio
async def test_every_write_publishes_a_config_event(backend: Backend) -> None:
    tenant = await backend.create("tenants", None, {"slug": "hooked", "name": "Hooked"})
    await backend.next_event()
    made = await backend.create("webhooks", "hooked", {"url": PUBLIC_TARGET, "event_types": ["*"]})
    event = await backend.next_event()
    assert (event.type, event.tenant, event.payload["ref"]) == (
        "webhook.created",
        tenant["id"],
        str(made["id"]),
    )
    assert "secret" not in repr(event.payload)
