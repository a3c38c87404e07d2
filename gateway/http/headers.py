"""The request's headers by name, read from the ASGI scope's raw list once per request.

The edge and the data endpoints look up a handful of headers on every request. Starlette's `Headers`
lowers and encodes the name on every lookup and scans the whole list each time; here the list becomes
a dict once (built in C, the first value of a repeated header winning, as everywhere else) and every
later lookup is one dict access. The dict is kept in the scope next to the list it was made from, so a
layer that hands on other headers gets a dict of its own.
"""

from __future__ import annotations

from typing import Final

from starlette.types import Scope

_KEY: Final = "gateway.request_headers"


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """Header names (lower-case, as servers deliver them) to the first value each was sent with."""
    headers = scope["headers"]
    made = scope.get(_KEY)
    if made is None or made[0] is not headers:
        # Reversed, so that the first of a repeated header is the value left in the dict.
        made = scope[_KEY] = (headers, dict(reversed(headers)))
    by_name: dict[bytes, bytes] = made[1]
    return by_name


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (given lower-case), or None."""
    value = request_headers(scope).get(name)
    return None if value is None else value.decode("latin-1")
