"""Per-kind progress state: what one person has toward one achievement version.

Every state carries the headline fields that the `progress` table has always had (`count`,
`granted`, `first_events`, `digest`), so a pre-Rules-2 row still loads: `state_from_json(None,
…)` makes a count state from those columns, and a rule of another kind adopts it (its count and
evidence are kept, its kind-specific part starts empty).

States are plain slotted objects: the engine copies a state before it changes it during one
`evaluate` call and never touches it afterwards, so callers may treat them as frozen. Instants
are UTC POSIX seconds; JSON keeps them as numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from hashlib import sha256
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    "CountState",
    "EVIDENCE_FIRST_N",
    "MaintainedState",
    "RuleState",
    "StepsState",
    "StreakState",
    "state_from_json",
]

EVIDENCE_FIRST_N = 20
_VERSION = 1


class RuleState:
    """The common part. `extra` names a subclass's own fields and their empty values."""

    kind: ClassVar[str] = "count"
    extra: ClassVar[dict[str, Any]] = {}
    _containers: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _makers: ClassVar[dict[str, type]] = {}
    _deep: ClassVar[frozenset[str]] = frozenset()  # containers holding lists that kinds change in place
    _shallow: ClassVar[Callable[[RuleState], RuleState]]
    _blank: ClassVar[Callable[[], RuleState]]
    __slots__ = ("count", "granted", "first_events", "digest", "high", "occurrences")

    count: int
    granted: bool
    first_events: tuple[str, ...]  # tuples: fewer objects for the garbage collector to scan
    digest: str
    high: float | None  # the latest event time applied: lateness is measured from it
    occurrences: tuple[str, ...]

    def __init__(self, *, count: int = 0, granted: bool = False, first_events: Sequence[str] = (),
                 digest: str = "", high: float | None = None, occurrences: Sequence[str] = (),
                 **extra: Any) -> None:
        self.count = count
        self.granted = granted
        self.first_events = tuple(first_events)
        self.digest = digest
        self.high = high
        self.occurrences = tuple(occurrences)
        for name, empty in self.extra.items():
            value = extra.pop(name, None)
            setattr(self, name, _fresh(empty) if value is None else _load(empty, value))
        if extra:
            raise ValueError(f"unknown {self.kind} state fields: {sorted(extra)}")

    def record(self, event_key: str) -> None:
        """Count `event_key` into the evidence: the first N keys and a running digest of all."""
        if len(self.first_events) < EVIDENCE_FIRST_N:
            self.first_events = (*self.first_events, event_key)
        self.digest = sha256(f"{self.digest}|{event_key}".encode()).hexdigest()

    def copy(self) -> RuleState:
        """A private copy for one evaluate call: containers copied, nested lists too (hot path)."""
        new = self._shallow()
        deep = self._deep
        for name in self._containers:
            value = getattr(self, name)
            if type(value) in _MUTABLE:  # a shared immutable empty stays shared
                setattr(new, name, _copied(value) if name in deep else value.copy())
        return new

    def _fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "count": self.count, "granted": self.granted, "first_events": self.first_events,
            "digest": self.digest, "high": self.high, "occurrences": self.occurrences}
        for name in self.extra:
            out[name] = getattr(self, name)
        return out

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "v": _VERSION}
        for name, value in self._fields().items():
            out[name] = _dump(value)
        return out

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.to_json() == other.to_json()  # type: ignore[union-attr]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_json()!r})"

    @classmethod
    def fresh(cls, containers: Iterable[str] | None = None) -> RuleState:
        """An empty state without the keyword parsing of `__init__` (hot path).

        Only `containers` (default: all) get a container of their own; the others share an
        immutable empty one, which the kind that was compiled with them never changes. Fewer
        objects per state is less work for the garbage collector, which is most of the cost.
        """
        new = cls._blank()
        makers = cls._makers
        for name in cls._containers if containers is None else containers:
            setattr(new, name, makers[name]())
        return new

    def __init_subclass__(cls) -> None:
        extra = [name for name, empty in cls.extra.items() if isinstance(empty, list | dict | set)]
        cls._containers = tuple(extra)
        cls._makers = {k: type(v) for k, v in cls.extra.items() if isinstance(v, list | dict | set)}
        cls._defaults = {"count": 0, "granted": False, "first_events": (), "digest": "", "high": None,
                         "occurrences": (), **{k: _frozen(v) for k, v in cls.extra.items()}}
        cls._shallow, cls._blank = _accessors(cls, list(cls._defaults))


