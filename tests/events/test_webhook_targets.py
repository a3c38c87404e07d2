"""Webhook targets inside the gateway's network are never connected to, whatever the URL looks like.

Each attack is a real delivery attempt through the real sender at a real receiver listening on the
loopback: refused targets must leave the receiver without a single request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.bus.events import Event
from gateway.events.webhooks.sender import WebhookSender
from tenants.store import Webhook
from tests.events.webhook_receivers import Receiver
from tests.support.services import free_port

pytestmark = pytest.mark.anyio

EVENT = Event("token.minted", "t1", {"sub": "alice"})


def webhook(url: str) -> Webhook:
    return Webhook(id=1, tenant_id="t1", url=url, event_types=("*",), secret="s" * 32, enabled=True)


@pytest.fixture
async def guarded() -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(allow_private=False)
    await sender.open()
    yield sender
    await sender.aclose()


@pytest.fixture
async def permissive() -> AsyncIterator[WebhookSender]:
    sender = WebhookSender(allow_private=True)
    await sender.open()
    yield sender
    await sender.aclose()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/hook", "a loopback address"),
        ("http://localhost:{port}/hook", "a loopback address"),  # a name: refused after resolving it
        ("http://[::1]:{port}/hook", "a loopback address"),
        ("http://[::ffff:127.0.0.1]:{port}/hook", "a loopback address"),
        ("http://0.0.0.0:{port}/hook", "an unspecified address"),
    ],
)
async def test_loopback_receivers_are_never_reached(guarded: WebhookSender, url: str, reason: str) -> None:
    with Receiver() as receiver:
        attempt = await guarded.send(webhook(url.format(port=receiver.port)), EVENT)
        assert not attempt.succeeded
        assert attempt.forbidden == reason
        assert receiver.requests == []


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[fe80::1]/", "a link-local address"),
        ("http://10.0.0.1/", "a private address"),
        ("http://172.16.5.4/", "a private address"),
        ("http://192.168.1.1/", "a private address"),
        ("http://[fd00::1]/", "a private address"),
        ("http://[::ffff:10.0.0.1]/", "a private address"),
        ("http://100.64.0.1/", "a carrier-grade NAT address"),
        ("http://224.0.0.1/", "a multicast address"),
        ("http://240.0.0.1/", "a private address"),
        # IPv6 forms a NAT64 or SIIT gateway translates to the IPv4 address in their last 32 bits.
        ("http://[64:ff9b::a9fe:a9fe]/", "a link-local address"),
        ("http://[64:ff9b::a00:5]/", "a private address"),
        ("http://[64:ff9b:1::a00:5]/", "a private address"),
        ("http://[::ffff:0:a00:5]/", "a private address"),
        ("http://[::a00:5]/", "a private address"),
        ("http://[fec0::1]/", "a reserved address"),
        ("http://192.0.0.8/", "a reserved address"),
    ],
)
async def test_internal_addresses_are_refused_before_connecting(
    guarded: WebhookSender, url: str, reason: str
) -> None:
    attempt = await guarded.send(webhook(url), EVENT)
    assert (attempt.succeeded, attempt.forbidden, attempt.status) == (False, reason, None)


async def test_allowing_private_targets_delivers_to_them(permissive: WebhookSender) -> None:
    with Receiver() as receiver:
        attempt = await permissive.send(webhook(f"http://localhost:{receiver.port}/hook"), EVENT)
        assert attempt.succeeded and attempt.status == 200
        (received,) = receiver.requests
        assert received.body == EVENT.to_json().encode()
        assert received.headers["X-Gateway-Event-Id"] == EVENT.id


async def test_redirects_are_not_followed(permissive: WebhookSender) -> None:
    with Receiver((302,)) as receiver:
        attempt = await permissive.send(webhook(receiver.url), EVENT)
        assert (attempt.succeeded, attempt.status) == (False, 302)
        assert [r.path for r in receiver.requests] == ["/hook"], "the Location was not visited"


async def test_failures_say_what_happened(permissive: WebhookSender) -> None:
    with Receiver((503,)) as receiver:
        answered = await permissive.send(webhook(receiver.url), EVENT)
    refused = await permissive.send(webhook(f"http://127.0.0.1:{free_port()}/hook"), EVENT)

    assert (answered.succeeded, answered.status, answered.error) == (False, 503, None)
    assert (refused.succeeded, refused.status, refused.forbidden) == (False, None, None)
    assert refused.error == "ClientConnectorError"
