"""The JWKS document (`/.well-known/jwks.json`): what hosts and third parties verify guest tokens with."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway.tokens.keys import VerificationKey


def build_jwks(keys: Iterable[VerificationKey]) -> dict[str, list[dict[str, Any]]]:
    """Publish every active and retiring public key; retired keys and HS256 secrets are never listed.

    Keys are sorted by `kid` so the same key set always yields the same document (stable ETag and cache).
    """
    published = {
        key.kid: key.public_jwk for key in keys if key.public_jwk is not None and key.status != "retired"
    }
    return {"keys": [dict(published[kid]) for kid in sorted(published)]}
