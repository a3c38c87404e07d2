"""App (OAuth2 client) credentials: generation, storage as a hash, constant-time checking.

Client secrets are 256 random bits, so a single SHA-256 is as strong as a slow password hash here
and keeps the token endpoint fast; the secret itself is shown once, at creation, and never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

_SCHEME: Final = "sha256$"


def new_client_id() -> str:
    return "app_" + secrets.token_urlsafe(12)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_client_secret(secret: str) -> str:
    return _SCHEME + hashlib.sha256(secret.encode()).hexdigest()


def client_secret_matches(secret: str, stored_hash: str) -> bool:
    if not stored_hash.startswith(_SCHEME):
        return False
    return hmac.compare_digest(hash_client_secret(secret), stored_hash)
