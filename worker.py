"""The Temporal worker process (`python worker.py --config FILE`).

Evaluation and delivery workflows are registered here by the durable-evaluation work; until
then the worker only connects, so `accolade up` can already supervise it.
"""
