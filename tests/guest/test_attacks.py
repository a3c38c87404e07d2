"""The attack matrix, performed over HTTP against `GET /api/v1/dashboard/{id}`: every forged, altered or
unfit guest token is refused with 401 and its own error code; cross-tenant reads with 403.

About `not yet valid`, `wrong type` (and forged `aud`/`iss`): producing such a token needs the tenant's
signing key. The asymmetric private keys never leave the gateway, and an HS256 tenant's shared secret is
not obtainable over the API either, so a test cannot sign one. What a test *can* do is take a genuine
token and change those claims: that must fail as `invalid_signature`, which proves the claims cannot be
chosen by anyone but the gateway. `wrong_issuer` and `wrong_audience` are additionally tested with
genuinely signed tokens, minted by a second gateway on the same registry configured with another issuer
or audience.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from tests.support.guests import (
    TOKEN_REFUSAL_CODES,
    Gateway,
    Servers,
    Tenant,
    assert_api_error,
    assert_refused,
    b64url,
    b64url_json,
    claims_of,
    default_body,
    eventually,
    forge,
    header_of,
    unb64url,
    with_payload,
)
from tests.support.services import ADMIN_TOKEN, SECRET_KEY


@pytest.fixture(scope="module")
def expiring(gw: Gateway) -> dict[str, Any]:
    """Minted first in the module (ttl=1) so that waiting for its expiry overlaps the other tests."""
    tenant = gw.onboard()
    token = gw.mint(tenant, default_body(tenant, "short-lived", ttl=1))
    accepted = gw.dashboard(token, tenant.dashboard["id"])
    return {"tenant": tenant, "token": token, "first_status": accepted.status_code, "minted": time.time()}


def test_a_one_second_token_is_accepted_at_first(expiring: dict[str, Any]) -> None:
    assert expiring["first_status"] == 200


@pytest.fixture(scope="module")
def a(gw: Gateway) -> Tenant:
    return gw.onboard()


@pytest.fixture(scope="module")
def b(gw: Gateway) -> Tenant:
    return gw.onboard()


@pytest.fixture(scope="module")
def a_token(gw: Gateway, a: Tenant) -> str:
    token = gw.mint(
        a,
        default_body(
            a,
            "victim",
            rls=[{"dataset": "orders", "clause": "customer = 'victim'"}],
            origins=["https://app.acme.example"],
        ),
    )
    assert gw.dashboard(token, a.dashboard["id"]).status_code == 200
    return token


def read(gw: Gateway, tenant: Tenant, token: str, header: str = "bearer") -> Any:
    return gw.dashboard(token, tenant.dashboard["id"], header=header)


def hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64url_json(header)}.{b64url_json(payload)}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64url(signature)}"


def published_jwk(gw: Gateway, kid: str) -> dict[str, Any]:
    found = [key for key in gw.jwks()["keys"] if key["kid"] == kid]
    assert len(found) == 1, kid
    return found[0]


def public_key_secrets(jwk: dict[str, Any]) -> dict[str, bytes]:
    """Every form of a public key an attacker might hope the gateway uses as an HMAC secret."""
    public = jwt.PyJWK(jwk).key
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    forms = {
        "pem": pem,
        "pem-stripped": pem.strip(),
        "der": der,
        "jwk-json": json.dumps(jwk).encode(),
        "jwk-json-compact": json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode(),
    }
    if jwk["kty"] == "OKP":
        forms["jwk-x"] = jwk["x"].encode()
        forms["raw"] = unb64url(jwk["x"])
    elif jwk["kty"] == "EC":
        forms["raw"] = public.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
    else:
        forms["openssh"] = public.public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        forms["jwk-n"] = jwk["n"].encode()
    return forms


# ------------------------------------------------------------------------------------ no / bad tokens


def test_no_token(gw: Gateway, a: Tenant) -> None:
    assert_refused(gw.dashboard(None, a.dashboard["id"]), "missing_token")


@pytest.mark.parametrize(
    "garbage",
    ["abc", "a.b", "a.b.c.d", "!!!.***.$$$", "eyJhbGciOiJFZERTQSJ9..", "e30.e30.", "%00.%00.%00"],
)
def test_malformed_tokens(gw: Gateway, a: Tenant, garbage: str) -> None:
    assert_refused(read(gw, a, garbage), "token_malformed")


def test_genuine_token_is_accepted_in_either_header(gw: Gateway, a: Tenant, a_token: str) -> None:
    for header in ("bearer", "x-guesttoken"):
        response = read(gw, a, a_token, header)
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("header", ["bearer", "x-guesttoken"])
def test_alg_none(gw: Gateway, a: Tenant, a_token: str, alg: str, header: str) -> None:
    forged_header = header_of(a_token) | {"alg": alg}
    payload = claims_of(a_token) | {"sub": "admin"}
    for signature in (b"", unb64url(a_token.split(".")[2])):
        assert_refused(read(gw, a, forge(forged_header, payload, signature), header), "algorithm_not_allowed")


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_hs256_signed_with_the_tenants_public_key(gw: Gateway, algorithm: str) -> None:
    tenant = gw.onboard(algorithm=algorithm)
    genuine = gw.mint(tenant)
    kid = header_of(genuine)["kid"]
    payload = claims_of(genuine) | {"sub": "attacker"}
    for form, secret in public_key_secrets(published_jwk(gw, kid)).items():
        forged = hs256({"alg": "HS256", "kid": kid, "typ": "JWT"}, payload, secret)
        response = read(gw, tenant, forged)
        assert response.status_code == 401, (form, response.text)
        assert response.json()["error"]["code"] == "algorithm_not_allowed", (form, response.text)


def test_asymmetric_algorithm_swap(gw: Gateway, a: Tenant, a_token: str) -> None:
    """The key decides the algorithm: an RS256 or ES256 token naming an EdDSA key is refused."""
    kid = header_of(a_token)["kid"]
    payload = claims_of(a_token)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    for alg, key in (("RS256", rsa_key), ("ES256", ec_key), ("PS256", rsa_key)):
        forged = jwt.encode(payload, key, algorithm=alg, headers={"kid": kid})
        assert_refused(read(gw, a, forged), "algorithm_not_allowed")


def test_unknown_kid(gw: Gateway, a: Tenant, a_token: str) -> None:
    attacker = ed25519.Ed25519PrivateKey.generate()
    payload = claims_of(a_token)
    for kid in ("attacker-key", "", "../../etc/passwd", header_of(a_token)["kid"] + "x"):
        forged = jwt.encode(payload, attacker, algorithm="EdDSA", headers={"kid": kid})
        response = read(gw, a, forged)
        assert response.status_code == 401, response.text
        # An empty kid may be called malformed; any other unknown kid is unknown.
        expected = {"unknown_key", "token_malformed"} if kid == "" else {"unknown_key"}
        assert response.json()["error"]["code"] in expected, (kid, response.text)


def test_keys_embedded_in_the_header_are_not_trusted(gw: Gateway, a: Tenant, a_token: str) -> None:
    attacker = ed25519.Ed25519PrivateKey.generate()
    attacker_jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(attacker.public_key()))
    payload = claims_of(a_token)
    real_kid = header_of(a_token)["kid"]
    # Its own key in `jwk`/`jku`/`x5u`, under an unknown kid: unknown.
    for extra in (
        {"jwk": attacker_jwk},
        {"jku": "https://evil.example/jwks.json"},
        {"x5u": "https://evil.example/c"},
    ):
        forged = jwt.encode(payload, attacker, algorithm="EdDSA", headers={"kid": "attacker", **extra})
        assert_refused(read(gw, a, forged), "unknown_key")
        # Under the tenant's real kid: the signature does not verify with the tenant's key.
        forged = jwt.encode(payload, attacker, algorithm="EdDSA", headers={"kid": real_kid, **extra})
        assert_refused(read(gw, a, forged), "invalid_signature")


def test_kid_of_another_tenant(gw: Gateway, a: Tenant, b: Tenant, a_token: str) -> None:
    b_token = gw.mint(b)
    b_kid = header_of(b_token)["kid"]
    assert b_kid != header_of(a_token)["kid"]
    # Forged: signed with a key of our own, naming B's kid and A's tenant.
    attacker = ed25519.Ed25519PrivateKey.generate()
    forged = jwt.encode(claims_of(a_token), attacker, algorithm="EdDSA", headers={"kid": b_kid})
    assert_refused(read(gw, a, forged), "invalid_signature")
    # Genuine B token, its `tid` altered to A's: the signature no longer covers the payload.
    altered = with_payload(b_token, claims_of(b_token) | {"tid": a.id})
    assert_refused(read(gw, a, altered), "invalid_signature")
    # A's genuine payload under B's header and B's signature.
    spliced = ".".join((b_token.split(".")[0], a_token.split(".")[1], b_token.split(".")[2]))
    assert_refused(read(gw, a, spliced), "invalid_signature")
    # And B's untouched token is still not a key to A's dashboards.
    assert_api_error(read(gw, a, b_token), 403, "resource_forbidden")


TAMPERINGS: dict[str, Any] = {
    "sub": lambda c, other: c | {"sub": "admin"},
    "user attributes": lambda c, other: c | {"user": c["user"] | {"attributes": {"region": "*"}}},
    "roles": lambda c, other: c | {"user": c["user"] | {"roles": ["admin"]}},
    "rls rules dropped": lambda c, other: c | {"rls_rules": []},
    "resources widened": lambda c, other: (
        c | {"resources": [*c["resources"], {"type": "dashboard", "id": other.dashboard["id"]}]}
    ),
    "tenant": lambda c, other: c | {"tid": other.id},
    "expiry extended": lambda c, other: c | {"exp": c["exp"] + 86_400},
    "issued later": lambda c, other: c | {"iat": c["iat"] + 3600},
    # These three would be `wrong_audience`, `wrong_issuer`, `wrong_token_type` if signed; they cannot be.
    "wrong audience": lambda c, other: c | {"aud": "another-audience"},
    "wrong issuer": lambda c, other: c | {"iss": "evil-issuer"},
    "wrong type": lambda c, other: c | {"type": "access"},
    # `token_not_yet_valid` if signed: nbf in the future.
    "not yet valid": lambda c, other: c | {"nbf": time.time() + 3600},
    "claim removed": lambda c, other: {k: v for k, v in c.items() if k != "origins"},
    "jti": lambda c, other: c | {"jti": "another-id"},
}


@pytest.mark.parametrize("change", list(TAMPERINGS))
def test_payload_tampered_after_signing(gw: Gateway, a: Tenant, b: Tenant, a_token: str, change: str) -> None:
    altered = with_payload(a_token, TAMPERINGS[change](claims_of(a_token), b))
    assert altered != a_token
    assert_refused(read(gw, a, altered), "invalid_signature")


def test_signature_tampering(gw: Gateway, a: Tenant, a_token: str) -> None:
    head, payload, signature = a_token.split(".")
    raw = bytearray(unb64url(signature))
    raw[0] ^= 0x01
    assert_refused(read(gw, a, f"{head}.{payload}.{b64url(bytes(raw))}"), "invalid_signature")
    # Another genuine token's signature, from the same key.
    other = gw.mint(a, default_body(a, "someone-else"))
    assert_refused(read(gw, a, f"{head}.{payload}.{other.split('.')[2]}"), "invalid_signature")
    # The header re-encoded (a different spelling of the same header) is a different signing input.
    respelled = b64url(json.dumps(header_of(a_token), indent=1).encode())
    response = read(gw, a, f"{respelled}.{payload}.{signature}")
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] in ("invalid_signature", "token_malformed")
    # Truncated signature.
    assert read(gw, a, f"{head}.{payload}.{signature[:-4]}").status_code == 401


@pytest.mark.parametrize("header", ["bearer", "x-guesttoken"])
def test_oversized_token(gw: Gateway, a: Tenant, a_token: str, header: str) -> None:
    head, _, signature = a_token.split(".")
    big = with_payload(a_token, claims_of(a_token) | {"padding": "x" * 9 * 1024})
    assert len(big) > 9 * 1024
    assert_refused(read(gw, a, big, header), "token_too_large")
    junk = "A" * (9 * 1024)
    assert_refused(read(gw, a, f"{head}.{junk}.{signature}", header), "token_too_large")


def test_access_token_is_not_a_guest_token(gw: Gateway, a: Tenant) -> None:
    access = gw.access_token(a.app)
    response = read(gw, a, access)
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] in TOKEN_REFUSAL_CODES


def test_admin_token_is_not_a_guest_token(gw: Gateway, a: Tenant) -> None:
    response = gw.dashboard(gw.admin.headers["authorization"].split(" ", 1)[1], a.dashboard["id"])
    assert response.status_code == 401, response.text


def test_hs256_tenant_secret_is_not_guessable(gw: Gateway) -> None:
    """An HS256 tenant's shared secret is none of the values an attacker could know or guess."""
    tenant = gw.onboard(algorithm="HS256")
    genuine = gw.mint(tenant)
    header = header_of(genuine)
    payload = claims_of(genuine) | {"sub": "attacker"}
    guesses = {
        "empty": b"",
        "kid": header["kid"].encode(),
        "client secret": tenant.app.client_secret.encode(),
        "client id": tenant.app.client_id.encode(),
        "admin token": ADMIN_TOKEN.encode(),
        "gateway secret key": SECRET_KEY.encode(),
        "tenant id": tenant.id.encode(),
        "slug": tenant.slug.encode(),
    }
    for name, secret in guesses.items():
        response = read(gw, tenant, hs256(header, payload, secret))
        assert response.status_code == 401, (name, response.text)
        assert response.json()["error"]["code"] == "invalid_signature", (name, response.text)
    # And an asymmetric algorithm naming the HS256 key is refused before any signature check.
    attacker = ed25519.Ed25519PrivateKey.generate()
    forged = jwt.encode(payload, attacker, algorithm="EdDSA", headers={"kid": header["kid"]})
    assert_refused(read(gw, tenant, forged), "algorithm_not_allowed")
    assert_refused(read(gw, tenant, forge(header | {"alg": "none"}, payload)), "algorithm_not_allowed")


