"""The feed channel: the person's in-app feed (`GET /v1/persons/{identity}/feed`).

The feed row is written in the same transaction as the `sent` status (`transactional`), and
is unique per (grant, channel). `write_feed` is also the fallback of channels that cannot
reach a person (Slack without a token, email without an address).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from channels.base import Channel, ChannelSettings, Delivery, Links, Sent
from store import insert_for
from store.schema import feed

__all__ = ["FeedChannel", "FeedSettings", "write_feed"]


class FeedSettings(ChannelSettings):
    kind: Literal["feed"]


class FeedChannel(Channel[FeedSettings]):
    kind = "feed"
    settings_model = FeedSettings
    transactional = True

    def recipient(self, links: Links) -> str:
        return ""

    def send(self, delivery: Delivery) -> Sent:
        write_feed(delivery.store, delivery)
        return Sent()


def write_feed(conn: Any, delivery: Delivery) -> None:
    grant = delivery.grant
    conn.execute(insert_for(conn, feed).values(
        tenant=grant.tenant, person_id=grant.person_id, grant_id=grant.grant_id,
        channel=delivery.channel_id, title=delivery.message.title, body=delivery.message.text,
        created_at=datetime.now(UTC),
    ).on_conflict_do_nothing(index_elements=["grant_id", "channel"]))
