"""Signing keys: JWKS verification by plain pyjwt, per-tenant algorithms, rotation over HTTP and on the
command line, and retirement."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest

from tests.support.gateways import gateway_env
from tests.support.guests import (
    AUDIENCE,
    ISSUER,
    Gateway,
    Servers,
    Tenant,
    claims_of,
    default_body,
    header_of,
    verify_with_jwks,
)
from tests.support.services import ADMIN_TOKEN

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}
KTY = {"EdDSA": "OKP", "ES256": "EC", "RS256": "RSA"}


def jwks_kids(gw: Gateway) -> set[str]:
    return {key["kid"] for key in gw.jwks()["keys"]}


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_third_party_verifies_through_jwks(gw: Gateway, algorithm: str) -> None:
    tenant = gw.onboard(algorithm=algorithm)
    token = gw.mint(tenant, default_body(tenant, "third-party"))
    header = header_of(token)
    assert header["alg"] == algorithm and header["kid"] == gw.active_kid(tenant)
    response = gw.http.get("/.well-known/jwks.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    jwks = response.json()
    published = {key["kid"]: key for key in jwks["keys"]}
    assert published[header["kid"]]["kty"] == KTY[algorithm]
    # Exactly as a host would do it, with nothing but pyjwt.
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    payload = jwt.decode(token, key, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER)
    assert payload["sub"] == "third-party" and payload["tid"] == tenant.id and payload["type"] == "guest"
    # A third party relying on the JWKS also detects a tampered token.
    tampered = claims_of(token) | {"sub": "admin"}
    head, _, signature = token.split(".")
    forged = ".".join((head, jwt.utils.base64url_encode(json.dumps(tampered).encode()).decode(), signature))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=[algorithm], audience=AUDIENCE, issuer=ISSUER)
    # And the gateway accepts its own token.
    assert gw.dashboard(token, tenant.dashboard["id"]).status_code == 200


def test_jwks_holds_public_keys_of_every_tenant_and_no_secret(gw: Gateway) -> None:
    tenants = [gw.onboard(algorithm=algorithm) for algorithm in ("EdDSA", "ES256", "RS256")]
    hs256 = gw.onboard(algorithm="HS256")
    jwks = gw.jwks()
    assert set(jwks) == {"keys"}
    kids = {key["kid"] for key in jwks["keys"]}
    for tenant in tenants:
        assert gw.active_kid(tenant) in kids
    assert gw.active_kid(hs256) not in kids
    for key in jwks["keys"]:
        assert key["kty"] in ("OKP", "EC", "RSA"), key
        assert not PRIVATE_JWK_MEMBERS & set(key), f"private material published: {sorted(key)}"
        assert key.get("alg") in ("EdDSA", "ES256", "RS256")
    # Every published key loads as a public key.
    for key in jwt.PyJWKSet.from_dict(jwks).keys:
        assert not hasattr(key.key, "private_bytes")


def test_hs256_tenant_mints_tokens_only_the_gateway_can_verify(gw: Gateway) -> None:
    tenant = gw.onboard(algorithm="HS256")
    token = gw.mint(tenant)
    header = header_of(token)
    assert header["alg"] == "HS256" and header["kid"] == gw.active_kid(tenant)
    assert header["kid"] not in jwks_kids(gw)
    assert gw.dashboard(token, tenant.dashboard["id"]).status_code == 200
    # The key listing must not reveal the shared secret either.
    listed = json.dumps(gw.keys(tenant))
    assert '"k"' not in listed


def rotate(gw: Gateway, tenant: Tenant, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = (
        gw.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate", json=body)
        if body
        else gw.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate")
    )
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    return key


def statuses(gw: Gateway, tenant: Tenant) -> dict[str, str]:
    return {key["kid"]: key["status"] for key in gw.keys(tenant)}


def test_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(gw: Gateway) -> None:
    tenant = gw.onboard()
    old_kid = gw.active_kid(tenant)
    old_token = gw.mint(tenant, default_body(tenant, "before"))
    assert gw.dashboard(old_token, tenant.dashboard["id"]).status_code == 200  # cached as verified

    new = rotate(gw, tenant)
    assert new["status"] == "active" and new["algorithm"] == "EdDSA" and new["kid"] != old_kid
    assert statuses(gw, tenant) == {old_kid: "retiring", new["kid"]: "active"}
    kids = jwks_kids(gw)
    assert {old_kid, new["kid"]} <= kids

    new_token = gw.mint(tenant, default_body(tenant, "after"))
    assert header_of(new_token)["kid"] == new["kid"]
    jwks = gw.jwks()
    assert verify_with_jwks(jwks, new_token)["sub"] == "after"
    assert verify_with_jwks(jwks, old_token)["sub"] == "before"
    for token in (old_token, new_token):
        read = gw.dashboard(token, tenant.dashboard["id"])
        assert read.status_code == 200, read.text


def test_rotation_to_another_algorithm(gw: Gateway) -> None:
    tenant = gw.onboard()
    old_token = gw.mint(tenant)
    new = rotate(gw, tenant, {"algorithm": "ES256"})
    assert new["algorithm"] == "ES256" and new["status"] == "active"
    token = gw.mint(tenant)
    assert header_of(token)["alg"] == "ES256" and header_of(token)["kid"] == new["kid"]
    assert verify_with_jwks(gw.jwks(), token)["tid"] == tenant.id
    assert gw.dashboard(token, tenant.dashboard["id"]).status_code == 200
    assert gw.dashboard(old_token, tenant.dashboard["id"]).status_code == 200

    third = rotate(gw, tenant, {"algorithm": "RS256"})
    assert third["algorithm"] == "RS256"
    assert header_of(gw.mint(tenant))["alg"] == "RS256"
    # Every key that may still have live tokens is published.
    assert {k for k, s in statuses(gw, tenant).items() if s != "retired"} <= jwks_kids(gw)


def test_rotation_requires_the_admin_token(gw: Gateway) -> None:
    tenant = gw.onboard()
    before = statuses(gw, tenant)
    access = gw.access_token(tenant.app)
    for headers in ({}, {"Authorization": f"Bearer {access}"}, {"Authorization": "Bearer wrong"}):
        response = gw.http.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "unauthorized"
    assert statuses(gw, tenant) == before


def test_rotation_of_an_unknown_tenant_is_404(gw: Gateway) -> None:
    assert gw.admin.post("/api/v1/tenants/no-such-tenant/keys/rotate").status_code == 404


def test_rotation_from_the_command_line_reaches_the_running_gateway(gw: Gateway) -> None:
    tenant = gw.onboard()
    old_kid = gw.active_kid(tenant)
    old_token = gw.mint(tenant)
    env = gateway_env(
        gw.database_url, REDIS_URL=gw.process.env["REDIS_URL"], GATEWAY_REDIS_PREFIX=gw.redis_prefix
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "tenants", "keys", "rotate", tenant.slug],
        cwd=gw.process.cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["status"] == "active" and printed["kid"] != old_kid
    assert not PRIVATE_JWK_MEMBERS & set(printed.get("public_jwk") or {})
    assert "PRIVATE KEY" not in result.stdout
    assert statuses(gw, tenant) == {old_kid: "retiring", printed["kid"]: "active"}
    # The running gateway learns of the rotation (config event or registry read) within a few seconds.
    deadline = time.monotonic() + 5
    while header_of(gw.mint(tenant))["kid"] != printed["kid"] and time.monotonic() < deadline:
        time.sleep(0.2)
    token = gw.mint(tenant)
    assert header_of(token)["kid"] == printed["kid"]
    assert printed["kid"] in jwks_kids(gw)
    assert gw.dashboard(token, tenant.dashboard["id"]).status_code == 200
    assert gw.dashboard(old_token, tenant.dashboard["id"]).status_code == 200
    assert ADMIN_TOKEN not in result.stdout


def test_cli_rotation_of_an_unknown_tenant_fails(gw: Gateway) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "tenants", "keys", "rotate", "no-such-tenant"],
        cwd=gw.process.cwd,
        env=gateway_env(gw.database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0


@pytest.mark.parametrize("algorithm", ["none", "HS512", "PS256", "RS384", "eddsa", ""])
def test_rotation_to_an_unsupported_algorithm_is_refused(gw: Gateway, algorithm: str) -> None:
    tenant = gw.onboard()
    before = statuses(gw, tenant)
    response = gw.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate", json={"algorithm": algorithm})
    assert response.status_code == 422, response.text
    assert statuses(gw, tenant) == before
    assert header_of(gw.mint(tenant))["alg"] == "EdDSA"


def test_key_listing_reveals_no_private_material(gw: Gateway) -> None:
    for algorithm in ("EdDSA", "ES256", "RS256", "HS256"):
        tenant = gw.onboard(algorithm=algorithm)
        rotate(gw, tenant)
        for key in gw.keys(tenant):
            assert key["algorithm"] == algorithm
            jwk = key.get("public_jwk") or {}
            assert not PRIVATE_JWK_MEMBERS & set(jwk), (algorithm, sorted(jwk))
            text = json.dumps(key).lower()
            assert "private" not in text and "secret" not in text, key


def test_private_keys_are_encrypted_at_rest(gw: Gateway) -> None:
    for algorithm in ("EdDSA", "ES256", "RS256"):
        gw.onboard(algorithm=algorithm)
    database = Path(urlsplit(gw.database_url).path)
    stored = b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))
    assert b"kid" in stored or b"OKP" in stored  # the right file was read
    assert b"PRIVATE KEY" not in stored
    assert b'"d":' not in stored and b'"d": ' not in stored


def test_concurrent_rotations_leave_exactly_one_active_key(servers: Servers, database_url: str) -> None:
    """On each registry backend: rotations racing each other still leave one active key."""
    gw = servers.start(database_url=database_url)
    tenant = gw.onboard()
    first_kid = gw.active_kid(tenant)
    answers: list[int] = []

    def rotate_once() -> None:
        with gw.process.client() as own:
            answers.append(own.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate").status_code)

    threads = [threading.Thread(target=rotate_once) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(answers) <= {201, 409}, answers
    assert 201 in answers
    keys = statuses(gw, tenant)
    active = [kid for kid, status in keys.items() if status == "active"]
    assert len(active) == 1, keys
    assert keys[first_kid] == "retiring"
    assert len(keys) == 1 + answers.count(201)
    assert header_of(gw.mint(tenant))["kid"] == active[0]
    assert set(keys) <= jwks_kids(gw)


def test_rotation_of_an_hs256_tenant(gw: Gateway) -> None:
    tenant = gw.onboard(algorithm="HS256")
    old_kid = gw.active_kid(tenant)
    old_token = gw.mint(tenant)
    same = rotate(gw, tenant)
    assert same["algorithm"] == "HS256" and same["kid"] != old_kid
    hs_token = gw.mint(tenant)
    assert header_of(hs_token) | {"typ": "JWT"} == {"alg": "HS256", "kid": same["kid"], "typ": "JWT"}
    assert not {old_kid, same["kid"]} & jwks_kids(gw)
    # Moving the tenant to an asymmetric key publishes that key; the HS256 tokens keep working.
    switched = rotate(gw, tenant, {"algorithm": "EdDSA"})
    token = gw.mint(tenant)
    assert header_of(token)["kid"] == switched["kid"] and switched["kid"] in jwks_kids(gw)
    assert verify_with_jwks(gw.jwks(), token)["tid"] == tenant.id
    for live in (old_token, hs_token, token):
        response = gw.dashboard(live, tenant.dashboard["id"])
        assert response.status_code == 200, response.text
