"""Person profiles: a person's own preference outranks the IAM profile, field by field."""

from __future__ import annotations

from sqlalchemy import Engine

from store.profiles import load_profiles, person_zones, set_profile


def test_iam_zone_applies_until_the_person_sets_their_own(engine: Engine) -> None:
    with engine.begin() as conn:
        set_profile(conn, "acme", "p1", source="scim", time_zone="America/New_York", locale="en-US")
        assert person_zones(conn, "acme", ["p1", "p2"]) == {"p1": "America/New_York"}
        set_profile(conn, "acme", "p1", source="preferences", time_zone="Europe/Berlin")
        # IAM syncs again later: the person's choice stays, the locale (still IAM's) moves
        stored = set_profile(conn, "acme", "p1", source="scim", time_zone="Asia/Tokyo", locale="ar")
    assert stored.time_zone == "Europe/Berlin" and stored.time_zone_source == "preferences"
    assert stored.locale == "ar" and stored.locale_source == "scim"


def test_clearing_a_preference_lets_the_next_iam_value_in(engine: Engine) -> None:
    with engine.begin() as conn:
        set_profile(conn, "acme", "p1", source="preferences", time_zone="Europe/Berlin")
        set_profile(conn, "acme", "p1", source="preferences", time_zone=None)
        set_profile(conn, "acme", "p1", source="scim", time_zone="Asia/Tokyo")
        assert load_profiles(conn, "acme", ["p1"])["p1"].time_zone == "Asia/Tokyo"
        assert person_zones(conn, "other", ["p1"]) == {}  # tenants never see each other's rows
