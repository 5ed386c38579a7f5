"""What people and admins ask of the rules: simulate, why and why not.

Everything here reads; nothing writes. Evaluation runs through the pure engine exactly as the
evaluator's activity does (`rules.engine.evaluate`, the same compile and the same
`RuleContext` building); explanations come from `rules.explain`.
"""
