"""Admin alerts: one line to the tenant's `admin_channel`, for connector and delivery incidents.

Both incident kinds (`activities.watch` for connectors, `activities.dead_letters` for
deliveries) call `admin_alert` inside the transaction that claims the incident's notice, so a
retried activity finds the notice claimed and says nothing twice; only a crash between the
line and the commit can repeat it.

`console` prints `[accolade:alert] <tenant>: <text> [incident <n>]` on the worker's output.
Other kinds are logged as not supported for admin alerts yet (the incident is still recorded
and its notice marked told), as is a tenant without an `admin_channel`.
"""

from __future__ import annotations

import logging
from typing import TextIO

from config.models import TenantSettings

__all__ = ["admin_alert"]

log = logging.getLogger("accolade.alerts")


def admin_alert(tenant: TenantSettings, text: str, *, incident: int, console: TextIO) -> str:
    """Send one alert line; returns the line (ids, channel names and reasons only)."""
    line = f"[accolade:alert] {tenant.id}: {text} [incident {incident}]"
    channel = tenant.channel(tenant.admin_channel) if tenant.admin_channel else None
    if channel is not None and channel.kind == "console":
        print(line, file=console, flush=True)
    elif channel is None:
        log.warning("%s (tenant %s has no admin_channel)", line, tenant.id)
    else:
        log.warning("%s (admin alerts to %s channels are not supported yet)", line, channel.kind)
    return line
