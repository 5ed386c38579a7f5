"""SCIM 2.0 provisioning (RFC 7643/7644): Okta and Entra ID write users and groups into the hub.

The `scim` vendor is neither shape of `connectors.base`: clients reach it at `/scim/v2/...`
(`api.scim`), authenticated by the connector's bearer `token`, which identifies the tenant and
is not the ingest key (DESIGN §8). Every resource is parsed and validated by `scim2-models`
(resources, `PatchOp` in both Okta's and Entra ID's dialect, filters, error bodies); nothing
here parses SCIM by hand.

Decisions:
- A SCIM user is a person (`connectors.scim.provision`): its `userName`, `externalId` (in the
  connector's `external_system`), the enterprise `employeeNumber` and work emails become the
  person's identity links with origin `scim`; `scim:<id>` is the hub's own SCIM id.
- `password` is never stored, logged or returned: the stored resource is the model dumped in a
  response context, where `password` (`returned: never`) is gone.
- `active: false` and DELETE deprovision the person: no channel delivers to them any more
  (`suspended_persons`; deliveries are recorded `suppressed`, reason `deprovisioned`), their
  events are still evaluated, history stays. Reactivation resumes deliveries.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from connectors.base import ConnectorSettings, RequiredSecret

__all__ = ["CONNECTOR", "ScimConnector", "ScimSettings"]


class ScimSettings(ConnectorSettings):
    """`vendor: scim` (DESIGN §8): a SCIM service provider for one tenant."""

    vendor: Literal["scim"]
    token: RequiredSecret = Field(description="the SCIM client's bearer token, as an ${ENV} reference")
    external_system: Literal["okta", "entra"] = Field(
        default="okta",
        description="the identity system of clients' externalId (Okta user id, Entra object id)")



class ScimConnector:
    """The SCIM vendor: reached at /scim/v2/ (`api.scim`), written by `connectors.scim.service`."""

    vendor: ClassVar[str] = "scim"
    settings: ClassVar[type[ConnectorSettings]] = ScimSettings


CONNECTOR = ScimConnector()
