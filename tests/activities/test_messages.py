"""Localised, accessible messages: English and Arabic (right to left) from the same keys, CLDR
plurals, numbers and dates by Babel, a plain text that carries the whole meaning, Slack blocks
that all have text, and an email whose HTML says its language and direction. The last test
runs the delivery activity on a real store (SQLite and PostgreSQL): the person's locale from
their profile, the tenant's for everyone else and for team posts."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from temporalio.testing import ActivityEnvironment

from activities.contracts import DeliverInput
from activities.delivery import DeliveryActivities
from activities.messages import Message, compose, resolve_locale
from activities.messages.catalog import CATALOGS
from channels import Clients
from channels.email import render
from channels.slack import build_blocks
from config import parse_config
from rules.definitions import AchievementSpec
from store.profiles import set_profile
from tests.channels.grants import grant_each
from tests.factories import CONFIG_TEXT, ENV

RLM, FSI, PDI = "\u200f", "\u2068", "\u2069"
GRANTED = datetime(2026, 11, 1, 23, 30, tzinfo=UTC)  # 2 November in Asia/Riyadh (UTC+3)


def _spec(count: int = 1, **extra: object) -> AchievementSpec:
    return AchievementSpec.model_validate({
        "key": "green", "version": 1, "name": "First green pipeline",
        "rule": {"count": count, "of": "ci.pipeline.completed", "where": {"outcome": "success"}},
        "deliver_to": ["console"], **extra})


def test_english_says_what_why_and_when_in_plain_words() -> None:
    message = compose(_spec(), {"count": 1}, locale="en", granted_at=GRANTED, zone="Europe/Berlin")
    assert message.text.splitlines() == [
        "You earned “First green pipeline”.",
        "Why: 1 ci.pipeline.completed event with outcome = success (you have 1).",
        "When: November 2, 2026",
    ]
    assert message.subject == "You earned “First green pipeline”"
    many = compose(_spec(5, next="Ten earn the next badge."), {"count": 1234}, locale="en")
    assert many.why == "5 ci.pipeline.completed events with outcome = success (you have 1,234)."
    assert "Next: Ten earn the next badge." in many.text


def test_arabic_is_arabic_right_to_left_with_its_own_plurals_and_dates() -> None:
    message = compose(_spec(), {"count": 1}, locale="ar", granted_at=GRANTED, zone="Asia/Riyadh")
    lines = message.text.splitlines()
    assert all(line.startswith(RLM) for line in lines)  # every line starts right to left
    assert lines[0] == f"{RLM}لقد حصلت على «{FSI}First green pipeline{PDI}»."
    assert lines[1].startswith(f"{RLM}السبب: حدث {FSI}ci.pipeline.completed{PDI} واحد")
    assert lines[2] == f"{RLM}التاريخ: 2 نوفمبر 2026"  # the grant's day in the reader's zone
    assert message.rtl and message.locale == "ar"
    forms = {n: compose(_spec(n), {"count": n}, locale="ar").why.split(" (")[0] for n in (2, 3, 11, 100)}
    assert forms[2].startswith("حدثان")  # CLDR "two"
    assert forms[3].startswith("3 أحداث")  # "few"
    assert forms[11].startswith("11 حدثًا")  # "many"
    assert forms[100].startswith("100 حدث ")  # "other"


def test_the_email_html_names_language_and_direction_and_says_what_the_text_says() -> None:
    for locale, direction in (("en", "ltr"), ("ar", "rtl")):
        message = compose(_spec(next="Keep <it> green"), {"count": 1}, locale=locale, granted_at=GRANTED)
        text, page = render(message)
        assert f'<html lang="{locale}" dir="{direction}">' in page
        for label, value in message.rows:
            assert f"{label}: {value}" in text
            assert f"<strong>{label}:</strong>" in page
        assert "Keep &lt;it&gt; green" in page and "Keep <it> green" in text


@pytest.mark.parametrize("locale", ["en", "ar"])
def test_every_slack_block_has_text_and_the_fallback_needs_no_emoji(locale: str) -> None:
    message = compose(_spec(next="Ten more"), {"count": 1}, locale=locale, granted_at=GRANTED)
    for block in build_blocks(message) + build_blocks(message.for_team("<@U0CODER>")):
        texts = [block["text"]["text"]] if "text" in block else [e["text"] for e in block["elements"]]
        assert texts and all(t.strip() for t in texts), block
    emoji = re.compile("[\U0001f300-\U0001faff\u2600-\u27bf]")
    assert not emoji.search(message.text)
    assert all(value in message.text for _, value in message.rows)


def test_the_locale_is_the_persons_when_known_else_the_tenants_else_english() -> None:
    assert resolve_locale("ar-EG", "en") == "ar_EG"
    assert resolve_locale(None, "ar") == "ar"
    assert resolve_locale("fr", "ar") == "ar"  # no French catalog: the tenant's language
    assert resolve_locale("not a locale", "en") == "en"


def test_every_catalog_has_every_key_and_every_plural_an_other_form() -> None:
    for language, catalog in CATALOGS.items():
        assert set(catalog) == set(CATALOGS["en"]), language
        for phrase in catalog.values():
            assert isinstance(phrase, str) or "other" in phrase


def test_the_delivery_speaks_the_persons_language_and_team_posts_the_tenants(engine: Engine, db_url: str) -> None:
    text = (CONFIG_TEXT.replace('"sqlite:///unused.db"', f'"{db_url}"')
            .replace("    shards: 4\n", "    shards: 4\n    time_zone: Asia/Riyadh\n")
            .replace('      - {person: demo-1, identities: ["github:id=15669918", "github:login=Codertocat"]}\n',
                     '      - {person: demo-1, identities: ["github:id=1"]}\n'
                     '      - {person: demo-2, identities: ["github:id=2"]}\n')
            .replace("deliver_to: [console, feed]", "deliver_to: [console]"))
    config = parse_config(text, file="test.yaml", env=ENV)
    with engine.begin() as conn:
        set_profile(conn, "demo", "demo-1", source="preferences", locale="ar")
    arabic, english = grant_each(engine, config, {"demo-1": "1", "demo-2": "2"})
    console = io.StringIO()
    activities = DeliveryActivities(engine, config, clients=Clients(console=console))
    for grant_id in (arabic, english):
        ActivityEnvironment().run(activities.deliver, DeliverInput(tenant="demo", grant_id=grant_id,
                                                                   channel="console"))
    printed = console.getvalue()
    assert f"[accolade] demo/demo-1: {RLM}لقد حصلت على" in printed
    assert "[accolade] demo/demo-2: You earned “First green pipeline”." in printed
    assert "التاريخ: 1 نوفمبر 2026" in printed and "When: November 1, 2026" in printed


def test_a_message_built_by_hand_still_reads_in_english() -> None:
    message = Message(title="T", why="w", next=None)
    assert message.text == "You earned “T”.\nWhy: w"


def test_an_arabic_email_arrives_in_arabic_with_its_direction() -> None:
    from dataclasses import replace

    from channels.email import EmailChannel, EmailSettings
    from tests.channels.grants import delivery
    from tests.smtp_sink import SmtpSink

    message = compose(_spec(), {"count": 1}, locale="ar", granted_at=GRANTED, zone="Asia/Riyadh")
    settings = EmailSettings.model_validate({"id": "email", "kind": "email", "smtp": "127.0.0.1:1",
                                             "from": "accolade@example.com"})
    with SmtpSink() as sink:
        channel = EmailChannel(settings.model_copy(update={"smtp": sink.address}), Clients())
        channel.send(replace(delivery("email", "coder@example.com"), message=message))
    [(_, mail)] = sink.received
    assert mail["Subject"] == f"لقد حصلت على «{FSI}First green pipeline{PDI}»"
    assert mail.get_body(("plain",)).get_content().rstrip("\n") == message.text
    assert '<html lang="ar" dir="rtl">' in mail.get_body(("html",)).get_content()
