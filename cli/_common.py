"""Shared CLI plumbing: finding the config (DESIGN §7) and failing with one clear line."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from config import Config, ConfigError, TenantSettings, load_config

__all__ = ["RUN_DIR", "die", "find_config_path", "load", "parse_time", "pick_tenant"]

RUN_DIR = Path(".accolade")
UP_RECORD = RUN_DIR / "up.json"


def die(message: str, code: int = 2) -> NoReturn:
    print(f"accolade: {message}", file=sys.stderr)
    raise SystemExit(code)


def find_config_path(explicit: str | None) -> str:
    """`--config`, else $ACCOLADE_CONFIG, else what `accolade up` recorded, else ./accolade.yaml."""
    if explicit:
        return explicit
    if env := os.environ.get("ACCOLADE_CONFIG"):
        return env
    if UP_RECORD.exists():
        try:
            return str(json.loads(UP_RECORD.read_text())["config"])
        except (ValueError, KeyError, OSError):
            pass
    if Path("accolade.yaml").exists():
        return "accolade.yaml"
    die("no config: pass --config, set ACCOLADE_CONFIG, run `accolade up`, or add ./accolade.yaml")


def load(explicit: str | None) -> tuple[str, Config]:
    path = find_config_path(explicit)
    try:
        return path, load_config(path)
    except ConfigError as exc:
        die("invalid config:\n" + "\n".join(exc.lines()))


def pick_tenant(config: Config, tenant_id: str | None) -> TenantSettings:
    if tenant_id is None:
        if len(config.tenants) == 1:
            return config.tenants[0]
        die("several tenants are configured: pass --tenant " + "|".join(t.id for t in config.tenants))
    tenant = config.tenant(tenant_id)
    if tenant is None:
        die(f"no tenant {tenant_id!r} in the config")
    return tenant


_TIME = TypeAdapter(AwareDatetime)


def parse_time(text: str | None, *, option: str) -> datetime | None:
    """`--at` / `--time`: an ISO 8601 time with its offset (or Z); None passes through."""
    if text is None:
        return None
    try:
        return _TIME.validate_python(text)
    except ValidationError:
        die(f"{option} {text!r}: not an ISO 8601 time with an offset, e.g. 2026-11-22T12:00:00Z")
