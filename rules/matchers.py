"""Filters on event data, compiled once per rule version into plain closures (no per-event parsing).

A condition that cannot be judged on an odd event (a string where a number was expected, a
list where text was) raises `OddValue`: the engine then does not count the event and reports
it in `Evaluation.skipped`. A missing attribute is simply no match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "OddValue", "Predicate", "compile_where", "lookup", "number"]

MISSING: Any = object()
Predicate = Callable[[dict[str, Any]], bool]


class OddValue(ValueError):
    """An attribute's value has a type the condition cannot judge."""


def lookup(data: dict[str, Any], path: str) -> Any:
    if "." not in path:
        return data.get(path, MISSING)
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return MISSING
        value = value[part]
    return value


def number(value: Any, description: str) -> float | None:
    """A number from a number or numeric text; None when absent; OddValue otherwise."""
    if value is MISSING or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OddValue(f"{description}: {type(value).__name__} is not a number")
    try:
        return float(value)
    except ValueError:
        raise OddValue(f"{description}: {value!r} is not a number") from None


def _regex(pattern: str, description: str) -> Callable[[Any], bool]:
    search = re.compile(pattern).search

    def test(value: Any) -> bool:
        if value is MISSING or value is None:
            return False
        if not isinstance(value, str | int | float):
            raise OddValue(f"{description}: {type(value).__name__} is not text")
        return search(str(value)) is not None
    return test


def _compare(op: str, operand: Any, description: str) -> Callable[[Any], bool]:
    if op == "eq":
        return lambda v: v == operand
    if op == "ne":
        return lambda v: v is not MISSING and v != operand
    if op == "in":
        allowed = list(operand)
        return lambda v: v in allowed
    if op == "exists":
        return lambda v: (v is not MISSING and v is not None) == operand
    if op == "regex":
        return _regex(operand, description)
    if op == "not":
        inner = _compare(*_operator(operand), description)
        return lambda v: not inner(v)
    bound = float(operand)
    check = {"gt": bound.__lt__, "gte": bound.__le__, "lt": bound.__gt__, "lte": bound.__ge__}[op]
    return lambda v: (n := number(v, description)) is not None and check(n)


def _operator(condition: Any) -> tuple[str, Any]:
    if isinstance(condition, dict):
        ((op, operand),) = condition.items()
        return op, operand
    if isinstance(condition, list):
        return "in", condition
    return "eq", condition


def _condition(attribute: str, condition: Any) -> tuple[str, Predicate]:
    op, operand = _operator(condition)
    description = f"{attribute} {op} {operand!r}"
    test = _compare(op, operand, description)
    if "." not in attribute:
        return description, lambda data: test(data.get(attribute, MISSING))
    return description, lambda data: test(lookup(data, attribute))


def compile_where(where: dict[str, Any]) -> tuple[tuple[str, Predicate], ...]:
    """(description, test) per condition, in a stable order."""
    return tuple(_condition(a, c) for a, c in sorted(where.items()))
