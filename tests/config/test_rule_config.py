"""Rule kinds in `accolade.yaml`: every mistake is a config error naming file, line and field."""

from __future__ import annotations

import pytest

from config import ConfigError, parse_config

HEAD = """\
tenants:
  - id: acme
    time_zone: {zone}
    achievements:
      - key: rule-under-test
        version: 1
        name: Under test
"""


def _errors(body: str, zone: str = "Europe/Berlin") -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD.format(zone=zone) + body, file="acc.yaml", env={})
    return caught.value.lines()


def _loads(body: str) -> None:
    parse_config(HEAD.format(zone="UTC") + body, file="acc.yaml", env={})


@pytest.mark.parametrize(("body", "expected"), [
    ("        rule: {streek: {period: day, length: 3}, of: deploy.completed}\n",
     "acc.yaml:8: tenants[0].achievements[0].rule.streek: unknown rule field 'streek'; a rule takes count,"),
    ("        rule:\n          count: 5\n          of: ci.pipeline.completed\n          window: {rolling: 0d}\n",
     "acc.yaml:11: tenants[0].achievements[0].rule.window: rolling: a window must be longer than 0"),
    ("        rule:\n          count: 5\n          of: ci.pipeline.completed\n          window: {calendar: fortnight}\n",
     "acc.yaml:11: tenants[0].achievements[0].rule.window.calendar: Input should be 'day', 'week' or 'month'"),
    ("        rule:\n          count: 1\n          of: code.change.merged\n          where: {branch: {regex: '(unclosed'}}\n",
     "acc.yaml:11: tenants[0].achievements[0].rule.where: branch: regex '(unclosed' does not compile"),
    ("        rule: {of: ci.pipeline.completed}\n        tiers: [{name: gold, count: 50}, {name: bronze, count: 10}]\n",
     "acc.yaml:5: tenants[0].achievements[0]: tiers: counts must rise strictly from first to last, got [50, 10]"),
    ("        rule: {count: 3, of: ci.pipeline.completed}\n        tiers: [{name: bronze, count: 10}]\n",
     "acc.yaml:5: tenants[0].achievements[0]: rule.count: tiers replace count; drop one of them"),
    ("        rule: {streak: {period: day, length: 3}, count: 2, of: deploy.completed}\n",
     "acc.yaml:8: tenants[0].achievements[0].rule: count: not a field of a streak rule"),
    ("        rule: {maintained: 30d, from: {of: iam.user.provisioned}}\n",
     "acc.yaml:8: tenants[0].achievements[0].rule: maintained needs `from` (what starts it) and `broken_by`"),
    ("        rule: {streak: {period: month, length: 3}, of: deploy.completed}\n",
     "acc.yaml:8: tenants[0].achievements[0].rule.streak.period: Input should be 'day', 'workday' or 'week'"),
    ("        rule: {count: 2, of: x.y.z, where: {score: {not: {gt: high}}}}\n",
     "acc.yaml:8: tenants[0].achievements[0].rule.where: score: gt needs a number"),
])
def test_bad_rules_name_file_line_and_field(body: str, expected: str) -> None:
    errors = _errors(body)
    assert any(line.startswith(expected) for line in errors), errors


def test_unknown_time_zone_is_a_config_error() -> None:
    errors = _errors("        rule: {count: 1, of: x.y.z}\n", zone="Mars/Olympus")
    assert errors == ["acc.yaml:3: tenants[0].time_zone: unknown time zone 'Mars/Olympus'"]


def test_every_shape_of_design_section_8_loads() -> None:
    for rule in (
        "{count: 5, of: ci.pipeline.completed, where: {outcome: success}, window: {calendar: week}}",
        "{count: 5, of: ci.pipeline.completed, window: {rolling: 7d}}",
        "{count: 5, distinct: activity, of: lms.activity.completed}",
        "{streak: {period: day, length: 3, grace: 0}, of: deploy.completed, where: {outcome: success}}",
        "{count: 5, of: ticket.resolved, without: {of: ticket.reassigned, same: ticket}}",
        "{maintained: 30d, from: {of: iam.user.provisioned}, broken_by: {of: compliance.check.failed}}",
        "{all: [{of: lms.course.completed, where: {course: intro}}, {of: deploy.completed}], ordered: true}",
        "{count: 1, of: code.change.merged, where: {branch: {regex: '^release/'}, outcome: {not: failure}}}",
    ):
        _loads(f"        rule: {rule}\n")
    _loads("        rule: {of: ci.pipeline.completed}\n"
           "        tiers: [{name: bronze, count: 10}, {name: silver, count: 50}]\n"
           "        points: {per_event: 10, cap: {per: week, max: 100}}\n        hidden: true\n")
    _loads("        rule: {count: 10, of: ci.pipeline.completed}\n        repeatable: {every: 10, max: 5}\n")
