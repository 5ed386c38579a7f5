"""Group commit: the writes of concurrent requests in one transaction.

Every write transaction on SQLite takes the one write lock of the file, and each BEGIN and
COMMIT costs the same whether it carries 100 events or 800. Under load the receiver's
requests queue for that lock anyway; so instead of taking turns they are committed together:
the first request to arrive leads, runs every waiting request's work in ONE transaction, and
hands the lead to the next waiting request when it is done (so no leader is kept busy by a
steady stream while its own client waits).

Nothing is acknowledged before its work committed: `run` returns only after the transaction
holding the work committed. If the group's transaction fails, each work is run again alone,
so one request's failure never fails its neighbours'.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine

__all__ = ["GroupCommit"]

T = TypeVar("T")


@dataclass(eq=False)
class _Slot(Generic[T]):
    work: Callable[[Connection], T]
    done: threading.Event = field(default_factory=threading.Event)
    lead: bool = False
    value: Any = None
    error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[no-any-return]


class GroupCommit:
    """`run(work)` from any thread: `work(conn)` runs inside a transaction shared with the
    works of concurrent callers, at most `max_group` of them."""

    def __init__(self, engine: Engine, *, max_group: int = 32) -> None:
        self._engine = engine
        self._max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Slot[Any]] = []
        self._leading = False

    def run(self, work: Callable[[Connection], T]) -> T:
        slot: _Slot[T] = _Slot(work)
        with self._lock:
            self._queue.append(slot)
            slot.lead = not self._leading
            self._leading = True
        while not slot.lead and not slot.done.is_set():
            slot.done.wait()
            if slot.lead:  # promoted: lead the group that waited behind the last one
                slot.done.clear()
                break
        if slot.lead:
            self._lead()
        return slot.result()

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue[: self._max_group], self._queue[self._max_group:]
        try:
            self._commit(group)
        finally:
            for slot in group:
                slot.done.set()
            self._hand_over()

    def _hand_over(self) -> None:
        with self._lock:
            if not self._queue:
                self._leading = False
                return
            successor = self._queue[0]
            successor.lead = True
        successor.done.set()

    def _commit(self, group: list[_Slot[Any]]) -> None:
        try:
            with self._engine.begin() as conn:
                for slot in group:
                    slot.value = slot.work(conn)
            return
        except Exception as exc:  # noqa: BLE001 - handed to the caller of `run`
            if len(group) == 1:
                group[0].value, group[0].error = None, exc
                return
        for slot in group:  # one work failed the group: run each alone, each with its own error
            self._alone(slot)

    def _alone(self, slot: _Slot[Any]) -> None:
        try:
            with self._engine.begin() as conn:
                slot.value, slot.error = slot.work(conn), None
        except Exception as exc:  # noqa: BLE001 - handed to the caller of `run`
            slot.value, slot.error = None, exc
