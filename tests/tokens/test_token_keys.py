"""Key loading, the key ring, and fetching an unknown `kid` once."""

from __future__ import annotations

import asyncio
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from gateway.tokens.errors import AlgorithmNotAllowed, UnknownKey
from gateway.tokens.keyring import KeyRing
from gateway.tokens.keys import SigningKey, VerificationKey


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_verification_key_loads_a_published_jwk(new_key, algorithm):
    generated = new_key(algorithm)
    key = VerificationKey.from_jwk(generated.public_jwk, tenant_id="acme", status="retiring")
    assert (key.kid, key.tenant_id, key.algorithm, key.status) == (
        generated.kid,
        "acme",
        algorithm,
        "retiring",
    )
    signing_key = SigningKey.from_generated(generated, tenant_id="acme")
    assert key.verify(b"payload", signing_key.sign(b"payload"))
    assert not key.verify(b"payload!", signing_key.sign(b"payload"))


def _jwk(algorithm_class, public_key, **members):
    return {**json.loads(algorithm_class.to_jwk(public_key)), **members}


@pytest.mark.parametrize(
    "make_jwk",
    [
        pytest.param(lambda g: {**g.public_jwk, "d": "c2VjcmV0"}, id="private-part"),
        pytest.param(lambda g: {"kty": "oct", "k": "c2VjcmV0c2VjcmV0", "alg": "HS256", "kid": "k"}, id="oct"),
        pytest.param(lambda g: {**g.public_jwk, "alg": "ES256"}, id="alg-does-not-fit-kty"),
        pytest.param(lambda g: {k: v for k, v in g.public_jwk.items() if k != "kid"}, id="no-kid"),
        pytest.param(lambda g: {k: v for k, v in g.public_jwk.items() if k != "alg"}, id="no-alg"),
        pytest.param(lambda g: {**g.public_jwk, "alg": "none"}, id="alg-none"),
        pytest.param(
            lambda g: _jwk(OKPAlgorithm, ed448.Ed448PrivateKey.generate().public_key(), alg="EdDSA", kid="k"),
            id="ed448",
        ),
        pytest.param(
            lambda g: _jwk(
                ECAlgorithm, ec.generate_private_key(ec.SECP384R1()).public_key(), alg="ES256", kid="k"
            ),
            id="p384-for-es256",
        ),
        pytest.param(
            lambda g: _jwk(
                RSAAlgorithm,
                rsa.generate_private_key(65537, 1024).public_key(),  # noqa: S505 - weak on purpose
                alg="RS256",
                kid="k",
            ),
            id="rsa-1024",
        ),
    ],
)
def test_verification_key_refuses_an_unfit_jwk(new_key, make_jwk):
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message; any refusal will do
        VerificationKey.from_jwk(make_jwk(new_key("EdDSA")), tenant_id="acme", status="active")


def test_hs256_secret_must_be_long_enough():
    with pytest.raises(ValueError, match="32 bytes"):
        VerificationKey.from_secret("k", b"short", tenant_id="acme", status="active")
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKey.load("k", "HS256", b"short", tenant_id="acme")


def test_signing_key_refuses_a_pem_of_another_algorithm(new_key):
    with pytest.raises(ValueError, match="does not fit"):
        SigningKey.load("k", "ES256", new_key("EdDSA").private, tenant_id="acme")


def test_unknown_key_status_is_refused(new_key):
    with pytest.raises(ValueError, match="status"):
        VerificationKey.from_jwk(new_key("EdDSA").public_jwk, tenant_id="acme", status="revoked")


@pytest.mark.parametrize("algorithm", ["EdDSA", "HS256"])
def test_key_reprs_show_no_key_material(new_key, algorithm):
    generated = new_key(algorithm)
    signing_key = SigningKey.from_generated(generated, tenant_id="acme")
    for shown in (repr(signing_key), repr(signing_key.verification_key())):
        assert generated.kid in shown
        assert repr(generated.private) not in shown
        assert "PRIVATE" not in shown


def test_replacing_keys_refuses_keys_of_another_tenant(new_key):
    ring = KeyRing()
    globex_key = SigningKey.from_generated(new_key("EdDSA"), tenant_id="globex").verification_key()
    with pytest.raises(ValueError, match="another tenant"):
        ring.replace_tenant_keys("acme", [globex_key])


def test_replacing_keys_refuses_a_kid_already_owned_by_another_tenant(new_key):
    ring = KeyRing()
    generated = new_key("EdDSA")
    owner = SigningKey.from_generated(generated, tenant_id="acme").verification_key()
    ring.replace_tenant_keys("acme", [owner])
    impostor = SigningKey.from_generated(generated, tenant_id="globex").verification_key()
    with pytest.raises(ValueError, match="already used"):
        ring.replace_tenant_keys("globex", [impostor])
    assert ring.get(generated.kid).tenant_id == "acme"