def test_guest_and_access_tokens_open_no_admin_endpoint(gw: Gateway, a: Tenant, a_token: str) -> None:
    access = gw.access_token(a.app)
    for credential in (a_token, access):
        for method, path in (
            ("GET", "/api/v1/tenants"),
            ("GET", f"/api/v1/tenants/{a.slug}/keys"),
            ("POST", f"/api/v1/tenants/{a.slug}/keys/rotate"),
            ("PATCH", f"/api/v1/tenants/{a.slug}"),
        ):
            response = gw.http.request(
                method, path, headers={"Authorization": f"Bearer {credential}"}, json={"status": "active"}
            )
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["code"] == "unauthorized"


def test_token_of_a_deleted_tenant(gw: Gateway) -> None:
    tenant = gw.onboard()
    token = gw.mint(tenant)
    kid = header_of(token)["kid"]
    assert read(gw, tenant, token).status_code == 200
    assert gw.admin.delete(f"/api/v1/tenants/{tenant.slug}").status_code == 204
    deadline = time.monotonic() + 2
    while read(gw, tenant, token).status_code != 401 and time.monotonic() < deadline:
        time.sleep(0.05)
    response = read(gw, tenant, token)
    assert response.status_code == 401, response.text
    assert kid not in {key["kid"] for key in gw.jwks()["keys"]}
    # Its app can no longer authenticate.
    refusal = gw.token_request(tenant.app)
    assert refusal.status_code == 401 and refusal.json()["error"] == "invalid_client"


