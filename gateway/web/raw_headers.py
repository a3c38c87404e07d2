"""One request header, read straight from the ASGI scope's raw list.

The data endpoints look up a few headers per request; Starlette's `Headers` mapping lowers and encodes
the name on every lookup and pays for a `KeyError` on every absent header, which is most of them.
"""

from __future__ import annotations

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (given lower-case, as servers deliver names), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
