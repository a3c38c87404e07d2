"""Webhook deliveries end to end: real gateway processes, the real Redis, real HTTP receivers.

Webhooks are registered through the onboarding API and the events are caused the way users cause
them: by minting guest tokens. The shared gateway allows private targets (the receivers listen on
127.0.0.1) and retries quickly; the tests of the target restrictions and of a crash start their own.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.events.webhook_receivers import Receiver, readme_verifier
from tests.support.guests import Gateway, Servers, Tenant, claims_of, default_body
from tests.support.services import REDIS_URL, ThrowAwayRedis

FAST_RETRIES = {
    "GATEWAY_WEBHOOK_ALLOW_PRIVATE": "1",
    "GATEWAY_WEBHOOK_MAX_ATTEMPTS": "3",
    "GATEWAY_WEBHOOK_BACKOFF_SECONDS": "0.05",
    "GATEWAY_WEBHOOK_CLAIM_IDLE_SECONDS": "1",
}
EVENT_FIELDS = {"id", "type", "tenant", "time", "version", "payload"}
UNREACHABLE = "webhook worker: audit stream or registry unreachable"

verify_webhook = readme_verifier()


@pytest.fixture(scope="module")
def gw(servers: Servers) -> Gateway:
    return servers.start(**FAST_RETRIES)


@pytest.fixture(scope="module")
def store() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    client.close()


def register(
    gw: Gateway, tenant: Tenant, url: str, event_types: list[str], *, enabled: bool = True
) -> dict[str, Any]:
    return gw.create(
        f"/api/v1/tenants/{tenant.slug}/webhooks",
        {"url": url, "event_types": event_types, "enabled": enabled, "description": "test"},
    )


def until(condition: Callable[[], bool], *, within: float = 30) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def dead_letters(store: redis.Redis, gw: Gateway, webhook: dict[str, Any]) -> list[dict[str, str]]:
    entries: Any = store.xrange(f"{gw.redis_prefix}events:webhooks-dead")
    return [fields for _id, fields in entries if fields["webhook_id"] == str(webhook["id"])]


def audit_settled(store: redis.Redis, gw: Gateway) -> bool:
    """Every audit entry the webhook workers were handed has been acknowledged."""
    pending = store.xpending(f"{gw.redis_prefix}events:audit", "webhooks")
    return int(pending["pending"]) == 0


def test_a_receiver_failing_twice_gets_the_same_signed_event_three_times(
    gw: Gateway, store: redis.Redis
) -> None:
    tenant = gw.onboard()
    with Receiver((500, 502, 200)) as receiver:
        webhook = register(gw, tenant, receiver.url, ["token.minted"])
        gw.mint(tenant)

        requests = receiver.wait_for(3)
        assert until(lambda: audit_settled(store, gw))
        requests = receiver.requests

    assert [r.status for r in requests] == [500, 502, 200], "retried until accepted, then no more"
    assert len({r.body for r in requests}) == 1, "every attempt carries the same body"
    event = json.loads(requests[0].body)
    assert set(event) == EVENT_FIELDS
    assert (event["type"], event["tenant"]) == ("token.minted", tenant.id)
    for request in requests:
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Gateway-Event-Id"] == event["id"]
        assert request.headers["X-Gateway-Event-Type"] == "token.minted"
        assert verify_webhook(webhook["secret"], request.body, request.headers["X-Gateway-Signature"])
        assert not verify_webhook("another secret", request.body, request.headers["X-Gateway-Signature"])
    assert dead_letters(store, gw, webhook) == []


def test_a_receiver_that_always_fails_ends_in_the_dead_letter_stream(gw: Gateway, store: redis.Redis) -> None:
    tenant = gw.onboard()
    with Receiver((503,)) as receiver:
        webhook = register(gw, tenant, receiver.url, ["*"])
        gw.mint(tenant)

        assert until(lambda: len(dead_letters(store, gw, webhook)) == 1)
        assert until(lambda: audit_settled(store, gw))
        requests = receiver.requests

    assert len(requests) == 3, "GATEWAY_WEBHOOK_MAX_ATTEMPTS attempts, no more"
    (letter,) = dead_letters(store, gw, webhook)
    assert letter["reason"] == "attempts_exhausted"
    assert (letter["attempts"], letter["last_status"], letter["tenant"]) == ("3", "503", tenant.id)
    assert json.loads(letter["event"])["id"] == requests[0].headers["X-Gateway-Event-Id"]
    assert json.loads(letter["event"])["type"] == "token.minted"
    assert not any(webhook["secret"] in value for value in letter.values()), "never the secret"


def test_a_webhook_gets_only_the_event_types_it_subscribed_to(gw: Gateway, store: redis.Redis) -> None:
    tenant = gw.onboard()
    with (
        Receiver() as minted,
        Receiver() as queries,
        Receiver() as revocations,
        Receiver() as disabled,
    ):
        register(gw, tenant, minted.url, ["token.minted"])
        register(gw, tenant, queries.url, ["data.query", "access.denied"])
        register(gw, tenant, revocations.url, ["token.revoked"])
        register(gw, tenant, disabled.url, ["*"], enabled=False)
        gw.mint(tenant)
        gw.mint(tenant)

        assert len(minted.wait_for(2)) == 2
        assert until(lambda: audit_settled(store, gw))
        assert {json.loads(r.body)["type"] for r in minted.requests} == {"token.minted"}
        assert queries.requests == revocations.requests == disabled.requests == []


def test_a_verified_guest_refused_access_reaches_the_access_denied_webhook(
    gw: Gateway, store: redis.Redis
) -> None:
    tenant = gw.onboard()
    with Receiver() as denied:
        register(gw, tenant, denied.url, ["access.denied"])
        token = gw.mint(tenant)
        granted = tenant.dashboard["id"]
        assert gw.dashboard(token, granted).status_code == 200
        assert gw.dashboard(token, "999999").status_code == 403  # a dashboard the token does not grant
        foreign = gw.http.get(
            f"/api/v1/dashboard/{granted}",
            headers={"Authorization": f"Bearer {token}", "Origin": "https://attacker.example"},
        )
        assert foreign.status_code == 403
        # A token that fails verification names no tenant anyone can trust: no event for anyone.
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert gw.dashboard(forged, "999999").status_code == 401

        denied.wait_for(2)
        assert until(lambda: audit_settled(store, gw))
        events = [json.loads(r.body) for r in denied.requests]

    claims = claims_of(token)
    assert sorted((e["type"], e["tenant"], e["payload"]["code"], e["payload"]["path"]) for e in events) == [
        ("access.denied", tenant.id, "origin_forbidden", f"/api/v1/dashboard/{granted}"),
        ("access.denied", tenant.id, "resource_forbidden", "/api/v1/dashboard/999999"),
    ]
    assert all(e["payload"]["sub"] == claims["sub"] and e["payload"]["jti"] == claims["jti"] for e in events)
    assert not any(token in r.body.decode() for r in denied.requests), "never the token itself"


def test_a_tenant_never_gets_another_tenants_events(gw: Gateway, store: redis.Redis) -> None:
    first, second = gw.onboard(), gw.onboard()
    with Receiver() as first_hook, Receiver() as second_hook:
        register(gw, first, first_hook.url, ["*"])
        register(gw, second, second_hook.url, ["*"])

        gw.mint(first)
        assert len(first_hook.wait_for(1)) == 1
        assert until(lambda: audit_settled(store, gw))
        assert second_hook.requests == []

        gw.mint(second)
        assert len(second_hook.wait_for(1)) == 1
        assert until(lambda: audit_settled(store, gw))
        assert [json.loads(r.body)["tenant"] for r in first_hook.requests] == [first.id]
        assert [json.loads(r.body)["tenant"] for r in second_hook.requests] == [second.id]


def test_internal_targets_are_never_connected_to(
    servers: Servers, store: redis.Redis, tmp_path: Path
) -> None:
    """The onboarding API refuses internal URLs unless the operator allows them; so they are registered
    through a gateway that allows them, and delivered by one (same registry) that does not, as if the
    operator had turned the setting off, or a name had been pointed inside after registration."""
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    registrar = servers.start(database_url=registry, GATEWAY_WEBHOOK_ALLOW_PRIVATE="1")
    deliverer = servers.start(database_url=registry)
    tenant = registrar.onboard()
    with Receiver() as receiver:
        targets = {
            receiver.url: "a loopback address",
            f"http://localhost:{receiver.port}/hook": "a loopback address",
            f"http://[::ffff:127.0.0.1]:{receiver.port}/hook": "a loopback address",
            "http://169.254.169.254/latest/meta-data/": "a link-local address",
            "http://10.0.0.1/hook": "a private address",
        }
        webhooks = {url: register(registrar, tenant, url, ["*"]) for url in targets}
        deliverer.mint(tenant)

        assert until(lambda: all(dead_letters(store, deliverer, w) for w in webhooks.values()))
        assert receiver.requests == [], "not one connection reached the receiver"
    for url, webhook in webhooks.items():
        (letter,) = dead_letters(store, deliverer, webhook)
        assert (letter["reason"], letter["attempts"]) == ("target_forbidden", "1"), url
        assert letter["last_error"] == targets[url], url


def test_a_replica_killed_before_acknowledging_does_not_post_a_delivered_event_again(
    servers: Servers, store: redis.Redis, tmp_path: Path
) -> None:
    """One event, two webhooks: the first is delivered, the second is still in flight (its receiver
    holds the request) when the replica is killed. The replica that takes the entry over delivers the
    second again, and leaves the first alone."""
    registry = f"sqlite:///{tmp_path / 'registry.db'}"
    first = servers.start(database_url=registry, **FAST_RETRIES)
    tenant = first.onboard()
    with Receiver() as delivered, Receiver(hold=True) as in_flight:
        done = register(first, tenant, delivered.url, ["token.minted"])
        register(first, tenant, in_flight.url, ["token.minted"])
        first.mint(tenant)
        assert delivered.wait_for(1) and in_flight.wait_for(1)
        marker = f"{first.redis_prefix}webhooks:done:{done['id']}:*"
        assert until(lambda: any(store.scan_iter(match=marker)))

        assert first.process.process is not None
        first.process.process.kill()
        first.process.process.wait()
        first.process.process = None
        in_flight.released.set()
        successor = servers.start(database_url=registry, prefix=first.redis_prefix, **FAST_RETRIES)

        assert len(in_flight.wait_for(2)) == 2
        assert until(lambda: audit_settled(store, successor))
        assert len(delivered.requests) == 1, "the delivered event was not POSTed again"
        ids = {r.headers["X-Gateway-Event-Id"] for r in delivered.requests + in_flight.requests}
        assert len(ids) == 1


def test_deliveries_go_on_once_redis_is_back(servers: Servers, own_redis: ThrowAwayRedis) -> None:
    """While Redis is down the worker's reads fail, each failure logged; once Redis is back (empty) the
    same worker delivers the next event, with no restart; and it still stops when the gateway does."""
    gw = servers.start(redis_url=own_redis.url, **FAST_RETRIES)
    tenant = gw.onboard()
    with Receiver() as receiver:
        register(gw, tenant, receiver.url, ["token.minted"])
        gw.mint(tenant)
        assert len(receiver.wait_for(1)) == 1

        own_redis.stop()
        assert until(lambda: gw.process.output().count(UNREACHABLE) >= 3, within=10)
        own_redis.start()

        # The gateway refuses to mint until it has resynchronised with the emptied Redis.
        access = gw.access_token(tenant.app)
        assert until(lambda: gw.mint_response(access, default_body(tenant)).status_code == 200)
        assert len(receiver.wait_for(2)) == 2

    # Stopped while it waits on a blocking read of the stream, the worker stops, and the process with it.
    assert gw.process.process is not None
    gw.process.process.send_signal(signal.SIGTERM)
    gw.process.process.wait(timeout=10)
    assert "Application shutdown complete." in gw.process.output()
