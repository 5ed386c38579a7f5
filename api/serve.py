"""Run the receiver as its own process: `python -m api.serve --config FILE`."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from api.app import create_app
from config import load_config
from store import create_store_engine

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="accolade-receiver")
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    config = load_config(args.config)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s receiver %(levelname)s %(message)s")
    engine = create_store_engine(config.store.url)
    app = create_app(config, engine, notifier=_notifier(config))
    uvicorn.run(app, host=config.api.host, port=config.api.port, log_level="warning")


def _notifier(config: object) -> None:
    return None  # evaluators arrive with the durable-evaluation work


if __name__ == "__main__":
    main()
