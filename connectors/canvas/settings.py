"""`vendor: canvas` settings (DESIGN §8): polling of `url` over `courses` or an `account_id`."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from connectors.base import BaseUrl, ConnectorSettings, PollSettings

__all__ = ["CanvasSettings"]

# A Canvas id: a number, or an SIS id such as `sis_course_id:FALL-101` (Canvas "SIS IDs").
_COURSE = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")


def _filled(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())


class CanvasSettings(ConnectorSettings):
    """Canvas LMS, asked by polling; empty `url` turns the instance off (the demo default).

    Authentication is a bearer `token` (an access token a user or admin generates), or the
    OAuth2 trio `client_id`, `client_secret`, `refresh_token` of a developer key, refreshed
    through authlib. A client id and secret without a refresh token is refused: Canvas's REST
    API takes no client-credentials grant (developer keys get tokens only through a user's
    login flow).
    """

    vendor: Literal["canvas"]
    url: BaseUrl = Field(default="", description="base URL of Canvas, e.g. https://acme.instructure.com; "
                     "empty = off")
    token: SecretStr | None = Field(default=None, description="access token (Authorization: Bearer)")
    client_id: str = Field(default="", description="OAuth2 developer key id (with refresh_token)")
    client_secret: SecretStr | None = Field(default=None, description="OAuth2 developer key secret")
    refresh_token: SecretStr | None = Field(default=None, description="OAuth2 refresh token of the "
                                            "polling user")
    courses: list[int | str] = Field(default_factory=list, description="course ids polled "
                                     "(numbers or sis_course_id:…)")
    account_id: int | str | None = Field(default=None, description="poll every course of this "
                                         "account instead of `courses`")
    poll: PollSettings = PollSettings()

    @field_validator("courses")
    @classmethod
    def _course_ids(cls, courses: list[int | str]) -> list[int | str]:
        for course in courses:
            if isinstance(course, str) and not _COURSE.fullmatch(course):
                raise ValueError(f"{course!r} is no Canvas course id (a number or sis_course_id:…)")
        return courses

    @field_validator("account_id")
    @classmethod
    def _account_id(cls, account: int | str | None) -> int | str | None:
        if isinstance(account, str) and not _COURSE.fullmatch(account):
            raise ValueError(f"{account!r} is no Canvas account id")
        return account

    @model_validator(mode="after")
    def _polling_needs(self) -> CanvasSettings:
        if not self.url:
            return self
        self._check_auth()
        if not self.courses and self.account_id is None:
            raise ValueError("url is set but neither courses nor account_id: name the courses polled")
        if self.courses and self.account_id is not None:
            raise ValueError("give courses or account_id, not both")
        return self

    def _check_auth(self) -> None:
        trio = (bool(self.client_id), _filled(self.client_secret), _filled(self.refresh_token))
        if _filled(self.token):
            if any(trio):
                raise ValueError("give token or client_id/client_secret/refresh_token, not both")
            return
        if all(trio):
            return
        if trio[0] and trio[1]:
            raise ValueError("client_id and client_secret without refresh_token: Canvas's REST API "
                             "takes no client-credentials grant; give a refresh_token from the "
                             "OAuth2 login flow, or a token")
        raise ValueError("url is set but token is empty: polling needs an access token "
                         "(or client_id, client_secret and refresh_token)")

    @property
    def uses_refresh(self) -> bool:
        return not _filled(self.token)
