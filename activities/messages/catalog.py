"""The phrases a person reads, per language: translatable keys, plurals by CLDR category.

A catalog is a plain mapping, key → text with `{placeholders}` (or, for counted phrases, CLDR
plural category → text: `zero`, `one`, `two`, `few`, `many`, `other`; `other` is required).
Which category a number takes is Babel's (`Locale.plural_form`), so Arabic's six forms and
English's two come from the same data as every other CLDR consumer.

To add a language, add its catalog to `CATALOGS` with every key of English (a test checks);
`DIRECTIONS` says which languages are written right to left. Achievement names, descriptions
and next steps are the tenant's own text (config) and are not translated here.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["CATALOGS", "DIRECTIONS", "Phrase"]

Phrase = str | Mapping[str, str]

_EN: dict[str, Phrase] = {
    "earned": "You earned “{title}”.",
    "team_earned": "{who} earned “{title}”.",
    "subject": "You earned “{title}”",
    "why": "Why",
    "next": "Next",
    "when": "When",
    "events": {"one": "{count} {type} event", "other": "{count} {type} events"},
    "with": "with",
    "you_have": "you have {count}",
}

_AR: dict[str, Phrase] = {
    "earned": "لقد حصلت على «{title}».",
    "team_earned": "حصل {who} على «{title}».",
    "subject": "لقد حصلت على «{title}»",
    "why": "السبب",
    "next": "الخطوة التالية",
    "when": "التاريخ",
    "events": {
        "zero": "لا أحداث {type}",
        "one": "حدث {type} واحد",
        "two": "حدثان {type}",
        "few": "{count} أحداث {type}",
        "many": "{count} حدثًا {type}",
        "other": "{count} حدث {type}",
    },
    "with": "حيث",
    "you_have": "لديك {count}",
}

CATALOGS: dict[str, dict[str, Phrase]] = {"en": _EN, "ar": _AR}
DIRECTIONS: dict[str, str] = {"ar": "rtl", "he": "rtl", "fa": "rtl", "ur": "rtl"}
