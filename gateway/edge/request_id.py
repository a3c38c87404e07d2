"""The request id: taken from `X-Request-ID` when it is a sane token, else generated; echoed back.

It opens the request's log context (`gateway.telemetry.logs`), so every line logged while the request runs
carries the id, and an operator can follow one request from the caller's logs into ours.
"""

from __future__ import annotations

import random
import re
from typing import Final

HEADER: Final = b"x-request-id"
# Long enough for a UUID or a trace id, short enough to bound a log line; no spaces, quotes or controls.
_SANE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}")


def accepted_request_id(value: str | None) -> str | None:
    """`value` when it is safe to log and to echo, else None."""
    return value if value is not None and _SANE.fullmatch(value) else None


def request_id(sent: bytes | None) -> str:
    """The id of a request that sent `sent` as its X-Request-ID (None: no such header)."""
    if sent is not None:
        accepted = accepted_request_id(sent.decode("latin-1"))
        if accepted is not None:
            return accepted
    # Unique, not secret: the random module's generator (reseeded in every forked child) spares
    # a system call per request.
    return f"{random.getrandbits(128):032x}"
