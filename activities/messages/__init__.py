"""What a person reads when they earn something: one `Message` per grant, in their language.

`compose(spec, evidence, locale=…, granted_at=…, zone=…)` fills the message from the catalog
of the person's language (`activities.messages.catalog`; English when the language has none)
with Babel doing plurals (`events`), numbers and dates by locale. Channels render the one
`Message` their own way (console line, feed entry, Slack blocks, email text and HTML), and
the plain text (`Message.text`) always carries the whole meaning: what was earned, why, what
next and when, in words; nothing depends on an emoji or a colour.

Right-to-left languages (`Message.rtl`): every line of the text starts with a RIGHT-TO-LEFT
MARK and every value from elsewhere (an achievement name, an event type, a Slack mention) is
wrapped in FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE, so a Latin name inside Arabic
text neither flips the line nor is flipped by it; the email's HTML says `dir="rtl"`.

Where the locale comes from: `resolve_locale(profile_locale, tenant_default)`, the person's
(`store.profiles`: preferences, else the IAM profile), else the tenant's `locale` (`en`).
"""

from __future__ import annotations

from activities.messages._compose import Message, compose, describe_rule, resolve_locale

__all__ = ["Message", "compose", "describe_rule", "resolve_locale"]
