"""Signing-key material: generation and serialisation for the algorithms a tenant may choose.

Asymmetric keys are the default because their public half can be published (JWKS) and checked by
anyone without being able to mint; HS256 exists only for tenants that need Superset-style shared secrets.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import Algorithm as PyJWTAlgorithm
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

Algorithm = Literal["EdDSA", "ES256", "RS256", "HS256"]
ALGORITHMS: Final[tuple[Algorithm, ...]] = ("EdDSA", "ES256", "RS256", "HS256")
ASYMMETRIC_ALGORITHMS: Final[frozenset[str]] = frozenset({"EdDSA", "ES256", "RS256"})
DEFAULT_ALGORITHM: Final[Algorithm] = "EdDSA"

_HS256_SECRET_BYTES = 64
_RSA_KEY_BITS = 3072

# pyjwt's algorithm objects, looked up once: signing and verifying then cost no dictionary rebuild.
_PYJWT_ALGORITHMS: Final[dict[str, PyJWTAlgorithm]] = {
    name: algorithm for name, algorithm in get_default_algorithms().items() if name in ALGORITHMS
}


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    """A new key: `private` is PEM (PKCS#8) for asymmetric keys, the raw secret for HS256."""

    kid: str
    algorithm: Algorithm
    public_jwk: dict[str, Any] | None
    private: bytes


def new_kid() -> str:
    return secrets.token_urlsafe(16)


def generate_key(algorithm: Algorithm = DEFAULT_ALGORITHM) -> GeneratedKey:
    """Create a fresh key for `algorithm` with a random `kid`; HS256 keys have no public JWK."""
    kid = new_kid()
    if algorithm == "HS256":
        return GeneratedKey(kid, algorithm, None, secrets.token_bytes(_HS256_SECRET_BYTES))
    private_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if algorithm == "EdDSA":
        private_key = ed25519.Ed25519PrivateKey.generate()
        jwk = json.loads(OKPAlgorithm.to_jwk(private_key.public_key()))
    elif algorithm == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
        jwk = json.loads(ECAlgorithm.to_jwk(private_key.public_key()))
    elif algorithm == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_KEY_BITS)
        jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    else:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return GeneratedKey(kid, algorithm, jwk, pem)


# --- Loaded keys: the algorithm layer the JWS code signs and verifies with --------------------------------

KeyStatus = Literal["active", "retiring", "retired"]
"""`active` signs and verifies; `retiring` only verifies (its tokens are still live); `retired` refuses."""

KEY_STATUSES: Final[frozenset[str]] = frozenset({"active", "retiring", "retired"})

# RFC 7518 3.2: an HMAC key must be at least as long as the hash output.
_HS256_MIN_SECRET_BYTES = 32
_RSA_MIN_KEY_BITS = 2048

_PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey
_PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey

# The JWK `kty` (and `crv`) each algorithm accepts; anything else is refused rather than guessed.
_JWK_SHAPES: Final[dict[str, tuple[str, str | None]]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
    "RS256": ("RSA", None),
}


def _pyjwt_algorithm(algorithm: str) -> PyJWTAlgorithm:
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported signing algorithm {algorithm!r}")
    return _PYJWT_ALGORITHMS[algorithm]


def _check_key_fits_algorithm(key: _PublicKey | _PrivateKey, algorithm: str) -> None:
    """Refuse a key whose type or strength does not match `algorithm` (e.g. an RSA key for EdDSA)."""
    if algorithm == "EdDSA":
        fits = isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey)
    elif algorithm == "ES256":
        fits = isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) and isinstance(
            key.curve, ec.SECP256R1
        )
    elif algorithm == "RS256":
        fits = isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey) and key.key_size >= _RSA_MIN_KEY_BITS
    else:
        fits = False
    if not fits:
        raise ValueError(f"key does not fit algorithm {algorithm!r}")


def _check_secret(secret: bytes) -> None:
    if len(secret) < _HS256_MIN_SECRET_BYTES:
        raise ValueError(f"an HS256 secret needs at least {_HS256_MIN_SECRET_BYTES} bytes")


def _check_status(status: str) -> None:
    if status not in KEY_STATUSES:
        raise ValueError(f"unknown key status {status!r}")


def _public_jwk(public_key: _PublicKey, *, kid: str, algorithm: Algorithm) -> dict[str, Any]:
    """The JWK a third party verifies with, rebuilt from the key itself so no stray member is published."""
    jwk = _pyjwt_algorithm(algorithm).to_jwk(public_key, as_dict=True)
    assert isinstance(jwk, dict)
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    return jwk


