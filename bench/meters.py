"""Per-process meters for the benchmark, read from Linux /proc: CPU time and peak memory.

CPU is reported two ways: the share of a core each process used over a phase, and CPU
milliseconds per 1,000 events, which compares directly with the budget of issue 8:
10,000 events/s on 2 cores leaves 2,000 CPU-ms per second / 10,000 events = 200 CPU-ms per
1,000 events for everything (dev server, worker, receiver, load generator). A phase that
spends more per 1,000 events cannot reach 10,000 events/s on this machine whatever it waits
on; `CpuMeter.render` prints the rate its cost allows.

Peak memory is the kernel's high-water mark (`VmHWM`), the most resident memory the process
ever had: read once after a phase it catches a peak that sampling would miss. psutil does not
expose it on Linux (and is not installed here), so /proc is read directly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["BUDGET_EVENTS_PER_S", "CpuMeter", "budget_ms_per_1000", "cpu_seconds", "mb", "peak_rss"]

BUDGET_EVENTS_PER_S = 10_000  # issue 8's target, end to end


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc); 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def peak_rss(pid: int) -> int | None:
    """The process's peak resident set size in bytes (`VmHWM`); None where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # the kernel reports kB
    except (OSError, IndexError, ValueError):
        pass
    return None


def mb(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:,.0f} MB"


def budget_ms_per_1000(cores: int) -> float:
    """CPU-ms per 1,000 events that `cores` cores allow at BUDGET_EVENTS_PER_S (2 cores: 200)."""
    return cores * 1000 / BUDGET_EVENTS_PER_S * 1000


class CpuMeter:
    """CPU seconds each process used between `start()` and `stop()`.

    `groups` names sets of processes that come and go, listed anew at start and at stop (the
    PostgreSQL server's processes): a process that appears counts from zero, one that ended
    in between is lost, which pooled connections make rare.
    """

    def __init__(self, pids: dict[str, int],
                 groups: dict[str, Callable[[], list[int]]] | None = None) -> None:
        self.pids = pids
        self.groups = groups or {}
        self.before: dict[str, float] = {}
        self.group_before: dict[str, dict[int, float]] = {}
        self.used: dict[str, float] = {}
        self.wall = 0.0

    def start(self) -> None:
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.group_before = {name: {pid: cpu_seconds(pid) for pid in list_pids()}
                             for name, list_pids in self.groups.items()}
        self.wall = time.monotonic()

    def stop(self) -> None:
        self.wall = time.monotonic() - self.wall
        self.used = {name: cpu_seconds(pid) - self.before[name] for name, pid in self.pids.items()}
        for name, list_pids in self.groups.items():
            before = self.group_before[name]
            self.used[name] = sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in list_pids())

    def ms_per_1000(self, events: int) -> dict[str, float]:
        """CPU milliseconds each process spent per 1,000 of `events`."""
        return {name: 1_000_000 * used / events for name, used in self.used.items()} if events > 0 else {}

    def render(self, events: int, *, drained: bool = True, cores: int | None = None) -> list[str]:
        """The share of a core per process, and CPU-ms per 1,000 `events` against the budget."""
        shares = [f"{name} {used:.0f} s ({100 * used / self.wall:.0f}%)" for name, used in self.used.items()]
        lines = [f"CPU over {self.wall:.0f} s (100% = one core): " + ", ".join(shares)]
        if events <= 0:
            return lines
        cores = cores or os.cpu_count() or 1
        per_1000 = self.ms_per_1000(events)
        total = sum(per_1000.values())
        budget = budget_ms_per_1000(cores)
        parts = ", ".join(f"{name} {ms:,.0f}" for name, ms in per_1000.items())
        lines.append(f"CPU-ms per 1,000 events ({events:,} events): {parts}; all {total:,.0f} ms "
                     f"= {100 * total / budget:.0f}% of the budget")
        lines.append(f"  budget: {BUDGET_EVENTS_PER_S:,} events/s on {cores} cores leaves {budget:,.0f} "
                     f"CPU-ms per 1,000 events for everything; at {total:,.0f} ms the {cores} cores "
                     f"carry at most {cores * 1_000_000 / total:,.0f} events/s")
        if not drained:
            lines.append("  (not drained: the evaluation of the events still queued is not in these figures)")
        return lines
