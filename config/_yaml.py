"""YAML loading that keeps line numbers and expands `${NAME}` / `${NAME:-default}` references.

`load_with_lines(text)` returns plain Python data plus a map from a path tuple
(`("tenants", 0, "connectors", 0, "secret")`) to its 1-based line, so errors raised later by
pydantic can name the file and line of the offending field.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = ["ConfigIssue", "Defaulted", "Loaded", "load_with_lines", "is_reference"]

Path = tuple[str | int, ...]
_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-(.*?))?\}")
_WHOLE_REF = re.compile(r"^\s*\$\{[A-Za-z_][A-Za-z0-9_]*(?::-.*?)?\}\s*$")


@dataclass(frozen=True)
class ConfigIssue:
    line: int
    path: Path
    message: str

    def render(self, file: str) -> str:
        return f"{file}:{self.line}: {format_path(self.path) or '(top)'}: {self.message}"


@dataclass(frozen=True)
class Defaulted:
    """A `${NAME:-default}` reference that took its default: the variable was not exported."""

    path: Path
    line: int
    variable: str
    default: str


@dataclass
class Loaded:
    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    references: set[Path] = field(default_factory=set)
    issues: list[ConfigIssue] = field(default_factory=list)
    defaulted: list[Defaulted] = field(default_factory=list)

    def line_of(self, path: Path) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        for cut in range(len(path), -1, -1):
            if path[:cut] in self.lines:
                return self.lines[path[:cut]]
        return 1


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def is_reference(text: str) -> bool:
    return bool(_WHOLE_REF.match(text))


def load_with_lines(text: str, env: Mapping[str, str] | None = None) -> Loaded:
    env = os.environ if env is None else env
    loaded = Loaded(data=None)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        loaded.issues.append(ConfigIssue(line, (), f"invalid YAML: {problem}"))
        return loaded
    if node is None:
        loaded.issues.append(ConfigIssue(1, (), "the file is empty"))
        return loaded
    loaded.data = _build(node, (), loaded, env)
    return loaded


def _build(node: yaml.Node, path: Path, loaded: Loaded, env: Mapping[str, str]) -> Any:
    loaded.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in out:
                loaded.issues.append(
                    ConfigIssue(key_node.start_mark.line + 1, (*path, key), "duplicate key")
                )
            out[key] = _build(value_node, (*path, key), loaded, env)
            loaded.lines[(*path, key)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), loaded, env) for i, item in enumerate(node.value)]
    value = _CONSTRUCTOR.construct_object(node) if node.tag != _STR else node.value
    if isinstance(value, str) and "${" in value:
        if is_reference(value):
            loaded.references.add(path)
        return _expand(value, path, loaded, env, node.start_mark.line + 1)
    return value


_STR = "tag:yaml.org,2002:str"
_CONSTRUCTOR = yaml.SafeLoader("")


def _expand(value: str, path: Path, loaded: Loaded, env: Mapping[str, str], line: int) -> str:
    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            loaded.defaulted.append(Defaulted(path, line, name, default))
            return default
        loaded.issues.append(
            ConfigIssue(line, path, f"environment variable {name} is not set and has no default")
        )
        return ""

    return _REF.sub(substitute, value)