@dataclass(frozen=True, slots=True, eq=False)
class VerificationKey:
    """A tenant's key as the verifier needs it: pre-loaded, so checking a signature parses nothing."""

    kid: str
    tenant_id: str
    algorithm: Algorithm
    status: KeyStatus
    public_jwk: dict[str, Any] | None = field(repr=False)
    """What JWKS publishes; `None` for HS256, whose secret is never published."""
    _material: _PublicKey | bytes = field(repr=False)

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any], *, tenant_id: str, status: KeyStatus) -> VerificationKey:
        """Load a public asymmetric JWK (`alg` and `kid` required); private or `oct` JWKs are refused."""
        _check_status(status)
        algorithm, kid = jwk.get("alg"), jwk.get("kid")
        if algorithm not in _JWK_SHAPES or not isinstance(kid, str) or not kid:
            raise ValueError("a verification JWK needs an asymmetric `alg` and a `kid`")
        if "d" in jwk:
            raise ValueError("a verification JWK must not hold private key material")
        kty, crv = _JWK_SHAPES[algorithm]
        if jwk.get("kty") != kty or (crv is not None and jwk.get("crv") != crv):
            raise ValueError(f"JWK type does not fit algorithm {algorithm!r}")
        public_key = _pyjwt_algorithm(algorithm).from_jwk(jwk)
        _check_key_fits_algorithm(public_key, algorithm)
        return cls(
            kid,
            tenant_id,
            algorithm,
            status,
            _public_jwk(public_key, kid=kid, algorithm=algorithm),
            public_key,
        )

    @classmethod
    def from_secret(cls, kid: str, secret: bytes, *, tenant_id: str, status: KeyStatus) -> VerificationKey:
        """An HS256 key: the tenant's shared secret (at least 32 bytes)."""
        _check_status(status)
        _check_secret(secret)
        return cls(kid, tenant_id, "HS256", status, None, bytes(secret))

    def with_status(self, status: KeyStatus) -> VerificationKey:
        _check_status(status)
        return VerificationKey(
            self.kid, self.tenant_id, self.algorithm, status, self.public_jwk, self._material
        )

    def verify(self, signing_input: bytes, signature: bytes) -> bool:
        """Whether `signature` is this key's signature of `signing_input`, with this key's own algorithm."""
        return _PYJWT_ALGORITHMS[self.algorithm].verify(signing_input, self._material, signature)


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """A tenant's private key (or HS256 secret), pre-loaded for signing."""

    kid: str
    tenant_id: str
    algorithm: Algorithm
    _material: _PrivateKey | bytes = field(repr=False)

    @classmethod
    def load(cls, kid: str, algorithm: Algorithm, private: bytes, *, tenant_id: str) -> SigningKey:
        """Load `private` as `GeneratedKey` holds it: PKCS#8 PEM, or the raw secret for HS256."""
        if algorithm == "HS256":
            _check_secret(private)
            return cls(kid, tenant_id, algorithm, bytes(private))
        _pyjwt_algorithm(algorithm)
        private_key = serialization.load_pem_private_key(private, password=None)
        if not isinstance(private_key, _PrivateKey):
            raise ValueError(f"key does not fit algorithm {algorithm!r}")
        _check_key_fits_algorithm(private_key, algorithm)
        return cls(kid, tenant_id, algorithm, private_key)

    @classmethod
    def from_generated(cls, generated: GeneratedKey, *, tenant_id: str) -> SigningKey:
        return cls.load(generated.kid, generated.algorithm, generated.private, tenant_id=tenant_id)

    def sign(self, signing_input: bytes) -> bytes:
        return _PYJWT_ALGORITHMS[self.algorithm].sign(signing_input, self._material)

    def verification_key(self, status: KeyStatus = "active") -> VerificationKey:
        """The key that verifies this key's signatures (the public half, or the same HS256 secret)."""
        if isinstance(self._material, bytes):
            return VerificationKey.from_secret(
                self.kid, self._material, tenant_id=self.tenant_id, status=status
            )
        _check_status(status)
        public_key = self._material.public_key()
        jwk = _public_jwk(public_key, kid=self.kid, algorithm=self.algorithm)
        return VerificationKey(self.kid, self.tenant_id, self.algorithm, status, jwk, public_key)
