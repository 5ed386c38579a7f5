"""Rule kinds: one small module each, all speaking `rules.kinds.base.Kind`.

`count` (with distinct, windows, without, tiers, repeatable, points), `streak`, `maintained`
and `all` (with `ordered`). `kind_for(spec, ...)` picks the one a spec's rule names.
"""

from __future__ import annotations

from rules.definitions import AchievementSpec
from rules.kinds.base import Kind, Run
from rules.kinds.count import CountKind
from rules.kinds.maintained import MaintainedKind
from rules.kinds.steps import StepsKind
from rules.kinds.streak import StreakKind

__all__ = ["Kind", "Run", "kind_for"]

_KINDS: dict[str, type[Kind]] = {"count": CountKind, "streak": StreakKind, "maintained": MaintainedKind,
                                 "all": StepsKind}


def kind_for(spec: AchievementSpec) -> Kind:
    return _KINDS[spec.rule.kind](spec)