# ------------------------------------------------------------------------- issuer and audience


@pytest.fixture(scope="module")
def foreign_issuers(servers: Servers, gw: Gateway) -> dict[str, Gateway]:
    """Gateways on the same registry (same tenants, same keys) that stamp another `iss` or `aud`."""
    return {
        "issuer": servers.start(database_url=gw.database_url, GATEWAY_TOKEN_ISSUER="other-issuer"),
        "audience": servers.start(database_url=gw.database_url, GATEWAY_TOKEN_AUDIENCE="other-audience"),
    }


def test_genuinely_signed_token_with_another_issuer(gw: Gateway, foreign_issuers: dict[str, Gateway]) -> None:
    tenant = gw.onboard()
    other = foreign_issuers["issuer"]
    token = other.mint(tenant)
    assert claims_of(token)["iss"] == "other-issuer"
    assert header_of(token)["kid"] == gw.active_kid(tenant)  # the tenant's own key signed it
    assert other.dashboard(token, tenant.dashboard["id"]).status_code == 200
    assert_refused(gw.dashboard(token, tenant.dashboard["id"]), "wrong_issuer")
    # And the other way round.
    assert_refused(other.dashboard(gw.mint(tenant), tenant.dashboard["id"]), "wrong_issuer")


def test_genuinely_signed_token_for_another_audience(
    gw: Gateway, foreign_issuers: dict[str, Gateway]
) -> None:
    tenant = gw.onboard()
    other = foreign_issuers["audience"]
    token = other.mint(tenant)
    assert claims_of(token)["aud"] in ("other-audience", ["other-audience"])
    assert other.dashboard(token, tenant.dashboard["id"]).status_code == 200
    assert_refused(gw.dashboard(token, tenant.dashboard["id"]), "wrong_audience")
    assert_refused(other.dashboard(gw.mint(tenant), tenant.dashboard["id"]), "wrong_audience")


