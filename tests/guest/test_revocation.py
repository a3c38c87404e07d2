"""Revocation at `POST /api/v1/security/guest_token/revoke`, by jti, by sub and by time, as seen by a SECOND
gateway process sharing the registry and the Redis; and what happens when Redis goes away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support.guests import (
    CREATE,
    REVOKE,
    Gateway,
    Servers,
    Tenant,
    assert_api_error,
    assert_refused,
    claims_of,
    default_body,
    header_of,
    redis_prefix,
)
from tests.support.services import ThrowAwayRedis

PROPAGATION = 1.0  # seconds within which every process sharing the Redis refuses a revoked token


@pytest.fixture(scope="module")
def pair(servers: Servers) -> tuple[Gateway, Gateway]:
    """Two gateway processes on one registry database and one Redis prefix."""
    first = servers.start()
    second = servers.start(database_url=first.database_url, prefix=first.redis_prefix)
    return first, second


def read(gw: Gateway, tenant: Tenant, token: str) -> httpx.Response:
    return gw.dashboard(token, tenant.dashboard["id"])


def accepted(gw: Gateway, tenant: Tenant, token: str) -> None:
    response = read(gw, tenant, token)
    assert response.status_code == 200, response.text


def refused_within(gw: Gateway, tenant: Tenant, token: str, seconds: float = PROPAGATION) -> None:
    """`token` is refused as revoked by `gw` within `seconds` of now (the revoke call has just returned)."""
    deadline = time.monotonic() + seconds
    while True:
        started = time.monotonic()
        response = read(gw, tenant, token)
        if response.status_code != 200 or started >= deadline:
            break
        time.sleep(0.02)
    assert_refused(response, "token_revoked")


def revoke(gw: Gateway, tenant: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = gw.revoke(tenant, body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert isinstance(answer.get("revoked"), dict), response.text
    return answer


def test_revoke_by_jti_is_seen_by_the_second_process(pair: tuple[Gateway, Gateway]) -> None:
    first, second = pair
    tenant, other_tenant = first.onboard(), first.onboard()
    victim = first.mint(tenant, default_body(tenant, "alice"))
    sibling = first.mint(tenant, default_body(tenant, "alice"))
    foreign = first.mint(other_tenant, default_body(other_tenant, "alice"))
    for gw in pair:  # both processes have verified (and cached) every token
        for t, token in ((tenant, victim), (tenant, sibling), (other_tenant, foreign)):
            accepted(gw, t, token)

    revoke(first, tenant, {"jti": claims_of(victim)["jti"]})
    refused_within(second, tenant, victim)
    assert_refused(read(first, tenant, victim), "token_revoked")
    # Only that token: the same user's other token and other tenants' tokens keep working.
    for gw in pair:
        accepted(gw, tenant, sibling)
        accepted(gw, other_tenant, foreign)


def test_revoke_by_sub(pair: tuple[Gateway, Gateway]) -> None:
    first, second = pair
    tenant, other_tenant = first.onboard(), first.onboard()
    alice = [first.mint(tenant, default_body(tenant, "alice")) for _ in range(2)]
    bob = first.mint(tenant, default_body(tenant, "bob"))
    alice_elsewhere = first.mint(other_tenant, default_body(other_tenant, "alice"))
    for token in [*alice, bob]:
        accepted(second, tenant, token)
    accepted(second, other_tenant, alice_elsewhere)

    # Revoked through the SECOND process this time; the first must see it too.
    revoke(second, tenant, {"sub": "alice"})
    for token in alice:
        refused_within(first, tenant, token)
        assert_refused(read(second, tenant, token), "token_revoked")
    for gw in pair:
        accepted(gw, tenant, bob)
        accepted(gw, other_tenant, alice_elsewhere)


def test_revoke_issued_before(pair: tuple[Gateway, Gateway]) -> None:
    first, second = pair
    tenant, other_tenant = first.onboard(), first.onboard()
    old = first.mint(tenant, default_body(tenant, "early"))
    foreign_old = first.mint(other_tenant, default_body(other_tenant, "early"))
    cutoff = int(claims_of(old)["iat"]) + 1
    while time.time() < cutoff + 0.05:
        time.sleep(0.05)
    new = first.mint(tenant, default_body(tenant, "late"))
    assert claims_of(new)["iat"] >= cutoff > claims_of(old)["iat"]
    for token in (old, new):
        accepted(second, tenant, token)

    revoke(first, tenant, {"issued_before": cutoff})
    refused_within(second, tenant, old)
    for gw in pair:
        assert_refused(read(gw, tenant, old), "token_revoked")
        accepted(gw, tenant, new)  # issued at or after the cutoff
        accepted(gw, other_tenant, foreign_old)  # another tenant's


def test_a_tenant_cannot_revoke_another_tenants_tokens(pair: tuple[Gateway, Gateway]) -> None:
    first, _second = pair
    victim_tenant, attacker = first.onboard(), first.onboard()
    token = first.mint(victim_tenant, default_body(victim_tenant, "alice"))
    claims = claims_of(token)
    for body in ({"jti": claims["jti"]}, {"sub": "alice"}, {"issued_before": int(time.time())}):
        response = first.revoke(attacker, body)
        assert response.status_code == 200, response.text  # revokes (nothing of) its own tenant
    time.sleep(PROPAGATION)
    for gw in pair:
        accepted(gw, victim_tenant, token)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"jti": "a", "sub": "b"},
        {"sub": "b", "issued_before": 1},
        {"jti": "a", "sub": "b", "issued_before": 1},
        {"jti": ""},
        {"sub": ""},
        {"jti": 5},
        {"issued_before": "yesterday"},
        {"issued_before": True},
        {"jti": "a", "everything": True},
    ],
)
def test_revoke_needs_exactly_one_criterion(pair: tuple[Gateway, Gateway], body: dict[str, Any]) -> None:
    first, _ = pair
    tenant = first.onboard()
    token = first.mint(tenant)
    response = first.revoke(tenant, body)
    assert response.status_code == 422, response.text
    assert "revoked" not in response.json()
    accepted(first, tenant, token)


def test_revoke_requires_the_revoke_scope(pair: tuple[Gateway, Gateway]) -> None:
    first, _ = pair
    tenant = first.onboard()
    token = first.mint(tenant)
    create_only = first.access_token(tenant.app, scope=CREATE)
    assert_api_error(
        first.revoke(tenant, {"jti": claims_of(token)["jti"]}, access=create_only), 403, "insufficient_scope"
    )
    assert_api_error(
        first.http.post("/api/v1/security/guest_token/revoke", json={"jti": claims_of(token)["jti"]}),
        401,
        "invalid_token",
    )
    # A guest token is no authority to revoke, not even itself.
    assert (
        first.http.post(
            "/api/v1/security/guest_token/revoke",
            json={"jti": claims_of(token)["jti"]},
            headers={"Authorization": f"Bearer {token}"},
        ).status_code
        == 401
    )
    accepted(first, tenant, token)
    revoke_only = first.access_token(tenant.app, scope=REVOKE)
    assert first.revoke(tenant, {"jti": claims_of(token)["jti"]}, access=revoke_only).status_code == 200
    assert_refused(read(first, tenant, token), "token_revoked")


def test_revocation_survives_a_restart(pair: tuple[Gateway, Gateway], servers: Servers) -> None:
    """Revocations live in Redis: a process started afterwards refuses the token from the start."""
    first, _ = pair
    tenant = first.onboard()
    token = first.mint(tenant)
    revoke(first, tenant, {"jti": claims_of(token)["jti"]})
    late = servers.start(database_url=first.database_url, prefix=first.redis_prefix)
    assert_refused(read(late, tenant, token), "token_revoked")


def test_suspension_is_seen_by_the_second_process(pair: tuple[Gateway, Gateway]) -> None:
    first, second = pair
    tenant, bystander = first.onboard(), first.onboard()
    token, other = first.mint(tenant), first.mint(bystander)
    accepted(second, tenant, token)
    first.set_tenant_status(tenant, "suspended")
    deadline = time.monotonic() + 2
    while read(second, tenant, token).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert_refused(read(second, tenant, token), "tenant_suspended")
    accepted(second, bystander, other)
    # Reactivated: its unexpired tokens are accepted again everywhere.
    first.set_tenant_status(tenant, "active")
    deadline = time.monotonic() + 2
    while read(second, tenant, token).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    accepted(second, tenant, token)


def test_rotation_is_seen_by_the_second_process(pair: tuple[Gateway, Gateway]) -> None:
    first, second = pair
    tenant = first.onboard()
    old = second.mint(tenant)
    accepted(second, tenant, old)
    rotated = first.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate")
    assert rotated.status_code == 201, rotated.text
    new_kid = rotated.json()["kid"]
    # A token signed with the new key (by the first process) is accepted by the second at once.
    by_first = first.mint(tenant)
    assert header_of(by_first)["kid"] == new_kid
    accepted(second, tenant, by_first)
    # And the second process signs with the new key within a couple of seconds.
    deadline = time.monotonic() + 2
    while header_of(second.mint(tenant))["kid"] != new_kid and time.monotonic() < deadline:
        time.sleep(0.1)
    assert header_of(second.mint(tenant))["kid"] == new_kid
    assert new_kid in {key["kid"] for key in second.jwks()["keys"]}
    accepted(second, tenant, old)
    accepted(first, tenant, old)


# ------------------------------------------------------------------------------------ Redis outage


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowAwayRedis]:
    server = ThrowAwayRedis()
    yield server
    server.stop()


def test_redis_down_fails_closed(servers: Servers, throwaway_redis: ThrowAwayRedis) -> None:
    closed = servers.start(redis_url=throwaway_redis.url, prefix=redis_prefix())
    fail_open = servers.start(
        database_url=closed.database_url,
        redis_url=throwaway_redis.url,
        prefix=closed.redis_prefix,
        GATEWAY_REVOCATION_FAIL_OPEN="1",
    )
    tenant = closed.onboard()
    token = closed.mint(tenant)
    accepted(closed, tenant, token)
    accepted(fail_open, tenant, token)

    throwaway_redis.stop()
    stopped = time.monotonic()
    deadline = stopped + 10
    while True:
        response = read(closed, tenant, token)
        if response.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert_api_error(response, 503, "revocation_unavailable")
    # Still refusing while Redis stays away.
    assert_api_error(read(closed, tenant, token), 503, "revocation_unavailable")
    # The operator who opted in keeps serving.
    time.sleep(1)
    accepted(fail_open, tenant, token)

    # Redis back (same address): the gateway reconnects, re-synchronises and serves again.
    throwaway_redis.start()
    deadline = time.monotonic() + 15
    while read(closed, tenant, token).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    accepted(closed, tenant, token)
    accepted(fail_open, tenant, token)


def test_a_short_redis_timeout_does_not_refuse_valid_tokens(servers: Servers) -> None:
    """GATEWAY_REDIS_TIMEOUT is any positive number of seconds; with Redis healthy, a valid token must be
    served on every request whatever the timeout (a sub-second timeout must not be taken for an outage)."""
    gw = servers.start(GATEWAY_REDIS_TIMEOUT="0.5")
    tenant = gw.onboard()
    token = gw.mint(tenant)
    statuses = []
    end = time.monotonic() + 3
    while time.monotonic() < end:
        statuses.append(read(gw, tenant, token).status_code)
        time.sleep(0.02)
    refused = [s for s in statuses if s != 200]
    assert not refused, f"{len(refused)} of {len(statuses)} reads refused (statuses {sorted(set(statuses))})"


def test_every_redis_key_and_stream_carries_the_prefix(
    servers: Servers, throwaway_redis: ThrowAwayRedis
) -> None:
    """On a Redis of its own, everything the gateway writes (access tokens, rate counters, revocations,
    event streams) lives under GATEWAY_REDIS_PREFIX."""
    prefix = redis_prefix()
    gw = servers.start(redis_url=throwaway_redis.url, prefix=prefix)
    tenant = gw.onboard()
    token = gw.mint(tenant)
    accepted(gw, tenant, token)
    revoke(gw, tenant, {"jti": claims_of(token)["jti"]})
    revoke(gw, tenant, {"sub": "someone"})
    revoke(gw, tenant, {"issued_before": int(time.time()) - 5})
    assert gw.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate").status_code == 201
    gw.set_tenant_status(tenant, "suspended")
    client = redis.Redis.from_url(throwaway_redis.url)
    try:
        keys = sorted(key.decode() for key in client.scan_iter(match="*"))
    finally:
        client.close()
    assert keys, "the gateway wrote nothing to Redis"
    assert [key for key in keys if not key.startswith(prefix)] == [], keys


def test_single_process_mode_without_redis(servers: Servers) -> None:
    """REDIS_URL is optional: minting, verification and revocation work in one process without it."""
    gw = servers.start(redis_url=None)
    tenant = gw.onboard()
    token = gw.mint(tenant)
    accepted(gw, tenant, token)
    revoke(gw, tenant, {"jti": claims_of(token)["jti"]})
    assert_refused(read(gw, tenant, token), "token_revoked")
