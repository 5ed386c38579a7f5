"""Identity references as people type them: `SYSTEM:VALUE` (DESIGN §7).

`github:15669918` or `github:Codertocat` tries the stable id, then the login; `github:id=…`,
`github:login=…`, `email:…`, `slack:U…` force the kind. Logins and emails compare
case-insensitively; ids verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["IdentityRef", "parse_identity_ref"]

_SYSTEM = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_KINDS = ("id", "login", "email")


@dataclass(frozen=True)
class IdentityRef:
    system: str
    value: str
    kind: str | None = None  # None: try id, then login

    def candidates(self) -> list[tuple[str, str, str]]:
        """(system, kind, value) lookups in order of trust."""
        if self.system == "email":
            return [("email", "id", self.value.lower())]
        if self.kind == "login":
            return [(self.system, "login", self.value.lower())]
        if self.kind == "id":
            return [(self.system, "id", self.value)]
        return [(self.system, "id", self.value), (self.system, "login", self.value.lower())]

    def __str__(self) -> str:
        kind = f"{self.kind}=" if self.kind else ""
        return f"{self.system}:{kind}{self.value}"


_MAX_VALUE = 320  # the identities.value column


def parse_identity_ref(text: str) -> IdentityRef:
    """Parse `SYSTEM:VALUE`; raise ValueError with a message a person can act on."""
    if len(text) > _MAX_VALUE + 40:
        raise ValueError(f"identity of {len(text)} characters is too long (at most {_MAX_VALUE})")
    if not text.isprintable():  # NUL, control characters and lone surrogates
        raise ValueError(f"identity {text!r} contains control characters or invalid text")
    system, sep, rest = text.partition(":")
    if not sep or not rest:
        raise ValueError(f"identity {text!r} must look like SYSTEM:VALUE, e.g. github:octocat")
    system = system.strip().lower()
    if not _SYSTEM.match(system):
        raise ValueError(f"identity {text!r}: {system!r} is not a system name")
    kind, eq, value = rest.partition("=")
    if eq and kind in _KINDS and value:
        if system == "email" or kind == "email":
            return IdentityRef("email", value.strip().lower(), "id")
        return IdentityRef(system, value.strip(), kind)
    if system == "email":
        return IdentityRef("email", rest.strip().lower(), "id")
    if system == "slack":
        return IdentityRef("slack", rest.strip(), "id")
    return IdentityRef(system, rest.strip(), None)
