"""The route a request matched, as its path template: what metrics and access lines name it by."""

from __future__ import annotations

from typing import Final

from starlette.types import Scope

UNMATCHED: Final = "unmatched"


def route_template(scope: Scope) -> str:
    """`/api/v1/dashboard/{ref}` for `/api/v1/dashboard/42`; `unmatched` when no route matched.

    Read after the app has run: Starlette's router records the matched route in the scope. The raw
    path is never used, so neither a label's cardinality nor a log line depends on what callers send.
    """
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED
