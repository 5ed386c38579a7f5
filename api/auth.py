"""The tenant's bearer API key: one key names one tenant (config check enforces it).

Declared as an HTTP bearer security scheme, so the OpenAPI says how to authenticate and a
missing or unknown key is a 401 with `WWW-Authenticate: Bearer`, never a 422 for a missing
header parameter.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from config.models import Config, TenantSettings

__all__ = ["bearer_scheme", "require_tenant", "tenant_for_key"]

bearer_scheme = HTTPBearer(
    auto_error=False,  # answered below, with one message per cause
    scheme_name="TenantKey",
    description="A tenant's API key from `tenants[].api_keys`: `Authorization: Bearer <key>`.",
)


def tenant_for_key(config: Config, authorization: str | None) -> TenantSettings:
    """The tenant whose API key is the bearer token of `authorization`, or a 401."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer API key", {"WWW-Authenticate": "Bearer"})
    found: TenantSettings | None = None
    for tenant in config.tenants:  # compare with every key: timing says nothing about which
        for key in tenant.api_keys:
            if hmac.compare_digest(key.get_secret_value().encode(), token.encode()):
                found = tenant
    if found is None:
        raise HTTPException(401, "unknown API key", {"WWW-Authenticate": "Bearer"})
    return found


def require_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> TenantSettings:
    """Dependency: the tenant of the request's bearer key."""
    authorization = f"Bearer {credentials.credentials}" if credentials else None
    return tenant_for_key(request.app.state.config, authorization)
