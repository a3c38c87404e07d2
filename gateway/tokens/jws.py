"""JWS compact serialisation: the layer between key objects (`keys`) and guest-token claims (`claims`).

Parsing is strict (canonical unpadded base64url, exactly three segments, no `crit` extensions): a signed
token has exactly one accepted spelling, so no altered twin of it verifies. The header is parsed once,
here; the payload is decoded only after its signature has been checked.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from typing import Any, Final

from gateway.tokens.errors import MalformedToken
from gateway.tokens.keys import Algorithm, SigningKey, VerificationKey

MAX_TOKEN_BYTES: Final = 8 * 1024
"""Tokens above this are refused unparsed by the verifier, and never produced by the minter."""


@dataclass(frozen=True, slots=True)
class CompactJws:
    """A token split and its header decoded; nothing in it is trusted until `verify_signature` says so."""

    algorithm: str
    kid: str
    signing_input: bytes
    payload_segment: bytes
    signature: bytes


def _b64url_encode(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _b64url_decode(segment: bytes) -> bytes:
    """Decode unpadded base64url, refusing any non-canonical spelling (stray characters, spare bits)."""
    try:
        decoded = base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as error:
        raise MalformedToken() from error
    if _b64url_encode(decoded) != segment:
        raise MalformedToken()
    return decoded


def _refuse_non_finite(constant: str) -> None:
    # Python's json accepts NaN and Infinity, which are not JSON and would defeat `exp` comparisons.
    raise MalformedToken()


def _json_object(segment: bytes) -> dict[str, Any]:
    try:
        value = json.loads(_b64url_decode(segment), parse_constant=_refuse_non_finite)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; a few KiB of `[[[[` nest past the stack.
    except (ValueError, RecursionError) as error:
        raise MalformedToken() from error
    if not isinstance(value, dict):
        raise MalformedToken()
    return value


def parse_compact(token: bytes) -> CompactJws:
    """Split `token` and decode its header; `alg` and `kid` must be strings and `crit` must be absent."""
    segments = token.split(b".")
    if len(segments) != 3:
        raise MalformedToken()
    header_segment, payload_segment, signature_segment = segments
    header = _json_object(header_segment)
    algorithm, kid = header.get("alg"), header.get("kid")
    # We implement no JWS extension, so RFC 7515 4.1.11 obliges us to refuse any `crit` header.
    if not isinstance(algorithm, str) or not isinstance(kid, str) or "crit" in header:
        raise MalformedToken()
    return CompactJws(
        algorithm=algorithm,
        kid=kid,
        signing_input=token[: len(header_segment) + 1 + len(payload_segment)],
        payload_segment=payload_segment,
        signature=_b64url_decode(signature_segment),
    )


def verify_signature(jws: CompactJws, key: VerificationKey) -> bool:
    """Check the signature with `key`'s own algorithm; the caller has already pinned `jws.algorithm` to it."""
    return key.verify(jws.signing_input, jws.signature)


def decode_payload(jws: CompactJws) -> dict[str, Any]:
    """The payload as a JSON object; call only after `verify_signature`."""
    return _json_object(jws.payload_segment)


@functools.lru_cache(maxsize=1024)
def _header_segment(algorithm: Algorithm, kid: str) -> bytes:
    # A key's header never changes, so it is serialised once per key rather than once per token.
    header = {"alg": algorithm, "kid": kid, "typ": "JWT"}
    return _b64url_encode(json.dumps(header, separators=(",", ":")).encode())


def sign_compact(payload: dict[str, Any], key: SigningKey) -> str:
    """Serialise and sign `payload` with `key`, naming the key's `kid` and algorithm in the header."""
    payload_segment = _b64url_encode(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = _header_segment(key.algorithm, key.kid) + b"." + payload_segment
    return (signing_input + b"." + _b64url_encode(key.sign(signing_input))).decode("ascii")
