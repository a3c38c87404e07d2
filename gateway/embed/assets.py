"""The embedded page's scripts and styles and the SDK, read once from the package and served as files.

The page's files are addressed under a version made from their contents
(`/embedded/assets/<version>/page.js`), so they are cached for good and a new release is fetched at
once. The SDK keeps stable addresses (`/sdk/embed.js`, `/sdk/embed.d.ts`) that hosts write into their
pages, so it is cached briefly and revalidated by ETag. Hosts import the SDK as an ES module from their
own origin, which browsers fetch in CORS mode: it is public code holding no secret, so any origin may
read it (no credentials are ever allowed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.http.errors import ApiError

PAGE_FILES: Final = ("page.js", "charts.js", "page.css")
SDK_FILES: Final = ("embed.js", "embed.d.ts")
MEDIA_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".d.ts": "application/typescript; charset=utf-8",
}
IMMUTABLE: Final = "public, max-age=31536000, immutable"
SDK_MAX_AGE: Final = "public, max-age=300"


class AssetNotFound(ApiError):
    status = 404
    code = "not_found"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _media_type(name: str) -> str:
    return MEDIA_TYPES[".d.ts" if name.endswith(".d.ts") else PurePosixPath(name).suffix]


def _load(folder: str, names: tuple[str, ...]) -> dict[str, Asset]:
    root = resources.files("gateway.embed") / folder
    loaded = {}
    for name in names:
        body = (root / name).read_bytes()
        loaded[name] = Asset(body, _media_type(name), '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return loaded


class EmbedAssets:
    def __init__(self) -> None:
        self._page = _load("static", PAGE_FILES)
        self._sdk = _load("sdk", SDK_FILES)
        digest = hashlib.sha256()
        for name, asset in self._page.items():
            digest.update(name.encode() + b"\0" + asset.body + b"\0")
        self.version = digest.hexdigest()[:16]

    def url(self, name: str) -> str:
        """Where the page (at `/embedded/{dashboard}`) finds one of its files, relative to itself, so
        that a gateway served under a path prefix works unchanged."""
        if name not in self._page:
            raise KeyError(name)
        return f"assets/{self.version}/{name}"

    def routes(self) -> list[Route]:
        return [
            Route("/embedded/assets/{version}/{name}", self.page_file, methods=["GET"]),
            Route("/sdk/{name}", self.sdk_file, methods=["GET"]),
        ]

    async def page_file(self, request: Request) -> Response:
        asset = self._page.get(request.path_params["name"])
        # An old version is not served from the new files: a page and its scripts always match.
        if asset is None or request.path_params["version"] != self.version:
            raise AssetNotFound("no such asset")
        return _answer(request, asset, {"Cache-Control": IMMUTABLE})

    async def sdk_file(self, request: Request) -> Response:
        asset = self._sdk.get(request.path_params["name"])
        if asset is None:
            raise AssetNotFound("no such SDK file")
        return _answer(request, asset, {"Cache-Control": SDK_MAX_AGE, "Access-Control-Allow-Origin": "*"})


def _answer(request: Request, asset: Asset, headers: dict[str, str]) -> Response:
    headers = {**headers, "ETag": asset.etag}
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
