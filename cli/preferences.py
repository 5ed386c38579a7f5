"""`accolade preferences set|show IDENTITY`: a person's delivery preferences, on the store.

`set` changes only the options given; `off` clears quiet hours, digest, throttle, time zone
or locale; `--opt-out` adds channels and `--opt-in` removes them. Bad input exits 2 naming the
option (`--quiet-hours: '25:00-08:00' is not HH:MM-HH:MM, e.g. 22:00-08:00`), checked by the
model the API uses (`store.preferences.Preferences`).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from cli._common import die
from cli.people import _engine, read_store, resolve
from config.models import Config, TenantSettings
from store.preferences import Preferences, load_preferences, preferences_view, save_preferences

__all__ = ["set_preferences", "show_preferences"]

_OFF = "off"


def set_preferences(config: Config, tenant: TenantSettings, identity: str, *, opt_out: list[str],
                    opt_in: list[str], options: dict[str, str | None]) -> None:
    """`options` maps field names to what was typed (None: not given)."""
    engine = _engine(config)
    try:
        with engine.begin() as conn:
            person = resolve(conn, tenant, identity)
            update = _update(load_preferences(conn, tenant.id, person), tenant, opt_out, opt_in, options)
            save_preferences(conn, tenant.id, person, update)
            view = preferences_view(conn, tenant.id, person, tenant_zone=tenant.time_zone)
    finally:
        engine.dispose()
    print(render(view, tenant))


def _update(current: Preferences, tenant: TenantSettings, opt_out: list[str], opt_in: list[str],
            options: dict[str, str | None]) -> Preferences:
    values: dict[str, Any] = {name: None if typed == _OFF else typed
                              for name, typed in options.items() if typed is not None}
    if opt_out or opt_in:
        values["opt_out"] = sorted((set(current.opt_out) | set(opt_out)) - set(opt_in))
    try:
        update = Preferences.model_validate(values)
        Preferences(opt_out=opt_out + opt_in).check_channels(c.id for c in tenant.channels)
    except ValidationError as exc:
        error = exc.errors()[0]
        die(f"--{str(error['loc'][0]).replace('_', '-')}: {str(error['msg']).removeprefix('Value error, ')}")
    except ValueError as exc:
        die(f"--{'opt-out' if opt_out else 'opt-in'}: {exc}")
    return update


def show_preferences(config: Config, tenant: TenantSettings, identity: str, *, as_json: bool) -> None:
    view = read_store(config, lambda conn: preferences_view(
        conn, tenant.id, resolve(conn, tenant, identity), tenant_zone=tenant.time_zone))
    print(json.dumps(view, indent=2) if as_json else render(view, tenant))


def render(view: dict[str, Any], tenant: TenantSettings) -> str:
    zone = view.get("time_zone") or f"{tenant.time_zone} (the tenant's)"
    source = f" (from {view['time_zone_source']})" if view.get("time_zone_source") else ""
    locale_source = f" (from {view['locale_source']})" if view.get("locale_source") else ""
    return "\n".join([
        f"person {view['person']} (tenant {tenant.id})",
        f"opted out of: {', '.join(view['opt_out']) or 'nothing'}",
        f"quiet hours: {view['quiet_hours'] or 'none'}",
        f"digest: {view['digest'] or 'none (single messages)'}",
        f"throttle: {str(view['throttle']) + ' a day' if view['throttle'] else 'none'}",
        f"time zone: {zone}{source}",
        f"locale: {view.get('locale') or 'not set'}{locale_source}",
    ])
