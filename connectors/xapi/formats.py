"""The `format` of a Statement GET (xAPI Communication §2.1.3): `exact`, `ids`, `canonical`.

- `exact`: the statement as stored.
- `ids`: agents and identified groups reduced to their identifier (anonymous groups keep
  their members, reduced likewise), activities to their `id`, verbs to their `id`.
- `canonical`: every language map (verb `display`, activity `name`/`description`, attachment
  `display`/`description`, interaction components) reduced to one entry: the first language
  of `Accept-Language` that the map has, else its first entry.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FORMATS", "accepted_languages", "formatted"]

FORMATS = ("exact", "ids", "canonical")
_IFI = ("mbox", "mbox_sha1sum", "openid", "account")
_LANGUAGE_MAPS = frozenset({"display", "name", "description"})


def formatted(statement: dict[str, Any], form: str, *, languages: list[str]) -> dict[str, Any]:
    if form == "ids":
        return _ids(statement)
    if form == "canonical":
        return _canonical(statement, languages)
    return statement


def _ids(value: Any, key: str | None = None) -> Any:
    if isinstance(value, list):
        return [_ids(v, key) for v in value]
    if not isinstance(value, dict):
        return value
    if key == "verb":
        return {"id": value.get("id")}
    if any(name in value for name in _IFI) or value.get("objectType") == "Group":
        kept = {k: v for k, v in value.items() if k in (*_IFI, "objectType")}
        if "member" in value and not any(name in value for name in _IFI):
            kept["member"] = [_ids(m) for m in value["member"]]
        return kept
    if value.get("objectType", "Activity") == "Activity" and "id" in value and key in _ACTIVITY_KEYS:
        return {k: v for k, v in value.items() if k in ("objectType", "id")}
    return {k: _ids(v, k) for k, v in value.items()}


_ACTIVITY_KEYS = frozenset({"object", "parent", "grouping", "category", "other"})


def _canonical(value: Any, languages: list[str], key: str | None = None) -> Any:
    if isinstance(value, list):
        return [_canonical(v, languages) for v in value]
    if not isinstance(value, dict):
        return value
    if key in _LANGUAGE_MAPS and value and all(isinstance(v, str) for v in value.values()):
        return dict([_pick(value, languages)])
    return {k: _canonical(v, languages, k) for k, v in value.items()}


def _pick(language_map: dict[str, str], languages: list[str]) -> tuple[str, str]:
    lowered = {tag.lower(): tag for tag in language_map}
    for wanted in languages:
        wanted = wanted.lower()
        for tag_lower, tag in lowered.items():
            if tag_lower == wanted or tag_lower.split("-")[0] == wanted:
                return tag, language_map[tag]
    first = next(iter(language_map))
    return first, language_map[first]


def accepted_languages(header: str | None) -> list[str]:
    """`Accept-Language` tags in order of preference (q-values honoured, `*` dropped)."""
    ranked = []
    for n, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            ranked.append((-quality, n, tag))
    return [tag for _, _, tag in sorted(ranked)]

