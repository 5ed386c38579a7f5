"""The console channel: one line per grant on the worker's standard output (the demo's view).

It needs no recipient and cannot fail; the line and the `sent` status are written together
(`transactional`), so a kill after the record (`deliver:after-send`) never prints twice.
"""

from __future__ import annotations

import threading
from typing import Literal

from channels.base import Channel, ChannelSettings, Delivery, Links, Sent

__all__ = ["ConsoleChannel", "ConsoleSettings"]

_WRITE = threading.Lock()  # deliveries run in a thread pool


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
        # One write per message, under a lock: `print` writes the text and its newline apart, so
        # two deliveries printing at once interleaved ("When: …[accolade] …") on one line.
        with _WRITE:
            self.clients.console.write(f"[accolade] {grant.tenant}/{grant.person_id}: "
                                       f"{delivery.message.text}\n")
            self.clients.console.flush()
        return Sent()
