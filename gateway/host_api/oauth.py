"""`POST /oauth/token`: the OAuth2 client-credentials grant (RFC 6749 section 4.4) for host-app backends.

authlib runs the protocol (client authentication by `client_secret_basic` or `client_secret_post`,
grant and scope checks, RFC error answers). authlib is synchronous and the registry is async, so
the endpoint looks the client up first and hands it to authlib through a context variable; the
issued token is stored (hashed) once authlib has produced it.
"""

from __future__ import annotations

import base64
import binascii
import time
from contextvars import ContextVar
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from authlib.common.security import generate_token
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.host_api.access_tokens import AccessGrant, AccessTokens
from gateway.telemetry import logs
from tenants.errors import NotFound
from tenants.store import App, RegistryStore

SCOPES: Final = ("guest_token:create", "guest_token:revoke")
_MAX_FORM_BYTES: Final = 4096
_client: ContextVar[OAuthClient | None] = ContextVar("oauth_client", default=None)


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """A registered app as authlib sees it; it authenticates only while its tenant is active."""

    def __init__(self, app: App, tenant_active: bool) -> None:
        self.app = app
        self.tenant_active = tenant_active

    def get_client_id(self) -> str:
        return self.app.client_id

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = scope_to_list(scope) if scope else list(self.app.scopes)
        return " ".join(s for s in requested if s in self.app.scopes)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.app.status == "active" and self.app.secret_matches(client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials" and self.tenant_active


class _FormRequest(OAuth2Request):  # type: ignore[misc]
    """An OAuth2 request whose urlencoded parameters were read up front (authlib reads them synchronously)."""

    def __init__(self, request: Request, form: dict[str, str]) -> None:
        super().__init__("POST", str(request.url), headers=request.headers)
        self.payload = BasicOAuth2Payload(form)
        self._form = form

    @property
    def form(self) -> dict[str, str]:
        return self._form


class _ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _Server(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, ttl_seconds: int) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.register_grant(_ClientCredentials)
        self.register_token_generator(
            "default",
            BearerTokenGenerator(lambda **_: _new_token(), expires_generator=lambda *_: ttl_seconds),
        )

    def query_client(self, client_id: str) -> OAuthClient | None:
        client = _client.get()
        return client if client is not None and client.get_client_id() == client_id else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        request.issued_token = token  # persisted asynchronously by the endpoint

    def validate_requested_scope(self, scope: str | None) -> None:
        super().validate_requested_scope(scope)
        client = _client.get()
        if scope and client is not None and not set(scope_to_list(scope)) <= set(client.app.scopes):
            raise InvalidScopeError("the app was not granted that scope")

    def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, Any]:
        return status, body, headers

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""


def _new_token() -> str:
    return str(generate_token(48))


def _client_id_of(request: Request, form: dict[str, str]) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return unquote(decoded.partition(":")[0])
    return form.get("client_id")


class TokenEndpoint:
    def __init__(self, store: RegistryStore, tokens: AccessTokens) -> None:
        self._store = store
        self._tokens = tokens
        self._server = _Server(tokens.ttl_seconds)

    async def handle(self, request: Request) -> Response:
        form = await _form(request)
        if isinstance(form, Response):
            return form
        client = await self._find_client(_client_id_of(request, form))
        if client is not None:
            logs.bind_tenant(client.app.tenant_id)
        oauth_request = _FormRequest(request, form)
        token_var = _client.set(client)
        try:
            status, answer, headers = self._server.create_token_response(oauth_request)
        finally:
            _client.reset(token_var)
        issued = getattr(oauth_request, "issued_token", None)
        if status == 200 and issued is not None and client is not None:
            grant = AccessGrant(
                client.app.client_id,
                client.app.tenant_id,
                frozenset(scope_to_list(issued.get("scope") or "")),
                time.time() + self._tokens.ttl_seconds,
            )
            await self._tokens.save(issued["access_token"], grant)
        return _answer(status, answer, headers)

    async def _find_client(self, client_id: str | None) -> OAuthClient | None:
        if not client_id or len(client_id) > 64:
            return None
        try:
            app = await self._store.app(client_id)
            tenant = await self._store.tenant(app.tenant_id)
        except NotFound:
            return None
        return OAuthClient(app, tenant.active)


_DESCRIPTIONS: Final = {
    "unsupported_grant_type": "only grant_type=client_credentials is supported",
    "invalid_request": "the request is missing a parameter or malformed",
    "invalid_scope": "the scope is unknown or not granted to the app",
    "unauthorized_client": "the app may not use this grant (is its tenant suspended?)",
    "invalid_client": "client authentication failed",
}


def _answer(status: int, answer: dict[str, Any], headers: Any) -> Response:
    """authlib's answer, made uniform: every error has a description, and a failed client
    authentication is always 401 with a Basic challenge (RFC 6749 section 5.2 allows it)."""
    merged = {**dict(headers), "Cache-Control": "no-store", "Pragma": "no-cache"}
    error = answer.get("error")
    if error is not None:
        # invalid_client always reads the same: an unknown client and a wrong secret are indistinguishable.
        own = None if error == "invalid_client" else answer.get("error_description")
        description = own or _DESCRIPTIONS.get(error, error)
        answer = {"error": error, "error_description": description}
        if error == "invalid_client":
            status = 401
            merged["WWW-Authenticate"] = 'Basic realm="oauth"'
    return JSONResponse(answer, status_code=status, headers=merged)


async def _form(request: Request) -> dict[str, str] | Response:
    """The urlencoded parameters; RFC 6749 section 3.2 forbids repeating one."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return _oauth_error(400, "invalid_request", "send application/x-www-form-urlencoded parameters")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return _oauth_error(400, "invalid_request", "the request body is too large")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        return _oauth_error(400, "invalid_request", "the parameters are not well-formed")
    form = dict(pairs)
    if len(form) != len(pairs):
        return _oauth_error(400, "invalid_request", "a parameter is repeated")
    return form


def _oauth_error(status: int, error: str, description: str) -> Response:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )
