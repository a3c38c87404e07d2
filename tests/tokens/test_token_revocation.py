"""Revocation by jti, by sub and by time: in-process, and shared between replicas through a real Redis."""

from __future__ import annotations

import json
import time

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.tokens.errors import RevocationUnavailable, TokenRevoked
from gateway.tokens.revocation import InProcessRevocationStore, RedisRevocationStore, RevocationRecord
from gateway.tokens.verify import TokenVerifier


@pytest.fixture
def make_redis_store(redis_client, redis_key_prefix, record_ttl):
    """A replica's Redis-backed store; every store made in one test shares the same Redis key."""

    def make(*, clock=time.time, fail_open=False, client=None):
        return RedisRevocationStore(
            client or redis_client,
            key_prefix=redis_key_prefix,
            record_ttl=record_ttl,
            fail_open=fail_open,
            clock=clock,
        )

    return make


@pytest.fixture
async def unreachable_redis():
    """A real client for a port where no Redis listens."""
    client = Redis(
        host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    yield client
    await client.aclose()


def refused_as_revoked(replica, token):
    with pytest.raises(TokenRevoked) as refused:
        replica.verifier.verify(token)
    assert refused.value.status == 401


# --- in process ---------------------------------------------------------------------------------------------


@pytest.fixture
def acme(replica):
    return replica.add_tenant("acme")


@pytest.mark.anyio
async def test_revoking_a_jti_refuses_that_token_only(replica, acme):
    revoked, kept = replica.mint(acme), replica.mint(acme)
    await replica.revocations.revoke_token("acme", replica.verifier.verify(revoked).token_id)
    refused_as_revoked(replica, revoked)
    assert replica.verifier.verify(kept).subject == "alice"


@pytest.mark.anyio
async def test_revoking_a_subject_refuses_its_tokens_until_now_but_not_later_ones(replica, acme):
    alice, bob = replica.mint(acme, subject="alice"), replica.mint(acme, subject="bob")
    replica.clock.advance(1)
    await replica.revocations.revoke_subject("acme", "alice")
    refused_as_revoked(replica, alice)
    assert replica.verifier.verify(bob).subject == "bob"

    replica.clock.advance(1)
    assert replica.verifier.verify(replica.mint(acme, subject="alice")).subject == "alice"


@pytest.mark.anyio
async def test_revoking_everything_issued_before_a_time(replica, acme):
    globex = replica.add_tenant("globex")
    old_acme, old_globex = replica.mint(acme), replica.mint(globex)
    replica.clock.advance(10)
    cutoff = replica.clock()
    replica.clock.advance(10)
    newer_acme = replica.mint(acme)

    await replica.revocations.revoke_issued_before("acme", cutoff)

    refused_as_revoked(replica, old_acme)
    assert replica.verifier.verify(newer_acme).tenant_id == "acme"
    assert replica.verifier.verify(old_globex).tenant_id == "globex"


@pytest.mark.anyio
async def test_a_revocation_does_not_reach_into_another_tenant(replica, acme):
    globex = replica.add_tenant("globex")
    acme_alice, globex_alice = replica.mint(acme), replica.mint(globex)
    replica.clock.advance(1)
    await replica.revocations.revoke_subject("globex", "alice")
    await replica.revocations.revoke_token("globex", replica.verifier.verify(acme_alice).token_id)
    assert replica.verifier.verify(acme_alice).tenant_id == "acme"
    refused_as_revoked(replica, globex_alice)


@pytest.mark.anyio
async def test_a_cutoff_in_the_future_is_refused(replica):
    with pytest.raises(ValueError, match="future"):
        await replica.revocations.revoke_issued_before("acme", replica.clock() + 60)


@pytest.mark.anyio
async def test_a_revocation_needs_a_tenant_and_a_target(replica):
    with pytest.raises(ValueError, match="needs"):
        await replica.revocations.revoke_token("acme", "")
    with pytest.raises(ValueError, match="needs"):
        await replica.revocations.revoke_subject("", "alice")


def test_a_verifier_refuses_revocation_records_shorter_lived_than_its_tokens(replica):
    with pytest.raises(ValueError, match="max_lifetime"):
        TokenVerifier(
            replica.keyring,
            audience=replica.audience,
            issuer=replica.issuer,
            tenant_status=lambda tenant_id: "active",
            revocations=InProcessRevocationStore(record_ttl=60),
            leeway=10,
            max_lifetime=300,
        )


def test_revocation_records_round_trip_through_json():
    record = RevocationRecord("subject", "acme", "alice", 1700000000.5, 1700000600.5)
    assert RevocationRecord.from_json(record.to_json()) == record


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"kind": "subject", "tenant_id": "acme", "subject": "alice", "at": 1}',
        '{"kind": "everything", "tenant_id": "acme", "subject": "", "at": 1, "expires_at": 2}',
        '{"kind": "issued_before", "tenant_id": "acme", "subject": "bob", "at": 1, "expires_at": 2}',
        '{"kind": "token", "tenant_id": "acme", "subject": "", "at": 1, "expires_at": 2}',
        '{"kind": "token", "tenant_id": "", "subject": "j", "at": 1, "expires_at": 2}',
        '{"kind": "token", "tenant_id": "acme", "subject": "j", "at": "1", "expires_at": 2}',
        '{"kind": "token", "tenant_id": "acme", "subject": "j", "at": 1, "expires_at": NaN}',
        '{"kind": "token", "tenant_id": "acme", "subject": "j", "at": 1, "expires_at": 1e999}',
    ],
)
def test_unreadable_revocation_records_are_refused(text):
    with pytest.raises(ValueError):  # noqa: PT011 - json's and ours alike
        RevocationRecord.from_json(text)