def _accessors(cls: type[RuleState], names: list[str]) -> tuple[Any, Any]:
    """`shallow(state)` and `blank()` for a slotted state class, as straight-line code.

    A loop of getattr/setattr over the slots cost several times more, once per state per
    evaluate call; this is generated once per class from its field names (identifiers only).
    """
    scope: dict[str, Any] = {"_new": object.__new__, "C": cls, "D": cls._defaults}
    source = "def shallow(self):\n    new = _new(C)\n"
    source += "".join(f"    new.{name} = self.{name}\n" for name in names) + "    return new\n"
    source += "def blank():\n    new = _new(C)\n"
    source += "".join(f"    new.{name} = D[{name!r}]\n" for name in names) + "    return new\n"
    exec(compile(source, f"<{cls.__name__} accessors>", "exec"), scope)  # noqa: S102 - our own field names
    return scope["shallow"], scope["blank"]


_MUTABLE = (list, dict, set)
_EMPTY_MAP: Mapping[str, Any] = MappingProxyType({})


def _frozen(empty: Any) -> Any:
    """The shared immutable stand-in for an empty container."""
    if isinstance(empty, list):
        return ()
    if isinstance(empty, set):
        return frozenset()
    return _EMPTY_MAP if isinstance(empty, dict) else empty


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: v[:] if isinstance(v, list) else v for k, v in value.items()}
    if isinstance(value, list):
        return [v[:] if isinstance(v, list) else v for v in value]
    return set(value)


def _fresh(empty: Any) -> Any:
    return type(empty)() if isinstance(empty, list | dict | set) else empty


def _load(empty: Any, value: Any) -> Any:
    if isinstance(empty, set):
        return set(value)
    if isinstance(empty, dict):
        return {k: list(v) if isinstance(v, list | tuple) else v for k, v in value.items()}
    if isinstance(empty, list):
        return [list(v) if isinstance(v, list | tuple) else v for v in value]
    return value


def _dump(value: Any) -> Any:
    if isinstance(value, set | frozenset):
        return sorted(value)
    if isinstance(value, Mapping):
        return {k: _dump(v) for k, v in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_dump(v) for v in value]
    return value


class CountState(RuleState):
    """Count, distinct, windowed, without; with tiers, repeatable and points on top.

    `total` is what thresholds compare (events, or distinct values); `count` is the headline
    (the current window's count for a windowed rule). `windows`: key -> [start, end, zone,
    count, granted]; `times`: event times of a rolling window; `points_by`: window key -> points.
    """

    kind = "count"
    _deep = frozenset({"windows"})
    extra = {"total": 0, "values": set(), "windows": {}, "times": [], "reset_after": None,
             "points": 0, "points_by": {}}
    __slots__ = tuple(extra)


class StreakState(RuleState):
    """`periods`: the periods with an event (sorted); `base_units`: grants' worth of streaks
    folded out of `periods` (too old for any late event to change them); `zone`: of the last one."""

    kind = "streak"
    extra = {"periods": [], "base_units": 0, "zone": None}
    __slots__ = tuple(extra)


class MaintainedState(RuleState):
    """`log`: [time, is_break, event key] sorted; `base`: the start in force before the log."""

    kind = "maintained"
    _deep = frozenset({"log", "broken_after_grant"})
    extra = {"log": [], "base": None, "since": None, "broken_after_grant": []}
    __slots__ = tuple(extra)


class StepsState(RuleState):
    """`steps`: per step, the sorted times of its matching events (earliest few kept)."""

    kind = "all"
    _deep = frozenset({"steps"})
    extra = {"steps": [], "done": []}
    __slots__ = tuple(extra)


_KINDS: dict[str, type[RuleState]] = {
    c.kind: c for c in (CountState, StreakState, MaintainedState, StepsState)}


def state_from_json(data: dict[str, Any] | None, *, count: int = 0, first_events: Sequence[str] = (),
                    digest: str = "", granted: bool = False) -> RuleState:
    """A stored state; `data` None is a pre-0008 count row, rebuilt from its columns."""
    if data is None:
        occurrences = ["1"] if granted else []
        return CountState(count=count, total=count, granted=granted, first_events=first_events,
                          digest=digest, occurrences=occurrences)
    fields = {k: v for k, v in data.items() if k not in ("kind", "v")}
    return _KINDS[data.get("kind", "count")](**fields)
