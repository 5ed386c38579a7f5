"""`vendor: jira` settings (DESIGN §8): one instance takes webhooks and, when `url` is set, polls."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from connectors.base import BaseUrl, ConnectorSettings, PollSettings

__all__ = ["JiraSettings"]

_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


class JiraSettings(ConnectorSettings):
    """Webhooks signed with `secret`; polling of `url` as `user` with `token` when `url` is set.

    An absent or empty `secret` is allowed (a poll-only instance): its webhooks get 401
    "no webhook secret configured". `jql` is the user's filter only: the poller adds its own
    lower bound and `ORDER BY updated ASC`, so an `ORDER BY` here is refused.
    """

    vendor: Literal["jira"]
    secret: SecretStr | None = Field(default=None, description="webhook HMAC secret (X-Hub-Signature), "
                                     "as an ${ENV} reference; empty refuses webhooks")
    url: BaseUrl = Field(default="", description="base URL of Jira Cloud or Data Center; empty = polling off")
    user: str = Field(default="", description="the account polling (Cloud: its email)")
    token: SecretStr | None = Field(default=None, validate_default=True,
                                    description="API token (Cloud) or password/PAT (Data Center)")
    jql: str = Field(default="",
                     description="filter of the issues polled; empty = every project the user sees")
    poll: PollSettings = PollSettings()

    @field_validator("jql")
    @classmethod
    def _no_order_by(cls, jql: str) -> str:
        if _ORDER_BY.search(jql):
            raise ValueError("leave out ORDER BY: the poller orders by updated itself")
        return jql.strip()

    @field_validator("token", mode="after")
    @classmethod
    def _token_when_polling(cls, token: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("url") and (token is None or not token.get_secret_value()):
            raise ValueError("url is set but token is empty: polling needs an API token")
        return token