# --- shared through Redis -----------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_second_replica_sees_a_revocation_after_sync(make_replica, make_redis_store):
    replica_a = make_replica(revocations=make_redis_store())
    replica_b = make_replica(revocations=make_redis_store())
    for replica in (replica_a, replica_b):
        await replica.revocations.sync()
    acme = replica_a.add_tenant("acme")
    replica_b.keyring.replace_tenant_keys("acme", [acme.verification_key()])
    replica_b.tenant_statuses["acme"] = "active"
    by_jti, by_sub, by_time = (replica_a.mint(acme, subject=s) for s in ("alice", "bob", "carol"))
    for token in (by_jti, by_sub, by_time):
        replica_b.verifier.verify(token)  # cached on B before anything is revoked

    replica_a.clock.advance(1)
    await replica_a.revocations.revoke_token("acme", replica_a.verifier.verify(by_jti).token_id)
    await replica_a.revocations.revoke_subject("acme", "bob")
    for token in (by_jti, by_sub):
        refused_as_revoked(replica_a, token)
    assert replica_b.verifier.verify(by_jti).subject == "alice"  # B has not heard yet

    await replica_b.revocations.sync()
    refused_as_revoked(replica_b, by_jti)
    refused_as_revoked(replica_b, by_sub)
    assert replica_b.verifier.verify(by_time).subject == "carol"

    await replica_a.revocations.revoke_issued_before("acme")
    await replica_b.revocations.sync()
    refused_as_revoked(replica_b, by_time)


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_record_from_another_replica_applies_without_redis(make_replica, make_redis_store):
    replica_a = make_replica(revocations=make_redis_store())
    replica_b = make_replica(revocations=make_redis_store())
    await replica_b.revocations.sync()
    acme = replica_a.add_tenant("acme")
    replica_b.keyring.replace_tenant_keys("acme", [acme.verification_key()])
    replica_b.tenant_statuses["acme"] = "active"
    token = replica_a.mint(acme)
    replica_b.verifier.verify(token)

    record = await replica_a.revocations.revoke_token("acme", replica_b.verifier.verify(token).token_id)
    replica_b.revocations.apply(RevocationRecord.from_json(record.to_json()))  # as a stream event carries it

    refused_as_revoked(replica_b, token)


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_key_expires_no_later_than_the_longest_token_life(
    make_redis_store, redis_client, redis_key_prefix, record_ttl
):
    store = make_redis_store()
    await store.sync()
    await store.revoke_subject("acme", "alice")
    await store.revoke_token("acme", "some-jti")

    keys = [key async for key in redis_client.scan_iter(match=f"{redis_key_prefix}*")]
    assert keys
    for key in keys:
        ttl_ms = await redis_client.pttl(key)
        assert 0 < ttl_ms <= record_ttl * 1000


