"""Intake: the one path every source writes through (webhooks, the batch API, poll pages).

`intake.ingest` validates, routes and appends; `intake.webhooks` verifies and parses vendor
deliveries; `intake.health` counts per connector; `intake.context.Intake` holds what they
share. `api/` and `activities/` call in here; nothing in here imports them.
"""
