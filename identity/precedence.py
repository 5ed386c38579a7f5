"""Which source of a link wins, and which identities are never linked (issue 11 item 4).

Origins rank, highest first:

| rank | origin | who writes it |
|---|---|---|
| 5 | `scim`, `okta` | the IAM system: SCIM provisioning, Okta |
| 4 | `config` | the `people:` list in accolade.yaml |
| 3 | `cli`, `api` | an admin: `accolade identity link`, the API |
| 2 | `payload`, `derived` | a verified email in a vendor payload (xAPI `mbox`, LMS email); a key |
|   |   | derived from a link (an email's `mbox_sha1sum`) |
| 1 | `<system>-lookup` | a channel's lookup, e.g. Slack `users.lookupByEmail` (`slack-lookup`) |

A lower source never overrides a higher one; a higher one takes the key over (and the
conflict is recorded, `identity.conflicts`); an equal one is refused. A derived key is claimed
with the rank of the link it derives from.

Never linked: bot accounts (a login ending in `[bot]`, and `github-actions`), GitHub no-reply
addresses (`ID+login@users.noreply.github.com` is read as `github:id=ID`; the older
`login@users.noreply.github.com` names no id and is refused), GitLab's `[REDACTED]`, and the
shared mailboxes a tenant lists (`shared_mailboxes:`).
"""

from __future__ import annotations

from collections.abc import Collection

from rules.events import github_noreply_id

__all__ = ["IAM_ORIGINS", "NeverLinked", "check_linkable", "rank", "translate_key"]

Key = tuple[str, str, str]
IAM_ORIGINS = ("scim", "okta")
_RANKS = {"scim": 5, "okta": 5, "config": 4, "cli": 3, "api": 3, "payload": 2, "derived": 2}
_BOT_LOGINS = ("github-actions",)
_REDACTED = "[redacted]"


class NeverLinked(ValueError):
    """An identity that must never name a person (a bot, a no-reply or shared address)."""


def rank(origin: str) -> int:
    """The origin's rank (higher wins); an unknown origin is a programming error."""
    if origin in _RANKS:
        return _RANKS[origin]
    if origin.endswith("-lookup"):
        return 1
    raise ValueError(f"unknown link origin {origin!r}")


def translate_key(key: Key) -> Key:
    """A GitHub no-reply address with an id is that GitHub user: `github:id=ID`."""
    system, kind, value = key
    if system == "email":
        user_id = github_noreply_id(value)
        if user_id is not None:
            return ("github", "id", user_id)
    return key


def check_linkable(key: Key, *, shared_mailboxes: Collection[str] = ()) -> None:
    """Raise NeverLinked, naming the rule, when `key` may not name a person."""
    system, kind, value = key
    lowered = value.lower()
    if lowered == _REDACTED or lowered.endswith(f"@{_REDACTED}"):
        raise NeverLinked(f"{system}:{value} is GitLab's redacted placeholder, not an identity")
    if kind == "login" and (lowered.endswith("[bot]") or lowered in _BOT_LOGINS):
        raise NeverLinked(f"{system}:login={value} is a bot account; bots are never linked")
    if system == "email" and lowered.endswith("users.noreply.github.com"):
        raise NeverLinked(f"{value} is a GitHub no-reply address without a user id; link github:id=… instead")
    if system == "email" and lowered in {m.lower() for m in shared_mailboxes}:
        raise NeverLinked(f"{value} is a shared mailbox of this tenant (shared_mailboxes); never linked")
