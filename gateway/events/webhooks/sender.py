"""One delivery attempt: the signed POST of an event to a webhook, over the worker's one session.

The session never follows redirects (a 3xx is a failure, and following one could lead anywhere), never
reads proxy settings from the environment, and connects only to addresses `targets` has checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

import aiohttp
from yarl import URL

from gateway.bus.events import Event
from gateway.events.webhooks.signing import SIGNATURE_HEADER, signature_header
from gateway.events.webhooks.targets import CheckedResolver, TargetForbidden, check_literal_host
from tenants.store import Webhook

CONNECT_TIMEOUT_SECONDS: Final = 5.0
TOTAL_TIMEOUT_SECONDS: Final = 10.0
USER_AGENT: Final = "embed-gateway-webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to: a 2xx, a retryable failure, or a target that must never be tried."""

    succeeded: bool
    status: int | None = None  # the HTTP status, when the endpoint answered
    error: str | None = None  # the exception class, when it did not (timeouts, refused connections)
    forbidden: str | None = None  # why the target may not be reached: permanent

    def describe(self) -> str:
        if self.forbidden is not None:
            return f"target forbidden: {self.forbidden}"
        return f"HTTP {self.status}" if self.status is not None else f"{self.error}"


class WebhookSender:
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        """Open the session (it needs the running loop, so not in __init__)."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=CheckedResolver(allow_private=self._allow_private)),
            timeout=aiohttp.ClientTimeout(
                total=TOTAL_TIMEOUT_SECONDS,
                connect=CONNECT_TIMEOUT_SECONDS,
                sock_connect=CONNECT_TIMEOUT_SECONDS,
            ),
            headers={"User-Agent": USER_AGENT},
            trust_env=False,
        )

    async def send(self, webhook: Webhook, event: Event) -> Attempt:
        assert self._session is not None, "open() first"
        body = event.to_json().encode()
        headers = {
            "Content-Type": "application/json",
            "X-Gateway-Event-Id": event.id,
            "X-Gateway-Event-Type": event.type,
            SIGNATURE_HEADER: signature_header(webhook.secret, body, int(time.time())),
        }
        try:
            check_literal_host(URL(webhook.url).host or "", allow_private=self._allow_private)
            async with self._session.post(
                webhook.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                return Attempt(succeeded=200 <= response.status < 300, status=response.status)
        except TargetForbidden as refused:
            return Attempt(succeeded=False, forbidden=refused.reason)
        except (TimeoutError, aiohttp.ClientError, ValueError) as error:
            return Attempt(succeeded=False, error=type(error).__name__)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
