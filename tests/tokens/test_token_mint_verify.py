"""Minting and verifying guest tokens, and what a third party sees through JWKS."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from gateway.tokens.claims import GuestUser, Resource
from gateway.tokens.errors import KeyRetired, TokenError
from gateway.tokens.jwks import build_jwks
from gateway.tokens.mint import mint_guest_token

ALGORITHMS = ["EdDSA", "ES256", "RS256", "HS256"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_minted_token_verifies_with_every_claim(replica, claims_of, algorithm):
    key = replica.add_tenant("acme", algorithm)
    resources = [Resource("dashboard", "sales"), Resource("chart", 7), Resource("dataset", "orders")]
    token = replica.mint(
        key,
        subject="alice@acme",
        resources=resources,
        rls_rules=[{"dataset": "orders", "clause": "region = 'emea'", "group_key": "region"}],
        origins=["https://app.acme.example"],
        ttl=120,
    )

    claims = replica.verifier.verify(token)

    assert claims.issuer == replica.issuer
    assert claims.audience == (replica.audience,)
    assert claims.subject == "alice@acme"
    assert claims.tenant_id == "acme"
    assert claims.token_type == "guest"
    assert claims.not_before == claims.issued_at
    assert claims.expires_at - claims.issued_at == 120
    assert claims.user == GuestUser("alice", "Alice", "Liddell", {"region": "emea"})
    assert claims.resources == tuple(resources)
    assert claims.rls_rules == ({"dataset": "orders", "clause": "region = 'emea'", "group_key": "region"},)
    assert claims.origins == ("https://app.acme.example",)
    header, payload = claims_of(token)
    assert header == {"alg": algorithm, "kid": key.kid, "typ": "JWT"}
    assert set(payload) == {
        "iss",
        "aud",
        "sub",
        "tid",
        "iat",
        "nbf",
        "exp",
        "jti",
        "type",
        "user",
        "resources",
        "rls_rules",
        "origins",
    }


def test_origins_claim_is_absent_unless_given(replica, claims_of):
    key = replica.add_tenant("acme")
    token = replica.mint(key)
    assert "origins" not in claims_of(token)[1]
    assert replica.verifier.verify(token).origins is None


def test_every_token_gets_its_own_unguessable_jti(replica):
    key = replica.add_tenant("acme")
    token_ids = [replica.verifier.verify(replica.mint(key)).token_id for _ in range(200)]
    assert len(set(token_ids)) == len(token_ids)
    assert all(len(base64.urlsafe_b64decode(jti + "==")) >= 16 for jti in token_ids)  # >= 128 bits


@pytest.mark.parametrize("ttl", [0, -5, 0.5])
def test_mint_refuses_a_ttl_under_one_second(replica, ttl):
    key = replica.add_tenant("acme")
    with pytest.raises(ValueError, match="ttl"):
        replica.mint(key, ttl=ttl)


def test_mint_refuses_to_produce_a_token_the_verifier_would_refuse_as_too_large(replica):
    key = replica.add_tenant("acme")
    rules = [{"dataset": "orders", "clause": f"customer_id = {n}"} for n in range(400)]
    with pytest.raises(ValueError, match="exceed"):
        replica.mint(key, rls_rules=rules)


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_third_party_verifies_a_token_with_plain_pyjwt_and_the_jwks_document(replica, algorithm):
    key = replica.add_tenant("acme", algorithm)
    token = replica.mint(key)
    # Round-trip through JSON, as an HTTP client of /.well-known/jwks.json receives it.
    document = json.loads(json.dumps(build_jwks(replica.keyring.keys())))

    jwk = jwt.PyJWKSet.from_dict(document)[jwt.get_unverified_header(token)["kid"]]
    payload = jwt.decode(
        token, jwk, algorithms=[jwk.algorithm_name], audience=replica.audience, issuer=replica.issuer
    )

    assert payload["tid"] == "acme"
    assert payload["type"] == "guest"


def test_jwks_lists_active_and_retiring_keys_but_never_retired_keys_or_shared_secrets(replica):
    acme_old = replica.add_tenant("acme", "EdDSA")
    acme_current = replica.rotate("acme", acme_old, old_status="retiring")
    globex = replica.add_tenant("globex", "ES256")
    replica.rotate("globex", globex, old_status="retired")
    replica.add_tenant("initech", "HS256")

    published = build_jwks(replica.keyring.keys())["keys"]
    assert build_jwks(reversed(replica.keyring.keys()))["keys"] == published  # a stable document

    kids = {jwk["kid"] for jwk in published}
    assert acme_old.kid in kids
    assert acme_current.kid in kids
    assert globex.kid not in kids
    assert len(published) == 3  # acme's two keys and globex's new one; nothing of initech
    assert all(jwk["kty"] in {"OKP", "EC"} and "d" not in jwk and "k" not in jwk for jwk in published)
    assert all(jwk["use"] == "sig" and jwk["alg"] in {"EdDSA", "ES256"} for jwk in published)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_rotation_keeps_old_tokens_valid_until_the_old_key_retires(replica, algorithm):
    old_key = replica.add_tenant("acme", algorithm)
    old_token = replica.mint(old_key)
    replica.verifier.verify(old_token)

    new_key = replica.rotate("acme", old_key, old_status="retiring")
    new_token = replica.mint(new_key)

    assert replica.verifier.verify(old_token).tenant_id == "acme"
    assert replica.verifier.verify(new_token).tenant_id == "acme"
    assert new_key.kid != old_key.kid

    replica.keyring.replace_tenant_keys(
        "acme", [old_key.verification_key("retired"), new_key.verification_key()]
    )
    with pytest.raises(KeyRetired) as refused:
        replica.verifier.verify(old_token)  # was cached: the rotation purged it
    assert refused.value.status == 401
    assert replica.verifier.verify(new_token).tenant_id == "acme"


def test_mint_returns_exactly_the_claims_the_verifier_will_see(replica):
    key = replica.add_tenant("acme")
    minted = mint_guest_token(
        key,
        issuer=replica.issuer,
        audience=replica.audience,
        subject="bob",
        user=GuestUser("bob"),
        resources=[],
        rls_rules=[],
    )
    assert replica.verifier.verify(minted.token) == minted.claims
    assert minted.claims.tenant_id == "acme"  # the tenant is the signing key's, never the caller's choice


def test_refusals_carry_a_code_and_a_status_and_never_echo_the_token(replica):
    key = replica.add_tenant("acme")
    token = replica.mint(key, ttl=60)
    replica.clock.advance(3600)
    with pytest.raises(TokenError) as refused:
        replica.verifier.verify(token)
    error = refused.value
    assert (error.code, error.status) == ("token_expired", 401)
    for part in token.split("."):
        assert part not in str(error)
        assert part not in error.message
