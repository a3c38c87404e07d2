"""The attack matrix: each forged or unfit token is tried, and must fail with its own error class (401)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import string

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.tokens.claims import REQUIRED_CLAIMS
from gateway.tokens.errors import (
    AlgorithmNotAllowed,
    InvalidSignature,
    MalformedToken,
    MissingClaim,
    TenantMismatch,
    TenantSuspended,
    TenantUnknown,
    TokenError,
    TokenExpired,
    TokenLifetimeTooLong,
    TokenNotYetValid,
    TokenTooLarge,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from gateway.tokens.keys import SigningKey


def refused(replica, token, error_class):
    """Assert that verifying `token` fails with exactly `error_class`, as a 401."""
    with pytest.raises(TokenError) as caught:
        replica.verifier.verify(token)
    assert type(caught.value) is error_class
    assert caught.value.status == 401
    return caught.value


def hs256_signer(secret):
    return lambda signing_input: hmac.new(secret, signing_input, hashlib.sha256).digest()


@pytest.fixture
def acme(replica):
    return replica.add_tenant("acme", "EdDSA")


@pytest.fixture
def genuine_payload(replica, acme, claims_of):
    """The payload of a genuine token, for attacks that alter it."""
    return claims_of(replica.mint(acme))[1]


@pytest.mark.parametrize("none", ["none", "None", "NONE"])
def test_alg_none_is_refused(replica, acme, forge, genuine_payload, none):
    token = forge({"alg": none, "kid": acme.kid, "typ": "JWT"}, genuine_payload, lambda _: b"")
    refused(replica, token, AlgorithmNotAllowed)


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
@pytest.mark.parametrize("secret_form", ["pem", "jwk"])
def test_hs256_token_signed_with_the_tenants_public_key_is_refused(
    replica, forge, claims_of, algorithm, secret_form
):
    key = replica.add_tenant("acme", algorithm)
    public = key.verification_key()
    payload = claims_of(replica.mint(key))[1]
    # The attacker reads the public key from JWKS and tries each of its spellings as the HMAC secret.
    if secret_form == "pem":
        secret = jwt.PyJWK(public.public_jwk).key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        secret = json.dumps(public.public_jwk).encode()
    token = forge({"alg": "HS256", "kid": key.kid, "typ": "JWT"}, payload, hs256_signer(secret))
    refused(replica, token, AlgorithmNotAllowed)


def test_switching_to_another_asymmetric_algorithm_is_refused(replica, forge, genuine_payload, acme):
    other = SigningKey.from_generated(replica.new_key("ES256"), tenant_id="acme")
    token = forge({"alg": "ES256", "kid": acme.kid, "typ": "JWT"}, genuine_payload, other.sign)
    refused(replica, token, AlgorithmNotAllowed)


def test_unknown_kid_is_refused(replica, acme):
    unregistered = SigningKey.from_generated(replica.new_key("EdDSA"), tenant_id="acme")
    error = refused(replica, replica.mint(unregistered), UnknownKey)
    assert error.kid == unregistered.kid


def test_kid_of_another_tenant_with_a_forged_tenant_claim_is_refused(replica, forge, acme, claims_of):
    # globex uses a shared secret, so it can sign whatever it likes with its own key...
    globex = replica.add_tenant("globex", "HS256")
    payload = claims_of(replica.mint(acme))[1]
    assert payload["tid"] == "acme"
    token = forge({"alg": "HS256", "kid": globex.kid, "typ": "JWT"}, payload, globex.sign)
    # ...but a token its key signed never speaks for acme.
    refused(replica, token, TenantMismatch)


def test_tenant_claim_swapped_in_a_genuine_token_is_refused(replica, acme, genuine_payload):
    replica.add_tenant("globex")
    header, _, signature = replica.mint(acme).split(".")
    forged_payload = base64.urlsafe_b64encode(json.dumps({**genuine_payload, "tid": "globex"}).encode())
    refused(replica, f"{header}.{forged_payload.rstrip(b'=').decode()}.{signature}", InvalidSignature)


@pytest.mark.parametrize(
    "change", [{"rls_rules": []}, {"exp": 4102444800}, {"sub": "admin"}, {"resources": []}]
)
def test_payload_tampered_after_signing_is_refused(replica, acme, genuine_payload, change):
    header, _, signature = replica.mint(acme).split(".")
    tampered = base64.urlsafe_b64encode(json.dumps({**genuine_payload, **change}).encode()).rstrip(b"=")
    refused(replica, f"{header}.{tampered.decode()}.{signature}", InvalidSignature)


def test_signature_of_another_token_is_refused(replica, acme):
    header, payload, _ = replica.mint(acme, subject="alice").split(".")
    *_, other_signature = replica.mint(acme, subject="bob").split(".")
    refused(replica, f"{header}.{payload}.{other_signature}", InvalidSignature)


def test_expired_token_is_refused_once_past_the_leeway(replica, acme):
    token = replica.mint(acme, ttl=60, now=replica.clock() - 60 - replica.leeway + 1)
    assert replica.verifier.verify(token).tenant_id == "acme"  # within the leeway: clock skew is tolerated
    replica.clock.advance(1)
    refused(replica, token, TokenExpired)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_token_from_the_future_is_refused(replica, acme, forge, genuine_payload, claim):
    future = replica.clock() + replica.leeway + 5
    refused(replica, replica.mint(acme, now=future), TokenNotYetValid)
    payload = {**genuine_payload, claim: future, "exp": future + 60}
    refused(replica, forge({"alg": "EdDSA", "kid": acme.kid}, payload, acme.sign), TokenNotYetValid)


def test_token_living_longer_than_revocation_records_is_refused(replica, acme, forge, genuine_payload):
    payload = {**genuine_payload, "exp": genuine_payload["iat"] + 30 * 24 * 3600}
    refused(replica, forge({"alg": "EdDSA", "kid": acme.kid}, payload, acme.sign), TokenLifetimeTooLong)


def test_wrong_audience_is_refused(replica, acme):
    refused(replica, replica.mint(acme, audience="another-service"), WrongAudience)


def test_audience_list_must_contain_ours(replica, acme, forge, genuine_payload):
    listed = {**genuine_payload, "aud": ["another-service", replica.audience]}
    assert replica.verifier.verify(forge({"alg": "EdDSA", "kid": acme.kid}, listed, acme.sign))
    unlisted = {**genuine_payload, "aud": ["another-service"]}
    refused(replica, forge({"alg": "EdDSA", "kid": acme.kid}, unlisted, acme.sign), WrongAudience)


def test_wrong_issuer_is_refused(replica, acme):
    refused(replica, replica.mint(acme, issuer="https://evil.example"), WrongIssuer)


@pytest.mark.parametrize("token_type", ["access", "Guest", "refresh"])
def test_wrong_token_type_is_refused(replica, acme, forge, genuine_payload, token_type):
    payload = {**genuine_payload, "type": token_type}
    refused(replica, forge({"alg": "EdDSA", "kid": acme.kid}, payload, acme.sign), WrongTokenType)


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_missing_required_claim_is_refused_and_named(replica, acme, forge, genuine_payload, claim):
    payload = {name: value for name, value in genuine_payload.items() if name != claim}
    error = refused(replica, forge({"alg": "EdDSA", "kid": acme.kid}, payload, acme.sign), MissingClaim)
    assert error.claim == claim
    assert claim in error.message


@pytest.mark.parametrize(
    "change",
    [
        {"exp": "4102444800"},
        {"exp": 10**400},  # JSON integers are unbounded; adding a float leeway would overflow
        {"nbf": -(10**400)},
        {"iat": True},
        {"tid": ""},
        {"jti": 12},
        {"user": "alice"},
        {"user": {"first_name": "Alice"}},
        {"resources": [{"type": "table", "id": "x"}]},
        {"resources": [{"type": "chart", "id": True}]},
        {"rls_rules": "region = 'emea'"},
        {"origins": "https://a.example"},
        {"aud": [1]},
    ],
)
def test_mistyped_claim_is_refused(replica, acme, forge, genuine_payload, change):
    payload = {**genuine_payload, **change}
    refused(replica, forge({"alg": "EdDSA", "kid": acme.kid}, payload, acme.sign), MalformedToken)


def test_nine_kib_token_is_refused_before_parsing(replica, acme):
    genuine = replica.mint(acme)
    padded = genuine + "A" * (9 * 1024 - len(genuine))
    refused(replica, padded, TokenTooLarge)
    refused(replica, padded.encode(), TokenTooLarge)
    refused(replica, "x" * (9 * 1024), TokenTooLarge)  # not even a JWT: size comes first


def test_suspended_tenant_is_refused_even_for_a_token_already_verified(replica, acme):
    token = replica.mint(acme)
    replica.verifier.verify(token)
    replica.tenant_statuses["acme"] = "suspended"
    refused(replica, token, TenantSuspended)
    replica.tenant_statuses["acme"] = "active"
    assert replica.verifier.verify(token).tenant_id == "acme"


def test_token_of_an_unknown_tenant_is_refused(replica, acme):
    token = replica.mint(acme)
    del replica.tenant_statuses["acme"]
    refused(replica, token, TenantUnknown)


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a.b.c.d.e",  # JWE-shaped
        "!!!.e30.",
        "e30.e30.",  # header without alg or kid
        "W10.e30.",  # header is an array
        "bm90IGpzb24.e30.",  # header is not JSON
        "jalapeño.e30.",  # not ASCII
        b"\xff\xfe.e30.",  # bytes that are not ASCII
    ],
)
def test_malformed_token_is_refused(replica, token):
    refused(replica, token, MalformedToken)


def test_deeply_nested_json_is_refused_as_malformed(replica, acme):
    nested = base64.urlsafe_b64encode(b"[" * 3000).rstrip(b"=")  # deeper than the interpreter stack
    header, payload, signature = replica.mint(acme).encode().split(b".")
    refused(replica, nested + b"." + payload + b"." + signature, MalformedToken)
    # A payload the tenant's own key signed (an HS256 tenant holds its secret) gets no further.
    signing_input = header + b"." + nested
    signed = base64.urlsafe_b64encode(acme.sign(signing_input)).rstrip(b"=")
    refused(replica, signing_input + b"." + signed, MalformedToken)


def test_critical_header_extension_is_refused(replica, acme, forge, genuine_payload):
    header = {"alg": "EdDSA", "kid": acme.kid, "crit": ["b64"], "b64": False}
    refused(replica, forge(header, genuine_payload, acme.sign), MalformedToken)


def test_non_canonical_base64_spelling_of_a_genuine_token_is_refused(replica, acme):
    header, payload, signature = replica.mint(acme).split(".")
    refused(replica, f"{header}.{payload}.{signature}=", MalformedToken)  # padding
    refused(replica, f"{header}.{payload}.{signature[:10]}*{signature[10:]}", MalformedToken)  # stray char
    # An EdDSA signature leaves 4 spare bits in its last character: a twin spelling decodes identically.
    decoded = base64.urlsafe_b64decode(signature + "==")
    twin = next(
        signature[:-1] + c
        for c in string.ascii_letters + string.digits + "-_"
        if c != signature[-1] and base64.urlsafe_b64decode(signature[:-1] + c + "==") == decoded
    )
    refused(replica, f"{header}.{payload}.{twin}", MalformedToken)


def test_json_non_finite_numbers_are_refused(replica, acme, genuine_payload):
    body = json.dumps({**genuine_payload, "exp": float("inf")}).encode()  # Python writes `Infinity`
    header = base64.urlsafe_b64encode(json.dumps({"alg": "EdDSA", "kid": acme.kid}).encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(body).rstrip(b"=")
    signing_input = header + b"." + payload
    signature = base64.urlsafe_b64encode(acme.sign(signing_input)).rstrip(b"=")
    refused(replica, (signing_input + b"." + signature).decode(), MalformedToken)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(token=st.one_of(st.text(max_size=300), st.binary(max_size=300), st.from_regex(r"[\w.=-]{0,300}")))
def test_arbitrary_input_is_refused_with_a_token_error_and_nothing_else(replica, token):
    with pytest.raises(TokenError):
        replica.verifier.verify(token)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_changing_any_single_character_of_a_genuine_token_is_refused(replica, acme, data):
    token = replica.mint(acme)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(
        st.sampled_from(string.ascii_letters + string.digits + "-_.").filter(lambda c: c != token[position])
    )
    with pytest.raises(TokenError):
        replica.verifier.verify(token[:position] + replacement + token[position + 1 :])
