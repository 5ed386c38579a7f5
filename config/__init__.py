"""Load and check `accolade.yaml`: one file for connectors, channels, tenants and achievements.

Every problem is reported as `file:line: field: message`, all at once, and nothing starts
half-configured: `load_config` raises `ConfigError` carrying every issue.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from config._yaml import ConfigIssue, Loaded, load_with_lines
from config.models import (
    ChannelSettings,
    Config,
    ConnectorSettings,
    PersonSettings,
    TenantSettings,
)

__all__ = [
    "ChannelSettings",
    "Config",
    "ConfigError",
    "ConnectorSettings",
    "PersonSettings",
    "TenantSettings",
    "check_config",
    "load_config",
    "parse_config",
]

_SECRET_FIELDS = (("connectors", "secret"), ("channels", "token"))


class ConfigError(Exception):
    def __init__(self, file: str, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = sorted(issues, key=lambda i: i.line)
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [issue.render(self.file) for issue in self.issues]


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    file = str(path)
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, [ConfigIssue(1, (), f"cannot read: {exc.strerror}")]) from None
    return parse_config(text, file=file, env=env)


def parse_config(text: str, *, file: str, env: Mapping[str, str] | None = None) -> Config:
    loaded = load_with_lines(text, env)
    issues = list(loaded.issues)
    if loaded.data is not None and not isinstance(loaded.data, dict):
        issues.append(ConfigIssue(1, (), "the top level must be a mapping"))
    if issues:
        raise ConfigError(file, issues)
    issues += _secrets_are_references(loaded)
    try:
        config = Config.model_validate(loaded.data)
    except ValidationError as exc:
        issues += [_issue_from_pydantic(loaded, error) for error in exc.errors()]
        raise ConfigError(file, issues) from None
    issues += _cross_references(config, loaded)
    if issues:
        raise ConfigError(file, issues)
    return config


def check_config(path: str | os.PathLike[str]) -> list[str]:
    try:
        load_config(path)
    except ConfigError as exc:
        return exc.lines()
    return []


def _issue_from_pydantic(loaded: Loaded, error: Any) -> ConfigIssue:
    path = tuple(part for part in error["loc"] if not str(part).startswith("function-"))
    message = str(error["msg"]).removeprefix("Value error, ")
    return ConfigIssue(loaded.line_of(path), path, message)


def _secrets_are_references(loaded: Loaded) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for t, tenant in enumerate(_list(loaded.data, "tenants")):
        for k, _ in enumerate(_list(tenant, "api_keys")):
            issues += _reference_issue(loaded, ("tenants", t, "api_keys", k))
        for section, field in _SECRET_FIELDS:
            for i, item in enumerate(_list(tenant, section)):
                if isinstance(item, dict) and item.get(field):
                    issues += _reference_issue(loaded, ("tenants", t, section, i, field))
    return issues


def _reference_issue(loaded: Loaded, path: tuple[str | int, ...]) -> list[ConfigIssue]:
    if path in loaded.references:
        return []
    message = "secrets may only be ${ENV} references, e.g. ${GITHUB_WEBHOOK_SECRET}"
    return [ConfigIssue(loaded.line_of(path), path, message)]


def _list(mapping: Any, key: str) -> list[Any]:
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, list) else []


def _cross_references(config: Config, loaded: Loaded) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for t, tenant in enumerate(config.tenants):
        channel_ids = {c.id for c in tenant.channels}
        for a, achievement in enumerate(tenant.achievements):
            for d, channel in enumerate(achievement.deliver_to):
                if channel not in channel_ids:
                    path = ("tenants", t, "achievements", a, "deliver_to", d)
                    known = ", ".join(sorted(channel_ids)) or "none declared"
                    message = f"unknown channel {channel!r} (channels: {known})"
                    issues.append(ConfigIssue(loaded.line_of(path), path, message))
        issues += _duplicate_keys(tenant, t, loaded)
    return issues


def _duplicate_keys(tenant: TenantSettings, t: int, loaded: Loaded) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    groups: tuple[tuple[str, list[str]], ...] = (
        ("achievements", [a.key for a in tenant.achievements]),
        ("channels", [c.id for c in tenant.channels]),
        ("people", [p.person for p in tenant.people]),
    )
    for section, values in groups:
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                path = ("tenants", t, section, i)
                issues.append(ConfigIssue(loaded.line_of(path), path, f"duplicate {value!r}"))
            seen.add(value)
    return issues
