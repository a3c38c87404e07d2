"""Encryption at rest for what the registry must be able to read back: private signing keys,
warehouse passwords and replayable idempotent responses.

Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from GATEWAY_SECRET_KEY with HKDF, so the
operator's secret can be any long random string and is never used as a key directly.
"""

from __future__ import annotations

import base64
from typing import Final

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from tenants.errors import RegistryError

_VERSION_PREFIX: Final = "v1:"
_HKDF_INFO: Final = b"embed-gateway registry at-rest encryption v1"


class DecryptionError(RegistryError):
    """Stored ciphertext cannot be read with the configured GATEWAY_SECRET_KEY."""

    code = "secret_key_mismatch"


class SecretBox:
    __slots__ = ("_fernet",)

    def __init__(self, secret: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def encrypt(self, plaintext: bytes) -> str:
        return _VERSION_PREFIX + self._fernet.encrypt(plaintext).decode("ascii")

    def decrypt(self, ciphertext: str) -> bytes:
        if not ciphertext.startswith(_VERSION_PREFIX):
            raise DecryptionError("unknown ciphertext format")
        try:
            return self._fernet.decrypt(ciphertext[len(_VERSION_PREFIX) :].encode("ascii"))
        except InvalidToken:
            raise DecryptionError(
                "stored secret cannot be decrypted: GATEWAY_SECRET_KEY is not the key it was written with"
            ) from None

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
