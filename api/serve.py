"""Run the receiver as its own process: `python -m api.serve --config FILE`."""

from __future__ import annotations

import argparse
import asyncio
import logging

import uvicorn
from temporalio.client import Client

from activities.temporal_client import EvaluatorNotifier, connect
from api.app import create_app
from config import Config, load_config
from store import create_store_engine

__all__ = ["main"]

log = logging.getLogger("accolade.receiver")


async def serve(config_path: str) -> None:
    config = load_config(config_path)
    engine = create_store_engine(config.store.url)
    client = None
    try:
        client = await connect(config)
    except RuntimeError as exc:  # the SDK raises RuntimeError when it cannot connect
        log.warning("Temporal at %s unreachable (%s): accepting events anyway; the notifier "
                    "reconnects by itself", config.temporal.target(), exc)
    notifier = EvaluatorNotifier(client, config)
    notifier.start()
    app = create_app(config, engine, notifier=notifier, temporal=lambda: _client(config, client))
    app.state.intake.start()
    server = uvicorn.Server(uvicorn.Config(app, host=config.api.host, port=config.api.port,
                                           log_level="warning"))
    try:
        await server.serve()
    finally:
        await notifier.stop()
        app.state.intake.close()  # the counters it holds
        engine.dispose()


async def _client(config: Config, connected: Client | None) -> Client:
    """The receiver's client, or a fresh connection when it had none at start."""
    return connected if connected is not None else await connect(config)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="accolade-receiver")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s receiver %(levelname)s %(message)s")
    asyncio.run(serve(args.config))


if __name__ == "__main__":
    main()
