"""What a handler leaves the edge in its request's state, for the answer's headers.

The handlers decide and the edge (`gateway.edge`) writes the headers, so the names they share live
here, below both:

- the CSP nonce of an HTML answer, made on first use by `csp_nonce(request)`;
- the origins that may frame the answer (`frame-ancestors`), set by the embedded page;
- the request's origin once a data endpoint has checked it, echoed by CORS.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

from starlette.requests import HTTPConnection

NONCE_STATE: Final = "csp_nonce"
FRAME_ANCESTORS_STATE: Final = "frame_ancestors"
CORS_ORIGIN_STATE: Final = "cors_origin"


def csp_nonce(request: HTTPConnection) -> str:
    """The nonce the policy of this request's answer will name, made on first use.

    Only HTML answers need one: the data endpoints never pay for the random bytes.
    """
    return state_nonce(request.scope.setdefault("state", {}))


def state_nonce(state: dict[str, Any]) -> str:
    """The nonce kept in a request's `state`, made when it has none yet."""
    nonce = state.get(NONCE_STATE)
    if nonce is None:
        nonce = state[NONCE_STATE] = secrets.token_urlsafe(18)
    return str(nonce)
