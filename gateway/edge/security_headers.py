"""The security headers of every answer, and a Content-Security-Policy with a fresh nonce on every HTML one.

A page handler takes its nonce with `gateway.http.request_state.csp_nonce(request)` and writes it on its
`<script nonce>` and `<style nonce>` tags; the policy of its answer names that nonce, so nothing else
may run. `frame-ancestors` lists what the handler put in `request.state.frame_ancestors` (the
tenant's allowed embed origins, on the embedded page) and is `'none'` everywhere else: no page of the
gateway can be framed unless a handler says by whom. No `X-Frame-Options` is sent: it cannot list
origins, and browsers would let it override the CSP.

Cross-origin isolation headers are chosen per path: the embedded page is framed by other sites and
the SDK is loaded by them, so their `Cross-Origin-Resource-Policy` is `cross-origin` (a host page
with COEP could not load them otherwise); everything else is `same-origin`. `Cross-Origin-Opener-Policy:
same-origin` is sent everywhere: browsers ignore it on framed documents, and it cuts the `opener` link
when a gateway page is opened as a top-level window.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from starlette.types import Scope

from gateway.http.request_state import FRAME_ANCESTORS_STATE, state_nonce

# Resources other sites load by design: the framed page and the SDK module.
CROSS_ORIGIN_PREFIXES: Final = ("/embedded/", "/sdk/")
_HSTS: Final = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
# A CSP source as tenants' origins are stored (gateway.http.origins): scheme://host[:port], `*.` allowed.
# Anything else (a bare `*`, a keyword, a `;`) would widen or break the policy: it is dropped.
_SOURCE: Final = re.compile(r"https?://(\*\.)?[a-z0-9.-]+(:\d{1,5})?|https?://\[[0-9a-f:.]+\](:\d{1,5})?")
_ALWAYS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
_CORP_CROSS_ORIGIN: Final = (b"cross-origin-resource-policy", b"cross-origin")
_CORP_SAME_ORIGIN: Final = (b"cross-origin-resource-policy", b"same-origin")


def content_security_policy(nonce: str, frame_ancestors: Iterable[str] = ()) -> str:
    """The policy of one HTML answer; `frame_ancestors` empty (or all malformed) means `'none'`."""
    sources = [source for source in frame_ancestors if _SOURCE.fullmatch(source)]
    ancestors = " ".join(sources) if sources else "'none'"
    return (
        "default-src 'self'; "
        f"script-src 'nonce-{nonce}' 'strict-dynamic'; "
        f"style-src 'self' 'nonce-{nonce}'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )


def security_headers(scope: Scope, path: str, content_type: bytes) -> Sequence[tuple[bytes, bytes]]:
    """The headers every answer to `scope` gets, given its path inside the app (`gateway.edge.paths`)
    and its content type (raw, as in the ASGI message)."""
    cross_origin = path.startswith(CROSS_ORIGIN_PREFIXES)
    headers = _STATIC[(cross_origin, scope.get("scheme") == "https")]
    if content_type[:9].lower() != b"text/html":
        return headers
    state = scope.setdefault("state", {})
    policy = content_security_policy(state_nonce(state), state.get(FRAME_ANCESTORS_STATE) or ())
    return (*headers, (b"content-security-policy", policy.encode()))


# What does not depend on the answer, by (cross-origin path, HTTPS): built once.
_STATIC: Final = {
    (cross_origin, https): (
        *_ALWAYS,
        _CORP_CROSS_ORIGIN if cross_origin else _CORP_SAME_ORIGIN,
        *((_HSTS,) if https else ()),
    )
    for cross_origin in (False, True)
    for https in (False, True)
}
