"""The console channel: one line per grant on the worker's standard output (the demo's view).

It needs no recipient and cannot fail; the line and the `sent` status are written together
(`transactional`), so a kill after the record (`deliver:after-send`) never prints twice.
"""

from __future__ import annotations

from typing import Literal

from channels.base import Channel, ChannelSettings, Delivery, Links, Sent

__all__ = ["ConsoleChannel", "ConsoleSettings"]


class ConsoleSettings(ChannelSettings):
    kind: Literal["console"]


class ConsoleChannel(Channel[ConsoleSettings]):
    kind = "console"
    settings_model = ConsoleSettings
    transactional = True

    def recipient(self, links: Links) -> str:
        return ""

    def send(self, delivery: Delivery) -> Sent:
        grant = delivery.grant
        print(f"[accolade] {grant.tenant}/{grant.person_id}: {delivery.message.text}",
              file=self.clients.console, flush=True)
        return Sent()
