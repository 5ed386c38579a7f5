"""Temporal workflows: orchestration only, deterministic, free of I/O imports."""
