"""The pure rule engine: thresholds, filters, evidence and grant ids."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from rules.definitions import AchievementSpec
from rules.engine import (
    EVIDENCE_FIRST_N,
    EvalEvent,
    Evaluation,
    RuleContext,
    compile_rule,
    evaluate,
    grant_id,
)
from tests.factories import event

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def spec(count: int = 1, of: str = "ci.pipeline.completed", version: int = 1, **where: object) -> AchievementSpec:
    return AchievementSpec(key="green", version=version, name="Green",
                           rule={"count": count, "of": of, "where": where})


def items(*events_: object, person: str = "p1") -> list[EvalEvent]:
    return [EvalEvent(i, person, e, {"link": "github:id"}) for i, e in enumerate(events_)]


def run(rule: AchievementSpec, batch: list[EvalEvent], state: dict | None = None) -> Evaluation:
    return evaluate(state or {}, batch, [compile_rule(rule)], context=RuleContext(tenant="t"), now=NOW)


def test_threshold_grants_exactly_once_when_reached() -> None:
    rule = spec(count=3, outcome="success")
    first = run(rule, items(*(event(str(i), outcome="success") for i in range(2))))
    assert first.grants == [] and first.state[("p1", "green")].count == 2
    second = run(rule, items(event("2", outcome="success"), event("3", outcome="success")), first.state)
    assert len(second.grants) == 1 and second.state[("p1", "green")].count == 4
    assert second.grants[0].occurrence == "1"
    assert run(rule, items(event("4", outcome="success")), second.state).grants == []


@pytest.mark.parametrize(("where", "data", "counts"), [
    ({"outcome": "success"}, {"outcome": "failure"}, False),
    ({"outcome": ["success", "neutral"]}, {"outcome": "neutral"}, True),
    ({"score": {"gte": 80}}, {"score": 80}, True),
    ({"score": {"gt": 80}}, {"score": "79.5"}, False),
    ({"score": {"lt": 10}}, {}, False),
    ({"environment": {"exists": True}}, {"environment": "prod"}, True),
    ({"environment": {"exists": False}}, {"environment": "prod"}, False),
    ({"environment": {"ne": "prod"}}, {"environment": "staging"}, True),
    ({"repository.owner": "acme"}, {"repository": {"owner": "acme"}}, True),
    ({"outcome": {"in": ["success"]}}, {"outcome": "success"}, True),
])
def test_attribute_filters(where: dict, data: dict, counts: bool) -> None:
    assert bool(run(spec(**where), items(event("x", **data))).grants) is counts


def test_other_event_types_do_not_count() -> None:
    assert run(spec(), items(event("x", type="deploy.completed", outcome="success"))).grants == []


def test_failed_condition_explains_why_not() -> None:
    rule = compile_rule(spec(outcome="success"))
    assert rule.failed_condition(event("x", outcome="failure")) == "outcome eq 'success'"
    assert rule.failed_condition(event("x", outcome="success")) is None


def test_grant_id_is_deterministic_opaque_and_version_independent() -> None:
    [v1] = run(spec(version=1), items(event("x"))).grants
    [v2] = run(spec(version=2, outcome={"exists": False}), items(event("y"))).grants
    assert v1.grant_id == v2.grant_id == grant_id("t", "green", "p1")
    assert "p1" not in v1.grant_id and "green" not in v1.grant_id
    assert grant_id("t", "green", "p2") != v1.grant_id
    assert grant_id("other", "green", "p1") != v1.grant_id


def test_evidence_keeps_first_n_count_and_digest_of_all() -> None:
    n = EVIDENCE_FIRST_N + 5
    batch = items(*(event(str(i)) for i in range(n)))
    [grant] = run(spec(count=n), batch).grants
    ev = grant.evidence.to_json()  # the stored shape: pre-Rules-2 readers find their keys
    assert ev["count"] == n and len(ev["events"]) == EVIDENCE_FIRST_N
    assert ev["events"][0] == "/test/source#0"
    assert ev["rule"] == {"key": "green", "version": 1, "hash": spec(count=n).content_hash(),
                          "kind": "count", "count": n, "of": "ci.pipeline.completed"}
    assert ev["identity"] == {"person": "p1", "link": "github:id"}
    [again] = run(spec(count=n), batch).grants
    assert again.evidence == grant.evidence  # pure: same inputs, same outputs


def test_people_progress_separately() -> None:
    batch = items(event("a")) + items(event("b"), person="p2")
    assert sorted(g.person_id for g in run(spec(count=1), batch).grants) == ["p1", "p2"]


def test_content_hash_changes_with_the_rule_not_with_delivery() -> None:
    base = spec(count=2)
    assert base.content_hash() == spec(count=2).model_copy(update={"name": "Renamed"}).content_hash()
    assert base.content_hash() != spec(count=3).content_hash()


def test_bad_rule_definitions_are_refused() -> None:
    with pytest.raises(ValidationError):
        spec(score={"gt": "high"})
    with pytest.raises(ValidationError):
        spec(score={"between": [1, 2]})
    with pytest.raises(ValidationError):
        spec(count=0)


def test_published_count_only_hashes_do_not_change() -> None:
    demo = AchievementSpec(key="first-green-pipeline", version=1, name="First green pipeline",
                           rule={"count": 1, "of": "ci.pipeline.completed", "where": {"outcome": "success"}})
    assert demo.content_hash() == "7b90ef239cb56fbd"  # as published before Rules 2


def test_content_hash_covers_what_decides_a_grant_and_not_visibility() -> None:
    base = AchievementSpec(key="k", version=1, name="K", rule={"count": 5, "of": "x.y.z"})
    changes = [
        {"repeatable": {"every": 5}},
        {"points": {"per_event": 10}},
        {"rule": {"count": 5, "of": "x.y.z", "window": {"calendar": "week"}}},
        {"rule": {"count": 5, "of": "x.y.z", "distinct": "course"}},
        {"rule": {"of": "x.y.z"}, "tiers": [{"name": "bronze", "count": 5}]},
    ]
    hashes = {AchievementSpec(**{**base.model_dump(by_alias=True, exclude_none=True), **c}).content_hash()
              for c in changes}
    assert len(hashes) == len(changes) and base.content_hash() not in hashes
    assert base.model_copy(update={"hidden": True}).content_hash() == base.content_hash()


@pytest.mark.parametrize("parts", [("t", "green", "p1", 1), ("acme", "x-y", "person-7", "2026-W10"),
                                   ("ü", "k", "p", "gold")])
def test_grant_id_is_uuid5(parts: tuple) -> None:
    import uuid

    from rules.engine import GRANT_NAMESPACE

    expected = str(uuid.uuid5(GRANT_NAMESPACE, "\x1f".join(str(p) for p in parts)))
    assert grant_id(*parts) == expected
