"""Canonical events: CloudEvents 1.0 (structured JSON) with Accolade's `data` conventions.

Every connector's output, the ingest API, the event log and `accolade connectors parse` speak
this one model. `id` + `source` is the dedupe key within a tenant.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator

__all__ = ["Actor", "CloudEvent", "RESERVED_SOURCE_PREFIX", "connector_source", "github_noreply_id"]

RESERVED_SOURCE_PREFIX = "/accolade/"
_TYPE_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]*[a-z0-9]$")
_NOREPLY_RE = re.compile(r"^(\d{1,20})\+([^@]+)@users\.noreply\.github\.com$")


def github_noreply_id(address: str) -> str | None:
    """The GitHub user id inside `ID+login@users.noreply.github.com` (None for other addresses
    and for bots' no-reply addresses: a bot is never a person)."""
    match = _NOREPLY_RE.match(address.strip().lower())
    if match is None or match.group(2).endswith("[bot]"):
        return None
    return match.group(1)


class Actor(BaseModel):
    """Who did it, as identities in one system. Stable `id` wins over `login` and `email`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    system: str = Field(min_length=1, max_length=64)
    id: str | None = Field(default=None, max_length=256)
    login: str | None = Field(default=None, max_length=256)
    email: str | None = Field(default=None, max_length=320)

    @field_validator("id", mode="before")
    @classmethod
    def _stringify_id(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def keys(self) -> list[tuple[str, str, str]]:
        """Identity lookups in order of trust: (system, kind, value)."""
        out: list[tuple[str, str, str]] = []
        if self.id:
            out.append((self.system, "id", self.id))
        if self.login:
            out.append((self.system, "login", self.login.lower()))
        if self.email:  # a GitHub no-reply address is that GitHub user (identity.precedence)
            user_id = github_noreply_id(self.email)
            out.append(("github", "id", user_id) if user_id else ("email", "id", self.email.lower()))
        return out


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 structured event; `data` is an object carrying `actor`."""

    model_config = ConfigDict(extra="allow")

    specversion: str = "1.0"
    id: str = Field(min_length=1, max_length=512)
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=3, max_length=128)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str | None = "application/json"
    data: dict[str, Any] = Field(description="an object carrying `actor`: who did it")
    accoladedelivery: str | None = Field(
        default=None, max_length=512,
        description="extension: the vendor's delivery id (connector events; `id` is the fact)",
    )

    @field_validator("specversion")
    @classmethod
    def _spec(cls, value: str) -> str:
        if value != "1.0":
            raise ValueError("only CloudEvents specversion 1.0 is accepted")
        return value

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not _TYPE_RE.match(value):
            raise ValueError("type must be lower-case dotted words, e.g. ci.pipeline.completed")
        return value

    @field_validator("data")
    @classmethod
    def _actor(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "actor" not in value:
            raise ValueError("data.actor is required: who did it, e.g. {system, id}")
        try:
            Actor.model_validate(value["actor"])
        except ValidationError as exc:  # name the field inside actor, not just `data`
            err = exc.errors()[0]
            where = ".".join(str(part) for part in ("actor", *err["loc"]))
            raise ValueError(f"{where}: {err['msg']}") from None
        return value

    @property
    def actor(self) -> Actor:
        return Actor.model_validate(self.data["actor"])

    @property
    def occurred_at(self) -> datetime:
        return self.time

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def connector_source(tenant: str, connector_id: str) -> str:
    return f"{RESERVED_SOURCE_PREFIX}{tenant}/{connector_id}"
