"""Every tenant's keys and status as this replica holds them in memory.

The verifier consults this synchronously on every request (no I/O); it is filled from the registry
on demand (an unknown `kid` loads its tenant once) and refreshed by `config` events, so a rotation
or a suspension made through any replica reaches this one without a restart; after an event-feed
outage, `reconcile` reloads the tenants whose registry version moved meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.tokens.jwks import build_jwks
from gateway.tokens.keyring import KeyRing
from gateway.tokens.keys import Algorithm, KeyStatus, SigningKey, VerificationKey
from gateway.tokens.verify import TenantStatus
from tenants.errors import NotFound, RegistryError
from tenants.store import RegistryStore
from tenants.store import SigningKey as StoredKey


class TenantKeys:
    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self.keyring = KeyRing(self._load_kid)
        self._statuses: dict[str, TenantStatus] = {}
        self._signing: dict[str, SigningKey] = {}
        # The registry version each loaded tenant was read at.
        self._versions: dict[str, int] = {}
        self._reconciliations = 0

    def tenant_status(self, tenant_id: str) -> TenantStatus:
        return self._statuses.get(tenant_id, "unknown")

    async def load_tenant(self, tenant_id: str) -> None:
        """(Re)load one tenant's status and verification keys from the registry.

        A load that overlaps a `reconcile` reads again: what it read may predate a change that the
        reconciliation, not knowing this load, cannot catch.
        """
        while True:
            reconciliations = self._reconciliations
            try:
                tenant = await self._store.tenant(tenant_id)
            except NotFound:
                self.forget(tenant_id)
                return
            stored_keys = await self._store.signing_keys(tenant.id)
            keys = [await self._verification_key(stored) for stored in stored_keys]
            if reconciliations == self._reconciliations:
                break
        self._signing.pop(tenant.id, None)
        self._statuses[tenant.id] = "active" if tenant.active else "suspended"
        self.keyring.replace_tenant_keys(tenant.id, keys)
        self._versions[tenant.id] = tenant.registry_version

    async def reconcile(self, registry_versions: Mapping[str, int]) -> None:
        """Reload every loaded tenant whose registry version is not the one it was read at; forget
        those gone from the registry."""
        self._reconciliations += 1
        for tenant_id, version in list(self._versions.items()):
            if tenant_id not in registry_versions:
                self.forget(tenant_id)
            elif registry_versions[tenant_id] != version:
                await self.load_tenant(tenant_id)

    def forget(self, tenant_id: str) -> None:
        self._versions.pop(tenant_id, None)
        self._statuses.pop(tenant_id, None)
        self._signing.pop(tenant_id, None)
        self.keyring.drop_tenant(tenant_id)

    async def signing_key(self, tenant_id: str) -> SigningKey:
        """The tenant's active key with its private half.

        Which key is active is read from the registry on every mint (minting reads the registry
        anyway), so a rotation through any replica takes effect at once, not when its event arrives;
        only the decrypted key object is kept, per kid.
        """
        active = [k for k in await self._store.signing_keys(tenant_id) if k.status == "active"]
        if not active:
            raise RegistryError(
                "the tenant has no active signing key; rotate its keys", code="no_signing_key"
            )
        newest = active[-1]
        cached = self._signing.get(tenant_id)
        if cached is not None and cached.kid == newest.kid:
            return cached
        algorithm: Algorithm = newest.algorithm  # type: ignore[assignment]
        key = SigningKey.load(
            newest.kid, algorithm, await self._store.private_key(newest.kid), tenant_id=tenant_id
        )
        self._signing[tenant_id] = key
        return key

    async def jwks(self) -> dict[str, Any]:
        """Public keys of every tenant, active and retiring; read from the registry, not the cache,
        so that a third party always sees keys this replica has not needed yet."""
        public = [
            VerificationKey.from_jwk(stored.public_jwk, tenant_id=stored.tenant_id, status=_status(stored))
            for stored in await self._store.signing_keys()
            if stored.public_jwk is not None
        ]
        return build_jwks(public)

    async def _load_kid(self, kid: str) -> VerificationKey | None:
        try:
            stored = await self._store.signing_key(kid)
        except NotFound:
            return None
        await self.load_tenant(stored.tenant_id)
        return self.keyring.get(kid)

    async def _verification_key(self, stored: StoredKey) -> VerificationKey:
        if stored.public_jwk is not None:
            return VerificationKey.from_jwk(
                stored.public_jwk, tenant_id=stored.tenant_id, status=_status(stored)
            )
        # HS256: the shared secret is the verification key; it never leaves this process.
        secret = await self._store.private_key(stored.kid)
        return VerificationKey.from_secret(
            stored.kid, secret, tenant_id=stored.tenant_id, status=_status(stored)
        )


def _status(stored: StoredKey) -> KeyStatus:
    status: KeyStatus = stored.status  # type: ignore[assignment]
    return status