# ---------------------------------------------------------------------------- tenants and resources


def test_token_of_a_suspended_tenant(gw: Gateway) -> None:
    suspended, bystander = gw.onboard(), gw.onboard()
    token, other = gw.mint(suspended), gw.mint(bystander)
    assert read(gw, suspended, token).status_code == 200  # now cached as verified
    gw.set_tenant_status(suspended, "suspended")
    response = eventually(lambda: read(gw, suspended, token), lambda r: r.status_code != 200, within=2)
    assert_refused(response, "tenant_suspended")
    assert read(gw, bystander, other).status_code == 200


def test_dashboard_read_answer(gw: Gateway, a: Tenant, a_token: str) -> None:
    response = read(gw, a, a_token)
    assert response.status_code == 200, response.text
    body = response.json()
    dashboard = a.dashboard
    assert body["id"] == dashboard["id"] and body["uuid"] == dashboard["uuid"]
    assert body["title"] == "Sales" and body["layout"] == {"columns": 2}
    assert [(c["id"], c["uuid"], c["title"], c["viz_type"]) for c in body["charts"]] == [
        (c["id"], c["uuid"], c["title"], c["viz_type"]) for c in a.charts
    ]


def test_dashboard_matched_by_id_or_uuid(gw: Gateway, a: Tenant) -> None:
    for given in ("id", "uuid"):
        token = gw.mint(a, default_body(a, resources=[{"type": "dashboard", "id": a.dashboard[given]}]))
        for asked in ("id", "uuid"):
            response = gw.dashboard(token, a.dashboard[asked])
            assert response.status_code == 200, (given, asked, response.text)
            assert response.json()["uuid"] == a.dashboard["uuid"]


