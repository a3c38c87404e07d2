"""The signature on every delivery: `X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.

The MAC covers `"<t>.<raw body>"` with the webhook's secret, so a receiver can check both that the
body is ours and unchanged and that it is recent (a captured delivery replayed later carries an old
`t`, and changing `t` breaks the MAC). README.md ("Webhooks") has the receiver's recipe.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

SIGNATURE_HEADER: Final = "X-Gateway-Signature"


def signature_header(secret: str, body: bytes, timestamp: int) -> str:
    """The value of `X-Gateway-Signature` for `body` sent at `timestamp` (unix seconds).

    >>> signature_header("whsec", b'{"id":"1"}', 1700000000)
    't=1700000000,v1=60734808e731b08d45bee887cade715d87211348f1bcb975b46c8d2e7fa5dbcd'
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"
