"""What people and admins ask of the rules: simulate, why and why not.

Everything here reads; nothing writes. Evaluation runs through the pure engine exactly as the
evaluator's round does (`rules.engine.evaluate`, the same compile and the same `RuleContext`
building); explanations come from `rules.explain`.
"""

from insight.simulate import SimulationError, SimulationRequest, simulate
from insight.why import UnknownAchievement, person_report, why

__all__ = ["SimulationError", "SimulationRequest", "UnknownAchievement", "person_report", "simulate", "why"]