def test_token_of_tenant_a_asking_for_tenant_b_dashboard(
    gw: Gateway, a: Tenant, b: Tenant, a_token: str
) -> None:
    missing = assert_api_error(gw.dashboard(a_token, 987_654), 403, "resource_forbidden")
    for ref in (b.dashboard["id"], b.dashboard["uuid"], b.dashboards[1]["id"]):
        response = gw.dashboard(a_token, ref)
        error = assert_api_error(response, 403, "resource_forbidden")
        # Nothing of B's dashboard leaks, not even whether it exists: the refusal reads as for a
        # dashboard that does not exist at all (the requested reference aside).
        assert "Sales" not in response.text and "Other" not in response.text
        assert error["message"].replace(str(ref), "<ref>") == missing["message"].replace("987654", "<ref>")


def test_dashboards_outside_the_tokens_resources_are_forbidden(gw: Gateway, a: Tenant, a_token: str) -> None:
    assert_api_error(gw.dashboard(a_token, a.dashboards[1]["id"]), 403, "resource_forbidden")
    assert_api_error(gw.dashboard(a_token, a.dashboards[1]["uuid"]), 403, "resource_forbidden")
    chart_only = gw.mint(a, default_body(a, resources=[{"type": "chart", "id": a.charts[0]["id"]}]))
    assert_api_error(gw.dashboard(chart_only, a.dashboard["id"]), 403, "resource_forbidden")
    dataset_only = gw.mint(a, default_body(a, resources=[{"type": "dataset", "id": "orders"}]))
    assert_api_error(gw.dashboard(dataset_only, a.dashboard["id"]), 403, "resource_forbidden")


def test_a_missing_dashboard_is_forbidden_like_any_other(gw: Gateway, a: Tenant, a_token: str) -> None:
    for ref in (999_999, "00000000-0000-4000-8000-000000000000", "not-a-ref", "1%20OR%201=1"):
        assert_api_error(gw.dashboard(a_token, ref), 403, "resource_forbidden")


# ---------------------------------------------------------------------------------------- expiry


def test_expired_token(gw: Gateway, expiring: dict[str, Any]) -> None:
    """Last in the module. ttl=1 plus the verifier's small clock leeway (at most 10 s here)."""
    tenant, token = expiring["tenant"], expiring["token"]
    deadline = expiring["minted"] + 1 + 10 + 3
    response = eventually(
        lambda: read(gw, tenant, token),
        lambda r: r.status_code != 200,
        within=max(0.0, deadline - time.time()),
    )
    assert_refused(response, "token_expired")
