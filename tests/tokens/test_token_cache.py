"""The verified-token cache: fast for a repeated token, never a way around a check that must run each time."""

from __future__ import annotations

import pytest

from gateway.tokens.cache import VerifiedTokenCache
from gateway.tokens.errors import TokenExpired, TokenRevoked, UnknownKey
from gateway.tokens.verify import TokenVerifier


@pytest.fixture
def acme(replica):
    return replica.add_tenant("acme")


def test_a_repeated_token_is_answered_from_the_cache(replica, acme):
    token = replica.mint(acme)
    first = replica.verifier.verify(token)
    assert replica.verifier.verify(token) is first
    assert replica.verifier.verify(token.encode()) is first  # bytes and str name the same token


@pytest.mark.anyio
@pytest.mark.parametrize("revocation", ["token", "subject", "issued_before"])
async def test_a_revoked_token_is_refused_even_when_cached(replica, acme, revocation):
    token = replica.mint(acme)
    claims = replica.verifier.verify(token)
    replica.clock.advance(1)  # revocation by subject or time covers tokens issued until then
    if revocation == "token":
        await replica.revocations.revoke_token("acme", claims.token_id)
    elif revocation == "subject":
        await replica.revocations.revoke_subject("acme", claims.subject)
    else:
        await replica.revocations.revoke_issued_before("acme")
    with pytest.raises(TokenRevoked):
        replica.verifier.verify(token)


@pytest.mark.anyio
async def test_a_revoked_token_stays_refused_after_the_cache_forgets_it(replica, acme):
    token = replica.mint(acme)
    claims = replica.verifier.verify(token)
    replica.verifier.verify(replica.mint(acme, subject="bob"))
    await replica.revocations.revoke_token("acme", claims.token_id)
    for _ in range(2):  # first from the purged cache's cold path, then again
        with pytest.raises(TokenRevoked):
            replica.verifier.verify(token)


def test_without_a_cache_every_verification_checks_the_signature_again(replica, acme):
    uncached = TokenVerifier(
        replica.keyring,
        audience=replica.audience,
        issuer=replica.issuer,
        tenant_status=lambda tenant_id: "active",
        revocations=replica.revocations,
        leeway=replica.leeway,
        max_lifetime=replica.max_lifetime,
        cache_size=0,
    )
    token = replica.mint(acme)
    first, second = uncached.verify(token), uncached.verify(token)
    assert first == second
    assert first is not second


def test_an_expired_cached_token_is_refused(replica, acme):
    token = replica.mint(acme, ttl=60)
    replica.verifier.verify(token)
    replica.clock.advance(60 + replica.leeway)
    with pytest.raises(TokenExpired):
        replica.verifier.verify(token)


def test_rotation_purges_the_tenants_cached_tokens(replica, acme):
    token = replica.mint(acme)
    replica.verifier.verify(token)
    replacement = replica.rotate("acme", acme, old_status="retiring")
    replica.keyring.replace_tenant_keys("acme", [replacement.verification_key()])  # old key gone entirely
    with pytest.raises(UnknownKey):
        replica.verifier.verify(token)


def test_dropping_a_tenant_purges_its_cached_tokens(replica, acme):
    token = replica.mint(acme)
    replica.verifier.verify(token)
    replica.keyring.drop_tenant("acme")
    with pytest.raises(UnknownKey):
        replica.verifier.verify(token)


@pytest.fixture
def verified(replica):
    """(token bytes, claims) pairs for tokens of two tenants."""
    acme, globex = replica.add_tenant("acme"), replica.add_tenant("globex")
    tokens = [replica.mint(acme, subject=f"a{n}") for n in range(3)] + [replica.mint(globex)]
    return [(token.encode(), replica.verifier.verify(token)) for token in tokens]


def test_cache_evicts_the_least_recently_used_token_when_full(replica, verified):
    cache = VerifiedTokenCache(2, clock=replica.clock)
    (first, first_claims), (second, second_claims), (third, third_claims), _ = verified
    for token, claims in [(first, first_claims), (second, second_claims)]:
        cache.put(token, claims, expires_at=claims.expires_at)
    assert cache.get(first) is first_claims  # first is now the most recently used
    cache.put(third, third_claims, expires_at=third_claims.expires_at)
    assert len(cache) == 2
    assert cache.get(second) is None
    assert cache.get(first) is first_claims
    assert cache.get(third) is third_claims


def test_cache_entry_expires_at_its_deadline(replica, verified):
    cache = VerifiedTokenCache(10, clock=replica.clock)
    token, claims = verified[0]
    cache.put(token, claims, expires_at=replica.clock.now + 100)
    replica.clock.advance(99.9)
    assert cache.get(token) is claims
    replica.clock.advance(0.1)
    assert cache.get(token) is None
    assert len(cache) == 0


def test_cache_purges_one_tenant_only(replica, verified):
    cache = VerifiedTokenCache(10, clock=replica.clock)
    for token, claims in verified:
        cache.put(token, claims, expires_at=claims.expires_at)
    cache.purge_tenant("acme")
    assert [cache.get(token) is not None for token, _ in verified] == [False, False, False, True]


def test_cache_of_size_zero_keeps_nothing(replica, verified):
    cache = VerifiedTokenCache(0, clock=replica.clock)
    token, claims = verified[0]
    cache.put(token, claims, expires_at=claims.expires_at)
    assert cache.get(token) is None
