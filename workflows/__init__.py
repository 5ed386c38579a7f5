"""Temporal workflows: orchestration only, deterministic, free of I/O imports.

`tests/workflows/test_import_purity.py` proves that importing this package loads no HTTP
client, vendor SDK or database driver.
"""

from workflows.delivery import DeliverGrantWorkflow
from workflows.digest import DigestWorkflow, digest_id
from workflows.evaluator import EvaluatorWorkflow, evaluator_id
from workflows.poller import PollWorkflow, poller_id
from workflows.watch import ConnectorWatchWorkflow, watcher_id

WORKFLOWS = (EvaluatorWorkflow, DeliverGrantWorkflow, DigestWorkflow, PollWorkflow, ConnectorWatchWorkflow)

__all__ = [
    "WORKFLOWS", "ConnectorWatchWorkflow", "DeliverGrantWorkflow", "DigestWorkflow", "EvaluatorWorkflow",
    "PollWorkflow", "digest_id", "evaluator_id", "poller_id", "watcher_id",
]