def test_replacing_keys_forgets_the_tenants_previous_keys(new_key):
    ring = KeyRing()
    old, new = (SigningKey.from_generated(new_key("EdDSA"), tenant_id="acme") for _ in range(2))
    ring.replace_tenant_keys("acme", [old.verification_key()])
    ring.replace_tenant_keys("acme", [new.verification_key()])
    assert ring.get(old.kid) is None
    assert [key.kid for key in ring.tenant_keys("acme")] == [new.kid]


def test_private_key_pem_round_trips(new_key):
    generated = new_key("ES256")
    signing_key = SigningKey.from_generated(generated, tenant_id="acme")
    public = serialization.load_pem_private_key(generated.private, password=None).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert signing_key.verification_key().public_jwk == {
        **json.loads(ECAlgorithm.to_jwk(public)),
        "kid": generated.kid,
        "alg": "ES256",
        "use": "sig",
    }


class Registry:
    """A stand-in for the tenant registry: keys by kid, counting how often it is asked."""

    def __init__(self) -> None:
        self.keys: dict[str, VerificationKey] = {}
        self.lookups: list[str] = []

    async def load(self, kid: str) -> VerificationKey | None:
        self.lookups.append(kid)
        await asyncio.sleep(0.01)  # a registry round trip, long enough for concurrent callers to overlap
        return self.keys.get(kid)


@pytest.fixture
def registry():
    return Registry()


@pytest.fixture
def replica(make_replica, registry):
    return make_replica(key_loader=registry.load)


@pytest.mark.anyio
async def test_unknown_kid_is_fetched_once_then_verifies(replica, registry):
    signing_key = SigningKey.from_generated(replica.new_key("EdDSA"), tenant_id="acme")
    replica.tenant_statuses["acme"] = "active"
    registry.keys[signing_key.kid] = signing_key.verification_key()
    token = replica.mint(signing_key)

    with pytest.raises(UnknownKey):
        replica.verifier.verify(token)  # the synchronous path never does I/O
    claims = await replica.verifier.verify_refreshing_keys(token)

    assert claims.tenant_id == "acme"
    assert await replica.verifier.verify_refreshing_keys(token) is claims
    assert registry.lookups == [signing_key.kid]


@pytest.mark.anyio
async def test_kid_unknown_to_the_registry_is_refused_and_not_asked_for_again_soon(replica, registry):
    stranger = SigningKey.from_generated(replica.new_key("EdDSA"), tenant_id="acme")
    token = replica.mint(stranger)
    for _ in range(3):
        with pytest.raises(UnknownKey):
            await replica.verifier.verify_refreshing_keys(token)
    assert registry.lookups == [stranger.kid]

    replica.clock.advance(31)  # past the default miss_ttl
    with pytest.raises(UnknownKey):
        await replica.verifier.verify_refreshing_keys(token)
    assert registry.lookups == [stranger.kid, stranger.kid]


@pytest.mark.anyio
async def test_concurrent_requests_with_a_new_kid_share_one_registry_lookup(replica, registry):
    signing_key = SigningKey.from_generated(replica.new_key("EdDSA"), tenant_id="acme")
    replica.tenant_statuses["acme"] = "active"
    registry.keys[signing_key.kid] = signing_key.verification_key()
    tokens = [replica.mint(signing_key, subject=f"user{n}") for n in range(5)]

    results = await asyncio.gather(*(replica.verifier.verify_refreshing_keys(t) for t in tokens))

    assert [claims.subject for claims in results] == [f"user{n}" for n in range(5)]
    assert registry.lookups == [signing_key.kid]


@pytest.mark.anyio
async def test_alg_none_never_triggers_a_registry_lookup(replica, registry, forge):
    token = forge({"alg": "none", "kid": "invented"}, {"tid": "acme"}, lambda _: b"")
    with pytest.raises(AlgorithmNotAllowed):
        await replica.verifier.verify_refreshing_keys(token)
    assert registry.lookups == []


@pytest.mark.anyio
async def test_a_failing_registry_fails_the_request_and_is_asked_again_next_time(make_replica):
    lookups = []

    async def unavailable_registry(kid):
        lookups.append(kid)
        raise ConnectionError("registry down")

    replica = make_replica(key_loader=unavailable_registry)
    token = replica.mint(SigningKey.from_generated(replica.new_key("EdDSA"), tenant_id="acme"))
    for _ in range(2):
        with pytest.raises(ConnectionError):
            await replica.verifier.verify_refreshing_keys(token)
    assert len(lookups) == 2  # an outage is not remembered as "no such key"


@pytest.mark.anyio
async def test_a_registry_answer_for_another_kid_is_not_trusted(replica, registry):
    asked, answered = (
        SigningKey.from_generated(replica.new_key("EdDSA"), tenant_id="acme") for _ in range(2)
    )
    registry.keys[asked.kid] = answered.verification_key()
    with pytest.raises(ValueError, match="another kid"):
        await replica.verifier.verify_refreshing_keys(replica.mint(asked))
    assert replica.keyring.get(asked.kid) is None
