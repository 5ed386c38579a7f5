"""Load and check `accolade.yaml`: one file for connectors, channels, tenants and achievements.

Every problem is reported as `file:line: field: message`, all at once, and nothing starts
half-configured: `load_config` raises `ConfigError` carrying every issue.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from channels import channel_class, kinds
from config._yaml import ConfigIssue, Loaded, format_path, load_with_lines
from config._yaml import Path as KeyPath
from config.models import (
    ChannelSettings,
    Config,
    ConnectorSettings,
    PersonSettings,
    TenantSettings,
)
from connectors import get_connector, vendors
from connectors.base import secret_fields
from rules.definitions import rule_fields

__all__ = [
    "ChannelSettings",
    "Config",
    "ConfigError",
    "ConnectorSettings",
    "PersonSettings",
    "TenantSettings",
    "check_config",
    "demo_default_warnings",
    "load_config",
    "parse_config",
]

# The demo defaults of DESIGN §8 (`${ACCOLADE_API_KEY:-demo-key}`, …) all start with this.
_DEMO_PREFIX = "demo-"


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


def demo_default_warnings(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> list[str]:
    """One `file:line: field: warning: …` per demo default secret in effect.

    A `${NAME:-demo-…}` default lets the demo run without setup, but its value is published
    in the README and the example file: anyone can sign webhooks or read with it. The warning
    names the variable to export and never prints the value.
    """
    file = str(path)
    try:
        text = FsPath(file).read_text(encoding="utf-8")
    except OSError:
        return []  # load_config reports the unreadable file
    loaded = load_with_lines(text, env)
    return [
        f"{file}:{d.line}: {format_path(d.path)}: warning: the demo default of ${{{d.variable}}} "
        f"is in effect; export {d.variable} with your own secret"
        for d in loaded.defaulted
        if _is_demo_default(d.default)
    ]


def _is_demo_default(value: str) -> bool:
    """`demo-…`, or a `whsec_` secret whose key is `demo-…` (the demo webhook secret)."""
    if value.startswith(_DEMO_PREFIX):
        return True
    if not value.startswith("whsec_"):
        return False
    try:
        return base64.b64decode(value.removeprefix("whsec_"), validate=True).startswith(_DEMO_PREFIX.encode())
    except ValueError:
        return False


def _issue_from_pydantic(loaded: Loaded, error: Any) -> ConfigIssue:
    path = _without_union_tags(tuple(part for part in error["loc"] if not str(part).startswith("function-")))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "union_tag_invalid":  # `vendor:` (or a channel `kind:`) nobody registered
        context = error.get("ctx", {})
        path = (*path, context.get("discriminator", "").strip("'"))
        message = f"unknown {path[-1]} {context.get('tag')!r}; known: {context.get('expected_tags')}"
    elif error["type"] == "extra_forbidden" and len(path) >= 2 and path[-2] == "rule":
        message = f"unknown rule field {path[-1]!r}; a rule takes {', '.join(rule_fields())}"
    elif error["type"] == "union_tag_not_found":
        message = f"{str(error.get('ctx', {}).get('discriminator', 'vendor')).strip(chr(39))} is required"
    return ConfigIssue(loaded.line_of(path), path, message)


def _without_union_tags(path: KeyPath) -> KeyPath:
    """A discriminated union adds its tag to the location (`connectors[0].github.secret`,
    `channels[1].email.from`): users wrote `connectors[0].secret`."""
    out = list(path)
    tags = {"connectors": vendors(), "channels": kinds()}
    for i in range(len(out) - 2):
        if out[i] in tags and isinstance(out[i + 1], int) and out[i + 2] in tags[str(out[i])]:
            del out[i + 2]
            break
    return tuple(out)


def _secrets_are_references(loaded: Loaded) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for t, tenant in enumerate(_list(loaded.data, "tenants")):
        for k, _ in enumerate(_list(tenant, "api_keys")):
            issues += _reference_issue(loaded, ("tenants", t, "api_keys", k))
        for i, item in enumerate(_list(tenant, "channels")):
            for field in _channel_secret_fields(item):
                issues += _secret_value_issues(loaded, ("tenants", t, "channels", i, field), item.get(field))
        for i, item in enumerate(_list(tenant, "connectors")):
            for field in _connector_secret_fields(item):
                if isinstance(item, dict) and item.get(field):
                    issues += _reference_issue(loaded, ("tenants", t, "connectors", i, field))
    return issues


def _connector_secret_fields(item: Any) -> tuple[str, ...]:
    """The vendor's `SecretStr` fields (its settings model says which fields are secrets)."""
    vendor = item.get("vendor") if isinstance(item, dict) else None
    if not isinstance(vendor, str) or vendor not in vendors():
        return ()
    return secret_fields(get_connector(vendor).settings)


