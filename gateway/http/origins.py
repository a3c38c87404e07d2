"""Web origins: the one normal form they are stored and compared in, and wildcard matching.

Tenants list the origins allowed to embed their dashboards (`https://app.example.com`, or
`https://*.example.com` for any subdomain); tokens may narrow that list; requests carry `Origin`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import Scope

_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_HOST_LABEL: Final = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]` in lower case, default ports dropped; `https://*.example.com` allowed.

    http is accepted only for loopback hosts, so that a production embed is never framed over
    plain HTTP. Wildcards are checked for shape only: without a public-suffix list, `*.co.uk` is
    accepted, so operators must not write one.
    """
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError("must be scheme://host[:port]") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("scheme must be https (or http for localhost)")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("an origin is scheme://host[:port] with no path, query, fragment or credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the origin names no host")
    if scheme == "http" and host not in _LOOPBACK_HOSTS:
        raise ValueError("plain http is allowed only for localhost; use https")
    wildcard = host.startswith("*.")
    labels = host[2:].split(".") if wildcard else host.split(".")
    if "*" in host[2 if wildcard else 0 :]:
        raise ValueError("a wildcard may only be the whole first label, as in https://*.example.com")
    if wildcard and len(labels) < 2:
        raise ValueError("a wildcard needs a registrable domain below it, as in https://*.example.com")
    if port == 0:
        raise ValueError("port 0 is not a port a browser can use")
    if wildcard or not _is_ip(host):
        if not all(_HOST_LABEL.match(label) for label in labels):
            raise ValueError("the host is not a valid domain name")
        # A name whose last label has no letter is an IP address in disguise (999.999.999.999, *.1.2.3).
        if not any(c.isalpha() for c in labels[-1]):
            raise ValueError("the host is neither a valid domain name nor a valid IP address")
    if port == _DEFAULT_PORTS[scheme]:
        port = None
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}" + (f":{port}" if port is not None else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    """Whether normalised `origin` is one of `allowed` or under one of its `*.` patterns.

    A pattern `https://*.example.com` covers `https://a.example.com` and `https://a.b.example.com`,
    never `https://example.com` itself nor another scheme or port.
    """
    for pattern in allowed:
        if origin == pattern:
            return True
        scheme, _, host_port = pattern.partition("://")
        if host_port.startswith("*."):
            prefix, suffix = f"{scheme}://", host_port[1:]
            host = origin[len(prefix) :] if origin.startswith(prefix) else ""
            if host.endswith(suffix) and len(host) > len(suffix) and "/" not in host:
                return True
    return False


def is_own_origin(origin: str, scope: Scope) -> bool:
    """Whether `origin` is the gateway itself as this request reached it: its scheme and `Host`.

    The embedded page is served by the gateway, so its requests carry the gateway's origin. A browser
    sets both headers itself, so a page elsewhere cannot pass for the gateway; behind a TLS proxy the
    scheme is the one the proxy reports (uvicorn's `proxy_headers`).
    """
    host = Headers(scope=scope).get("host")
    own = _comparable(f"{scope.get('scheme', 'http')}://{host}") if host else None
    return own is not None and _comparable(origin) == own


def _comparable(origin: str) -> str | None:
    """`scheme://host[:port]` lower-cased without a default port; None for anything else (`null`)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.path or parts.query or parts.fragment:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}" + (f":{port}" if port not in (None, _DEFAULT_PORTS[scheme]) else "")
