"""Where deliveries may connect: the delivery-time half of the server-side request forgery guard.

The onboarding API refuses internal targets when a webhook is registered (`gateway.http.outbound`),
but a public name can be pointed at an internal address afterwards. So every address is checked
again when a delivery connects: the session resolves names through `CheckedResolver`, which hands
the connector only addresses it has checked (a second DNS answer can never slip in between the check
and the connection), and hosts written as IP addresses, which aiohttp never resolves, are checked by
`check_literal_host` before the request.
"""

from __future__ import annotations

import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from gateway.http.outbound import forbidden_address_reason


class TargetForbidden(Exception):
    """The target resolves to an address webhooks may not reach; permanent, never retried."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} is {reason}")
        self.host = host
        self.reason = reason


def check_literal_host(host: str, *, allow_private: bool) -> None:
    """Refuse a host written as a forbidden IP address; names are left to `CheckedResolver`."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return
    if not allow_private and (reason := forbidden_address_reason(address)) is not None:
        raise TargetForbidden(host, reason)


class CheckedResolver(AbstractResolver):
    """The system resolver, refusing any name with an answer webhooks may not reach.

    One forbidden address refuses the whole name rather than being skipped: a name that mixes
    public and internal answers is how DNS rebinding starts.
    """

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._resolver = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        answers = await self._resolver.resolve(host, port, family)
        if not self._allow_private:
            for answer in answers:
                reason = forbidden_address_reason(ipaddress.ip_address(answer["host"]))
                if reason is not None:
                    raise TargetForbidden(host, reason)
        return answers

    async def close(self) -> None:
        await self._resolver.close()
