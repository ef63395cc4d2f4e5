"""Discord: the bot in servers and DMs (mentions, threads, voice messages, slash commands).

``make_adapter(app)`` is what the launcher calls; the adapter translates Discord
payloads to :class:`~audiogpt.core.events.Incoming` and answers through the
dialogue. It never talks to a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord  # noqa: F401  (imported here so a missing discord.py is reported at start-up)

if TYPE_CHECKING:
    from audiogpt.bots.discord.adapter import DiscordAdapter
    from audiogpt.core.app import App


def make_adapter(app: App) -> DiscordAdapter:
    from audiogpt.bots.discord.adapter import DiscordAdapter

    return DiscordAdapter(app)


__all__ = ["make_adapter"]
