"""Guest tokens: keys, minting, verification, the verified-token cache and revocation.

Layers, each calling only the one below: `keys` (pre-loaded key objects, pyjwt's algorithms) -> `jws`
(compact serialisation, signature) -> `claims` (the typed claim set) -> `mint` / `verify`.
Everything here is meant for one event loop's thread; nothing takes locks.

    signing_key = SigningKey.load(kid, "EdDSA", private_pem, tenant_id="acme")
    keyring = KeyRing(load_key_by_kid)                     # async registry lookup for unknown kids
    keyring.replace_tenant_keys("acme", [signing_key.verification_key("active")])
    revocations = RedisRevocationStore(redis, key_prefix="gw:", record_ttl=3610)
    await revocations.sync()
    verifier = TokenVerifier(keyring, audience="embedded-analytics", issuer="https://gw.example",
                             tenant_status=lambda tid: statuses.get(tid, "unknown"),
                             revocations=revocations)
    token = mint_guest_token(signing_key, issuer="https://gw.example", audience="embedded-analytics",
                             subject="alice", user=GuestUser("alice"), resources=[Resource("dashboard", "7")],
                             rls_rules=[], ttl=300).token
    claims = await verifier.verify_refreshing_keys(token)   # or verifier.verify(token): no I/O at all
"""

from gateway.tokens.claims import GuestClaims, GuestUser, Resource
from gateway.tokens.errors import TokenError
from gateway.tokens.jwks import build_jwks
from gateway.tokens.keyring import KeyRing
from gateway.tokens.keys import SigningKey, VerificationKey, generate_key
from gateway.tokens.mint import MintedToken, mint_guest_token
from gateway.tokens.revocation import (
    InProcessRevocationStore,
    RedisRevocationStore,
    RevocationRecord,
    RevocationStore,
)
from gateway.tokens.verify import TokenVerifier

__all__ = [
    "GuestClaims",
    "GuestUser",
    "InProcessRevocationStore",
    "KeyRing",
    "MintedToken",
    "RedisRevocationStore",
    "Resource",
    "RevocationRecord",
    "RevocationStore",
    "SigningKey",
    "TokenError",
    "TokenVerifier",
    "VerificationKey",
    "build_jwks",
    "generate_key",
    "mint_guest_token",
]
