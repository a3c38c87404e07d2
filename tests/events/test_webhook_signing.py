"""The delivery signature, checked with the recipe README.md gives receivers."""

from __future__ import annotations

import time

import pytest

from gateway.events.webhooks.signing import signature_header
from tests.events.webhook_receivers import readme_verifier

SECRET = "whsec_" + "k" * 8 + "0123456789abcdef"
BODY = b'{"id":"18a-1","payload":{"rows":3},"tenant":"t1","time":1.5,"type":"data.query","version":1}'

verify_webhook = readme_verifier()


def test_a_signed_body_verifies() -> None:
    assert verify_webhook(SECRET, BODY, signature_header(SECRET, BODY, int(time.time())))


@pytest.mark.parametrize(
    "tampered",
    [
        BODY.replace(b'"rows":3', b'"rows":4'),
        BODY.replace(b'"tenant":"t1"', b'"tenant":"t2"'),
        BODY + b" ",
        b"",
    ],
)
def test_a_tampered_body_fails(tampered: bytes) -> None:
    assert not verify_webhook(SECRET, tampered, signature_header(SECRET, BODY, int(time.time())))


def test_a_changed_timestamp_fails() -> None:
    now = int(time.time())
    signature = signature_header(SECRET, BODY, now)
    assert not verify_webhook(SECRET, BODY, signature.replace(f"t={now}", f"t={now + 1}"))


def test_an_old_signature_is_refused_as_a_replay() -> None:
    ten_minutes_ago = int(time.time()) - 600
    assert not verify_webhook(SECRET, BODY, signature_header(SECRET, BODY, ten_minutes_ago))
    assert verify_webhook(
        SECRET, BODY, signature_header(SECRET, BODY, ten_minutes_ago), tolerance_seconds=900
    )


def test_another_secret_fails() -> None:
    assert not verify_webhook(SECRET, BODY, signature_header(SECRET + "x", BODY, int(time.time())))


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=abc,v1=00", "v1=00", f"t={int(time.time())}", f"t={int(time.time())},v1=\u00e9"],
)
def test_a_malformed_header_fails(header: str) -> None:
    assert not verify_webhook(SECRET, BODY, header)


def test_the_header_is_timestamp_then_hex_mac() -> None:
    header = signature_header(SECRET, BODY, 1_700_000_000)
    t, v1 = header.split(",")
    assert t == "t=1700000000"
    assert v1.startswith("v1=") and len(v1) == 3 + 64 and int(v1[3:], 16) >= 0