def _channel_secret_fields(item: Any) -> tuple[str, ...]:
    """The kind's `SecretStr` fields (its settings model says which fields are secrets)."""
    kind = item.get("kind") if isinstance(item, dict) else None
    if not isinstance(kind, str) or kind not in kinds():
        return ()
    return secret_fields(channel_class(kind).settings_model)


def _secret_value_issues(loaded: Loaded, path: KeyPath, value: Any) -> list[ConfigIssue]:
    """A secret, or each item of a list of secrets (a webhook secret while it rotates)."""
    if isinstance(value, list):
        return [issue for k, item in enumerate(value) if item
                for issue in _reference_issue(loaded, (*path, k))]
    return _reference_issue(loaded, path) if value else []


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
        named: list[tuple[KeyPath, str]] = [
            (("tenants", t, "achievements", a, "deliver_to", d), channel)
            for a, achievement in enumerate(tenant.achievements)
            for d, channel in enumerate(achievement.deliver_to)]
        named += [(("tenants", t, "routing", name, i), channel)
                  for name, i, channel in tenant.routing.named()]
        if tenant.admin_channel is not None:
            named.append((("tenants", t, "admin_channel"), tenant.admin_channel))
        known = ", ".join(sorted(channel_ids)) or "none declared"
        issues += [ConfigIssue(loaded.line_of(path), path, f"unknown channel {channel!r} (channels: {known})")
                   for path, channel in named if channel not in channel_ids]
        issues += _duplicate_keys(tenant, t, loaded)
    issues += _unique_in_file(config, loaded)
    issues += _keys_stay_in_their_tenant(config, loaded)
    return issues


def _seen_before(
    seen: dict[str, KeyPath], value: str, path: KeyPath
) -> KeyPath | None:
    """Where `value` was first used, or None after remembering `path` as its first use."""
    if value in seen:
        return seen[value]
    seen[value] = path
    return None


def _unique_in_file(config: Config, loaded: Loaded) -> list[ConfigIssue]:
    """Tenant ids and connector ids are unique in the file: a webhook URL names one connector."""
    issues: list[ConfigIssue] = []
    tenants: dict[str, KeyPath] = {}
    connectors: dict[str, KeyPath] = {}
    for t, tenant in enumerate(config.tenants):
        path: KeyPath = ("tenants", t, "id")
        if first := _seen_before(tenants, tenant.id, path):
            issues.append(_again(loaded, path, f"duplicate tenant id {tenant.id!r}", first))
        for c, connector in enumerate(tenant.connectors):
            path = ("tenants", t, "connectors", c, "id")
            if first := _seen_before(connectors, connector.id, path):
                message = f"duplicate connector id {connector.id!r}: connector ids are unique in the file"
                issues.append(_again(loaded, path, message, first))
    return issues


def _keys_stay_in_their_tenant(config: Config, loaded: Loaded) -> list[ConfigIssue]:
    """An API key names exactly one tenant; no secret of one tenant is known to another.

    Values are compared after `${ENV}` expansion, so two references to one variable (or two
    equal defaults) collide. Messages name both places, never the value.
    """
    issues: list[ConfigIssue] = []
    api_keys: dict[str, KeyPath] = {}
    owners: dict[str, tuple[int, KeyPath]] = {}
    for t, path, value, is_api_key in _secrets(config):
        if is_api_key and (first := _seen_before(api_keys, value, path)):
            message = "this API key is used twice; a key names exactly one tenant"
            issues.append(_again(loaded, path, message, first))
            continue
        owner, first = owners.setdefault(value, (t, path))
        if owner != t:
            issues.append(_again(loaded, path, "this secret is also used by another tenant", first))
    return issues


def _secrets(config: Config) -> list[tuple[int, KeyPath, str, bool]]:
    """(tenant index, path, value, is it an API key) for every API key and webhook secret."""
    out: list[tuple[int, KeyPath, str, bool]] = []
    for t, tenant in enumerate(config.tenants):
        for k, key in enumerate(tenant.api_keys):
            out.append((t, ("tenants", t, "api_keys", k), key.get_secret_value(), True))
        for c, connector in enumerate(tenant.connectors):
            # whoever knows one of these can post into (or read from) its tenant
            for name, secret in connector.webhook_secrets().items():
                path = ("tenants", t, "connectors", c, name)
                out.append((t, path, secret.get_secret_value(), False))
    return [entry for entry in out if entry[2]]  # an empty value authenticates nothing


def _again(
    loaded: Loaded, path: KeyPath, message: str, first: KeyPath
) -> ConfigIssue:
    where = f"{format_path(first)} (line {loaded.line_of(first)})"
    return ConfigIssue(loaded.line_of(path), path, f"{message} (first used at {where})")


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
