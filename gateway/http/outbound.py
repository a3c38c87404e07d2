"""Where webhooks may be delivered: the server-side request forgery guard of both planes.

The onboarding API checks a target URL when it is registered (`check_webhook_url`); the delivery
worker checks every address the host resolves to just before connecting (`forbidden_address_reason`),
because a public name can be pointed at an internal address after registration. Both accept
internal targets only when the operator set GATEWAY_WEBHOOK_ALLOW_PRIVATE.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Final
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_WEBHOOK_URL_LENGTH: Final = 2048
# RFC 6598 shared address space: not "private" to the ipaddress module, yet internal to a provider.
_CARRIER_GRADE_NAT: Final = ipaddress.IPv4Network("100.64.0.0/10")
# RFC 6890: some of it counts as global to the ipaddress module (192.0.0.9, 192.0.0.10), none is a target.
_IETF_PROTOCOL_ASSIGNMENTS: Final = ipaddress.IPv4Network("192.0.0.0/24")


# IPv6 prefixes whose last 32 bits are an IPv4 address that gateways (NAT64, SIIT) translate to:
# judged by that address. RFC 6052, RFC 8215, RFC 2765, and the deprecated IPv4-compatible form.
_IPV4_TRANSLATING: Final = tuple(
    ipaddress.IPv6Network(prefix) for prefix in ("64:ff9b::/96", "64:ff9b:1::/48", "::ffff:0:0:0/96", "::/96")
)
# Only global unicast IPv6 is ever a public target (site-local fec0::/10 and the rest are not).
_GLOBAL_UNICAST_V6: Final = ipaddress.IPv6Network("2000::/3")


def _translated_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(address in prefix for prefix in _IPV4_TRANSLATING):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class InvalidWebhookTarget(ValueError):
    """The URL is not one webhooks may be delivered to; the message says why."""


def forbidden_address_reason(address: IPAddress) -> str | None:
    """Why no webhook may be sent to `address`, or None when it is a public unicast address.

    IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64, SIIT, IPv4-compatible) are judged by
    that address; other IPv6 must be global unicast.

    >>> forbidden_address_reason(ipaddress.ip_address("::ffff:10.0.0.1"))
    'a private address'
    >>> forbidden_address_reason(ipaddress.ip_address("64:ff9b::a9fe:a9fe"))  # NAT64 of 169.254.169.254
    'a link-local address'
    >>> forbidden_address_reason(ipaddress.ip_address("93.184.216.34")) is None
    True
    """
    if isinstance(address, ipaddress.IPv6Address) and not (address.is_loopback or address.is_unspecified):
        embedded = address.ipv4_mapped or address.sixtofour or _translated_ipv4(address)
        if embedded is not None:
            return forbidden_address_reason(embedded)
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CARRIER_GRADE_NAT:
        return "a carrier-grade NAT address"
    if isinstance(address, ipaddress.IPv4Address) and address in _IETF_PROTOCOL_ASSIGNMENTS:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST_V6:
        return "a reserved address"
    return None


def check_webhook_url(url: str, *, allow_private: bool) -> str:
    """`url` when webhooks may be registered for it, else `InvalidWebhookTarget`.

    Always: http or https, a host, no user name or password, no fragment, at most 2048 characters.
    Unless `allow_private`: https only, and a host written as an IP address (in any form a resolver
    accepts, such as `127.1`) or named `localhost` must be a public address. Names are resolved and
    checked again at delivery time.

    >>> check_webhook_url("https://hooks.example.com/in", allow_private=False)
    'https://hooks.example.com/in'
    >>> check_webhook_url("http://127.0.0.1:8080/in", allow_private=True)
    'http://127.0.0.1:8080/in'
    """
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        raise InvalidWebhookTarget(f"the URL is longer than {MAX_WEBHOOK_URL_LENGTH} characters")
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise InvalidWebhookTarget("the URL must be printable ASCII without spaces (percent-encode the rest)")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a malformed port)
    except ValueError:
        raise InvalidWebhookTarget("not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidWebhookTarget("the URL must use https (or http where the operator allows it)")
    if not parts.hostname:
        raise InvalidWebhookTarget("the URL names no host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidWebhookTarget("the URL must not carry a user name or password")
    if parts.fragment or url.endswith("#"):
        raise InvalidWebhookTarget("the URL must not have a fragment")
    if allow_private:
        return url
    if scheme != "https":
        raise InvalidWebhookTarget("the URL must use https")
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        raise InvalidWebhookTarget("the host is a loopback address")
    address = _ip_literal(host)
    if address is not None and (reason := forbidden_address_reason(address)) is not None:
        raise InvalidWebhookTarget(f"the host is {reason}")
    return url


def _ip_literal(host: str) -> IPAddress | None:
    """The address `host` spells, including the legacy IPv4 forms (`127.1`, `0x7f.0.0.1`, `2130706433`)
    that resolvers accept and the ipaddress module does not."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id names no other address
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None