@pytest.mark.redis
@pytest.mark.anyio
async def test_expired_records_are_not_loaded_and_are_removed_from_redis(
    make_redis_store, redis_client, redis_key_prefix, replica, record_ttl
):
    writer = make_redis_store(clock=replica.clock)
    await writer.sync()
    await writer.revoke_subject("acme", "alice")
    replica.clock.advance(record_ttl + 1)
    await writer.revoke_subject("acme", "bob")

    reader = make_redis_store(clock=replica.clock)
    await reader.sync()

    assert not reader.is_revoked(tenant_id="acme", token_id="j", subject="alice", issued_at=0)
    assert reader.is_revoked(tenant_id="acme", token_id="j", subject="bob", issued_at=0)
    members = await redis_client.zrange(f"{redis_key_prefix}revocations", 0, -1)
    assert [json.loads(member)["subject"] for member in members] == ["bob"]


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_store_never_synced_refuses_with_503(make_replica, make_redis_store):
    replica = make_replica(revocations=make_redis_store())
    token = replica.mint(replica.add_tenant("acme"))
    with pytest.raises(RevocationUnavailable) as refused:
        replica.verifier.verify(token)
    assert (refused.value.status, refused.value.code) == (503, "revocation_unavailable")

    await replica.revocations.sync()
    assert replica.verifier.verify(token).tenant_id == "acme"


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_stale_store_refuses_with_503_even_for_cached_tokens_until_synced(
    make_replica, make_redis_store
):
    replica = make_replica(revocations=make_redis_store())
    await replica.revocations.sync()
    token = replica.mint(replica.add_tenant("acme"))
    replica.verifier.verify(token)

    replica.revocations.mark_stale()
    with pytest.raises(RevocationUnavailable):
        replica.verifier.verify(token)

    await replica.revocations.sync()
    assert replica.revocations.trusted
    assert replica.verifier.verify(token).tenant_id == "acme"


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_redis_outage_marks_the_store_stale_until_the_next_sync(
    make_replica, make_redis_store, proxied_redis
):
    client, proxy = proxied_redis
    store = make_redis_store(client=client)
    await store.sync()
    replica = make_replica(revocations=store)
    token = replica.mint(replica.add_tenant("acme"))
    assert replica.verifier.verify(token).tenant_id == "acme"

    await proxy.cut()
    with pytest.raises(RevocationUnavailable):
        await store.revoke_token("acme", "another-jti")
    assert not store.trusted
    with pytest.raises(RevocationUnavailable):
        replica.verifier.verify(token)
    with pytest.raises(RevocationUnavailable):
        await store.sync()


@pytest.mark.redis
@pytest.mark.anyio
async def test_fail_open_store_answers_from_memory_while_stale(
    make_replica, make_redis_store, unreachable_redis
):
    replica = make_replica(revocations=make_redis_store(client=unreachable_redis, fail_open=True))
    acme = replica.add_tenant("acme")
    kept, revoked = replica.mint(acme), replica.mint(acme)
    revoked_jti = replica.verifier.verify(revoked).token_id

    assert replica.verifier.verify(kept).tenant_id == "acme"  # never synced, yet served: operator's choice
    with pytest.raises(RevocationUnavailable):
        await replica.revocations.revoke_token("acme", revoked_jti)  # the write fails...
    refused_as_revoked(replica, revoked)  # ...but this replica already refuses the token


@pytest.mark.redis
@pytest.mark.anyio
async def test_an_unreadable_record_in_redis_fails_closed(make_redis_store, redis_client, redis_key_prefix):
    await redis_client.zadd(f"{redis_key_prefix}revocations", {"not a record": 4102444800})
    store = make_redis_store()
    with pytest.raises(RevocationUnavailable):
        await store.sync()
    assert not store.trusted
