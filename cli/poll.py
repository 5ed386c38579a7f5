"""`accolade connectors poll-now ID`: ask a connector's poller to poll now."""

from __future__ import annotations

import asyncio

from cli._common import die, load

__all__ = ["poll_now"]


def poll_now(connector_id: str, config_path: str | None) -> None:
    """Signal `poll/<tenant>/<id>` (starting it if it is not running); exit 2 when the
    connector does not poll, 1 when Temporal cannot be reached."""
    from activities.temporal_client import connect, polls, start_poller

    _, config = load(config_path)
    found = config.find_connector(connector_id)
    if found is None:
        die(f"no connector {connector_id!r} in the config")
    tenant, settings = found
    if not settings.enabled:
        die(f"connector {connector_id} is paused (enabled: false)")
    if not polls(config, tenant.id, connector_id):
        die(f"connector {connector_id} ({settings.vendor}) does not poll: it has no polling settings "
            "(e.g. Jira polls only when `url` is set)")

    async def poke() -> None:
        client = await connect(config)
        await start_poller(client, config, tenant.id, connector_id, poke=True)

    try:
        asyncio.run(poke())
    except RuntimeError as exc:  # the SDK's "failed client connect"
        die(f"Temporal at {config.temporal.target()} is not reachable ({exc})", 1)
    print(f"poller poll/{tenant.id}/{connector_id} asked to poll now; "
          f"`accolade connectors status` shows the cycle when it ends")
