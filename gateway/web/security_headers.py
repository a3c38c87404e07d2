"""Security headers on every answer, and a Content-Security-Policy with a fresh nonce on every HTML one.

The nonce is put in `scope["state"]["csp_nonce"]` before the app runs, so a handler reads it as
`request.state.csp_nonce` and writes it on its `<script nonce>` and `<style nonce>` tags; nothing else
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
import secrets
from collections.abc import Iterable
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.web.paths import app_path

NONCE_STATE: Final = "csp_nonce"
FRAME_ANCESTORS_STATE: Final = "frame_ancestors"
# Resources other sites load by design: the framed page and the SDK module.
CROSS_ORIGIN_PREFIXES: Final = ("/embedded/", "/sdk/")
HSTS: Final = "max-age=63072000; includeSubDomains"
# A CSP source as tenants' origins are stored (gateway.web.origins): scheme://host[:port], `*.` allowed.
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


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[NONCE_STATE] = secrets.token_urlsafe(18)
        await self.app(scope, receive, _SecurityHeadersResponder(send, scope).send)


class _SecurityHeadersResponder:
    """Adds the headers to the answer's start; a header the handler set itself is left as it is."""

    def __init__(self, send: Send, scope: Scope) -> None:
        self._send = send
        self._scope = scope

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            # Raw header tuples, not MutableHeaders: this runs on every answer of the hot path.
            headers = message["headers"] = list(message.get("headers", ()))
            present = {name.lower(): value for name, value in headers}
            for name, value in self._headers(present.get(b"content-type", b"")):
                if name not in present:
                    headers.append((name, value))
        await self._send(message)

    def _headers(self, content_type: bytes) -> list[tuple[bytes, bytes]]:
        scope = self._scope
        cross_origin = app_path(scope).startswith(CROSS_ORIGIN_PREFIXES)
        headers = [*_ALWAYS, _CORP_CROSS_ORIGIN if cross_origin else _CORP_SAME_ORIGIN]
        if scope.get("scheme") == "https":
            headers.append((b"strict-transport-security", HSTS.encode()))
        if content_type.lower().startswith(b"text/html"):
            state = scope["state"]
            policy = content_security_policy(state[NONCE_STATE], state.get(FRAME_ANCESTORS_STATE) or ())
            headers.append((b"content-security-policy", policy.encode()))
        return headers
