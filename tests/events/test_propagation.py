"""A change made through one gateway process reaches two others within a second (issue 7 acceptance):
a base filter, a key rotation, a revocation; and every mint and data request leaves exactly one
audit record on the `audit` stream."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections import Counter
from typing import Any

from redis.asyncio import Redis

from gateway.bus.consumer_group import ConsumerGroup
from gateway.bus.events import Event
from gateway.bus.redis_streams import RedisStreamsBus
from tests.dataplane.conftest import DataGateway, refused, rows_of
from tests.events.conftest import PROPAGATION, Trio, expected_revenue, revenue_request, within
from tests.support.guests import claims_of, header_of
from tests.support.services import REDIS_URL


def test_a_base_filter_change_reaches_the_other_processes_within_a_second(trio: Trio) -> None:
    tenant = trio.onboard("Europe")
    token = trio.first.guest(tenant)
    europe, asia = expected_revenue(trio.engine, "Europe"), expected_revenue(trio.engine, "Asia Pacific")
    assert len(europe) == len(asia) == 1 and europe != asia
    for gw in trio.gateways:
        assert rows_of(revenue_request(gw, token, tenant)) == europe

    trio.set_region(tenant, "Asia Pacific")
    changed = time.monotonic()
    for gw in trio.others:
        answers: list[list[list[Any]]] = []

        def switched(gw: DataGateway = gw, answers: list[list[list[Any]]] = answers) -> bool:
            answers.append(rows_of(revenue_request(gw, token, tenant)))
            return answers[-1] == asia

        elapsed = within(switched, since=changed)
        assert answers[-1] == asia, f"{gw.url} still answers {answers[-1]}"
        assert elapsed < PROPAGATION, f"{gw.url} took {elapsed:.2f} s"
        # Until it switched, the process answered with the old filter, never with anything else.
        assert all(rows in (europe, asia) for rows in answers)


def test_a_key_rotation_reaches_the_other_processes_within_a_second(trio: Trio) -> None:
    tenant = trio.onboard()
    rotated = trio.first.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate")
    assert rotated.status_code == 201, rotated.text
    rotated_at = time.monotonic()
    token = trio.first.guest(tenant)
    assert header_of(token)["kid"] == rotated.json()["kid"]
    expected = expected_revenue(trio.engine, "Europe")
    for gw in trio.others:
        elapsed = within(
            lambda gw=gw: revenue_request(gw, token, tenant).status_code == 200, since=rotated_at
        )
        assert rows_of(revenue_request(gw, token, tenant)) == expected
        assert elapsed < PROPAGATION, f"{gw.url} took {elapsed:.2f} s"


def test_a_revocation_reaches_the_other_processes_within_a_second(trio: Trio) -> None:
    tenant = trio.onboard()
    token = trio.first.guest(tenant)
    for gw in trio.gateways:
        assert rows_of(revenue_request(gw, token, tenant)) == expected_revenue(trio.engine, "Europe")
    revoked = trio.first.revoke(tenant, {"jti": claims_of(token)["jti"]})
    assert revoked.status_code == 200, revoked.text
    revoked_at = time.monotonic()
    for gw in trio.others:
        elapsed = within(
            lambda gw=gw: revenue_request(gw, token, tenant).status_code != 200, since=revoked_at
        )
        refused(revenue_request(gw, token, tenant), 401, "token_revoked")
        assert elapsed < PROPAGATION, f"{gw.url} took {elapsed:.2f} s"


def test_every_mint_data_request_and_refusal_is_audited_exactly_once(trio: Trio) -> None:
    tenant = trio.onboard()
    audit = AuditReader(trio.first.redis_prefix)
    asyncio.run(audit.start())
    mints, reads, refusals = 5, 9, 2
    tokens = [trio.gateways[i % 3].guest(tenant) for i in range(mints)]
    for i in range(reads):
        assert revenue_request(trio.gateways[i % 3], tokens[i % mints], tenant).status_code == 200
    for i in range(refusals):  # a chart the token's dashboard does not hold
        refused(trio.gateways[i].chart_data(tokens[i], {"chart_id": 999_999}), 403, "resource_forbidden")
    expected = Counter({"token.minted": mints, "data.query": reads, "access.denied": refusals})
    events = asyncio.run(audit.drain(tenant_id=claims_of(tokens[0])["tid"], expected=expected.total()))
    assert Counter(e.type for e in events) == expected
    subjects = {claims_of(t)["jti"]: claims_of(t)["sub"] for t in tokens}
    for query in (e.payload for e in events if e.type == "data.query"):
        # What the acceptance asks of each data request's record: who, which dataset, which filters.
        assert query["sub"] == subjects[query["jti"]] and query["dataset"] == "orders"
        assert re.fullmatch(r"[0-9a-f]{16,}", query["predicate_hash"]), query
        assert query["rows"] == len(expected_revenue(trio.engine, "Europe")) and query["ms"] >= 0
    denials = sorted(
        (e.payload["jti"], e.payload["code"], e.payload["path"]) for e in events if e.type == "access.denied"
    )
    assert denials == sorted(
        (claims_of(t)["jti"], "resource_forbidden", "/api/v1/chart/data") for t in tokens[:refusals]
    )


class AuditReader:
    """A consumer group of its own on the audit stream, as an exporter reads it: counts one tenant's
    events by type and acknowledges everything it reads."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.group = f"audit-test-{secrets.token_hex(4)}"

    async def start(self) -> None:
        async with self._redis() as redis:
            await self._group(redis).ensure(start="$")

    async def drain(self, *, tenant_id: str, expected: int) -> list[Event]:
        """One tenant's events: read until `expected` have come, then until a read comes back empty
        (so that one too many would show). The gateways write audit events behind their answers, a
        moment after the requests return."""
        events: list[Event] = []
        async with self._redis() as redis:
            group = self._group(redis)
            deadline = time.monotonic() + 10
            while (deliveries := await group.read()) or len(events) < expected:
                events += [d.event for d in deliveries if d.event.tenant == tenant_id]
                await group.ack(*(d.entry_id for d in deliveries))
                assert time.monotonic() < deadline, f"{len(events)} of {expected} events, or no end to them"
        return events

    def _redis(self) -> Redis:
        return Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)

    def _group(self, redis: Redis) -> ConsumerGroup:
        key = RedisStreamsBus(redis, prefix=self.prefix, read_timeout=5).key("audit")
        return ConsumerGroup(redis, key, self.group, "counter", block_ms=300)
