"""Composing a `Message` from an achievement, its evidence and the reader's locale (Babel)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_decimal

from activities.messages.catalog import CATALOGS, DIRECTIONS, Phrase
from rules.definitions import AchievementSpec

__all__ = ["Message", "compose", "describe_rule", "resolve_locale"]

_RLM, _FSI, _PDI = "\u200f", "\u2068", "\u2069"


def resolve_locale(preferred: str | None, default: str = "en") -> str:
    """The locale to write in: the person's when Babel knows it and a catalog has its
    language, else the tenant's default, else English. Tags may use `-` or `_`."""
    for tag in (preferred, default):
        if tag and (locale := _parse(tag)) is not None and locale.language in CATALOGS:
            return str(locale)
    return "en"


def _parse(tag: str) -> Locale | None:
    try:
        return Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class _Words:
    """The catalog of one locale, with Babel's plural rule and number format."""

    locale: str
    babel: Locale = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "babel", Locale.parse(self.locale))

    @property
    def rtl(self) -> bool:
        return DIRECTIONS.get(self.babel.language) == "rtl"

    def value(self, text: Any) -> str:
        """A value from elsewhere (a name, an event type), isolated inside RTL text."""
        return f"{_FSI}{text}{_PDI}" if self.rtl else str(text)

    def say(self, key: str, count: int | None = None, **values: Any) -> str:
        phrase: Phrase = CATALOGS[self.babel.language][key]
        if not isinstance(phrase, str):
            form = self.babel.plural_form(count if count is not None else 0)
            phrase = phrase.get(form) or phrase["other"]
        number = {} if count is None else {"count": format_decimal(count, locale=self.babel)}
        return phrase.format(**number, **values)


@dataclass(frozen=True)
class Message:
    """`title`, `why`, `next` and `when` are in the reader's language already; `labels` are
    the words before them ("Why", "Next", "When"); `headline` is the first line."""

    title: str
    why: str
    next: str | None
    locale: str = "en"
    headline: str | None = None
    when: str | None = None
    labels: tuple[str, str, str] = ("Why", "Next", "When")
    subject: str | None = None
    rtl: bool = False

    @property
    def first_line(self) -> str:
        return self.headline or f"You earned “{self.title}”."

    @property
    def rows(self) -> list[tuple[str, str]]:
        """(label, text) after the headline, in order: why, next, when."""
        why, next_, when = self.labels
        rows = [(why, self.why)] + ([(next_, self.next)] if self.next else [])
        return rows + ([(when, self.when)] if self.when else [])

    @property
    def text(self) -> str:
        lines = [self.first_line] + [f"{label}: {text}" for label, text in self.rows]
        return "\n".join(f"{_RLM}{line}" if self.rtl else line for line in lines)

    def for_team(self, who: str) -> Message:
        """The same message as a team channel reads it: `who` earned it."""
        words = _Words(self.locale)
        headline = words.say("team_earned", who=words.value(who), title=words.value(self.title))
        return replace(self, headline=headline)


def describe_rule(spec: AchievementSpec, locale: str = "en") -> str:
    """What the rule counts, in words: "5 ci.pipeline.completed events with outcome = success"."""
    words = _Words(locale)
    rule = spec.rule
    counted = words.say("events", rule.count, type=words.value(rule.of))
    conditions = ", ".join(f"{k} {_condition(v)}" for k, v in sorted(rule.where.items()))
    return f"{counted} {words.say('with')} {words.value(conditions)}" if conditions else counted


def _condition(value: Any) -> str:
    if isinstance(value, dict):
        ((op, operand),) = value.items()
        return f"{op} {_condition(operand) if op == 'not' else operand}"  # `not` wraps a condition
    if isinstance(value, list):
        return "in " + "/".join(map(str, value))
    return f"= {value}"


def compose(spec: AchievementSpec, evidence: dict[str, Any], *, locale: str = "en",
            granted_at: datetime | None = None, zone: str = "UTC") -> Message:
    """The message of one grant in `locale` (see `resolve_locale`); the date is the grant's
    day in the reader's time zone `zone`."""
    words = _Words(locale)
    count = evidence.get("count", spec.rule.count)
    why = f"{describe_rule(spec, locale)} ({words.say('you_have', count)})."
    if spec.description:
        why = f"{words.value(spec.description)} — {why}"
    when = None
    if granted_at is not None:
        when = format_date(granted_at.astimezone(ZoneInfo(zone)).date(), format="long", locale=words.babel)
    title = words.value(spec.name)
    return Message(
        title=spec.name, why=why, next=words.value(spec.next) if spec.next else None, locale=str(words.babel),
        headline=words.say("earned", title=title), when=when, subject=words.say("subject", title=title),
        labels=(words.say("why"), words.say("next"), words.say("when")), rtl=words.rtl)
