"""The path a request addresses inside the app, whatever prefix a proxy or `--root-path` put before it."""

from __future__ import annotations

from starlette.types import Scope


def app_path(scope: Scope) -> str:
    """`scope["path"]` without the ASGI `root_path` (which servers include in `path`), as routes see it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path
