"""`accolade migrate`: prepare the store once, before any receiver or worker starts.

`accolade up` does this itself before it starts its children. On a cluster nobody runs `up`,
so the one-shot `accolade-migrate` service of `docker-compose.yml` runs this command instead:
the same `prepare_store` (Alembic migrations, publishing achievement versions, applying the
config's `people`), so both ways of running the hub start from the same store. It is
idempotent: a second run changes nothing and exits 0.

Exit status: 0 when the store is ready; 2 when the config is invalid or an achievement's rule
changed under a published version (each problem printed as `file: field: message`).
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli._common import load

__all__ = ["migrate"]


def migrate(
    config: Annotated[str | None, typer.Option("--config", "-c", help="path to accolade.yaml")] = None,
) -> None:
    """Migrate the store, publish achievement versions and apply `people`; then exit."""
    from sqlalchemy.engine import make_url

    from cli.up import prepare_store  # late: keeps `accolade --help` free of SQLAlchemy

    path, cfg = load(config)
    if problems := prepare_store(cfg):
        for problem in problems:
            print(f"accolade migrate: {path}: {problem}", flush=True)
        raise SystemExit(2)
    where = make_url(cfg.store.url).render_as_string(hide_password=True)
    versions = sum(len(t.achievements) for t in cfg.tenants)
    print(f"accolade migrate: store {where} is ready ({versions} achievement version(s) checked)")
