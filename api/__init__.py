"""HTTP: webhook receivers, CloudEvents ingest, read/admin API."""

from api.app import create_app

__all__ = ["create_app"]
