"""Discord messages -> :class:`Incoming`, and where a conversation lives.

Conversation keys are ``discord:thread:<id>``, ``discord:dm:<channel id>`` and
``discord:channel:<id>`` (inline answers). After ``/reset`` a key gets an
epoch suffix (``discord:thread:<id>:2``) so the old history stays in SQL but the
LLM starts fresh. The channel to post in is always the key's third field, so a
reply recovered after a restart can be posted with nothing but its key.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import discord

from audiogpt.bots.fetch_policy import FetchRefused, HostPolicy
from audiogpt.core.artifacts import safe_name
from audiogpt.core.events import Attachment, Incoming

VOICE_FLAG = 1 << 13  # MessageFlags.IS_VOICE_MESSAGE
PLATFORM = "discord"


@dataclass(frozen=True)
class Place:
    """Where a conversation is: its kind, the channel (or thread) id to post in, and its key."""

    kind: str  # "thread" | "dm" | "channel"
    channel_id: int
    epoch: int = 0

    @property
    def key(self) -> str:
        base = f"{PLATFORM}:{self.kind}:{self.channel_id}"
        return f"{base}:{self.epoch}" if self.epoch else base

    @property
    def epoch_scope(self) -> str:
        """The settings scope that holds this place's ``/reset`` counter."""
        return f"{PLATFORM}:{self.kind}:{self.channel_id}"


def parse_key(key: str) -> Place:
    """The :class:`Place` of a conversation key; ``ValueError`` for a key that is not Discord's."""
    parts = key.split(":")
    if len(parts) < 3 or parts[0] != PLATFORM or parts[1] not in ("thread", "dm", "channel"):
        raise ValueError(f"{key!r} is not a Discord conversation key")
    return Place(parts[1], int(parts[2]), int(parts[3]) if len(parts) > 3 else 0)


def is_voice_message(message: discord.Message) -> bool:
    """Discord's voice message: the flag and exactly one audio attachment."""
    if not (message.flags.value & VOICE_FLAG) or len(message.attachments) != 1:
        return False
    ctype = (message.attachments[0].content_type or "").split(";")[0].strip()
    return ctype.startswith("audio/") or message.attachments[0].filename.endswith(".ogg")


def mentions_user(message: discord.Message, user_id: int) -> bool:
    """The bot is mentioned by name, or by its own role (Discord's picker often offers that one)."""
    if any(u.id == user_id for u in message.mentions):
        return True
    role = message.guild.self_role if message.guild is not None else None
    return role is not None and any(r.id == role.id for r in message.role_mentions)


def replies_to_user(message: discord.Message, user_id: int) -> bool:
    """A reply to one of ``user_id``'s messages (the referenced message comes with the event)."""
    ref = message.reference
    if ref is None:
        return False
    resolved = ref.resolved
    return isinstance(resolved, discord.Message) and resolved.author.id == user_id


def clean_text(message: discord.Message, bot_id: int) -> str:
    """The message text without the bot's own mention (the LLM needs the request, not the ping)."""
    text = re.sub(rf"<@!?{bot_id}>", "", message.content or "")
    role = message.guild.self_role if message.guild is not None else None
    if role is not None:
        text = text.replace(f"<@&{role.id}>", "")
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def attachment_of(att: discord.Attachment, *, timeout: float, policy: HostPolicy) -> Attachment:
    """A lazily downloaded attachment; its declared size lets the dialogue refuse it before download.

    The download goes through the client's own HTTP session, and only from Discord's CDN
    (``policy``: :func:`audiogpt.bots.fetch_policy.discord_policy`); a URL elsewhere, a 404
    or a download slower than ``timeout`` raises, and the dialogue turns that into one
    sentence naming the file.
    """

    async def fetch() -> bytes:
        if not policy.allows(att.url):
            raise FetchRefused("the attachment URL is not on Discord's CDN",
                               f"I did not open '{safe_name(att.filename)}': its link does not point to "
                               "Discord's file servers.")
        try:
            return await asyncio.wait_for(att.read(), timeout)
        except TimeoutError as exc:
            raise TimeoutError(f"downloading {att.filename} took longer than {timeout:.0f} s") from exc

    mime = (att.content_type or "application/octet-stream").split(";")[0].strip()
    return Attachment(name=att.filename, mime=mime, size=int(att.size or 0), fetch=fetch)


def to_incoming(message: discord.Message, *, place: Place, bot_id: int, fetch_timeout: float,
                policy: HostPolicy, text: str | None = None) -> Incoming:
    """The platform-neutral event for one Discord message addressed to the bot."""
    voice = is_voice_message(message)
    body = clean_text(message, bot_id) if text is None else text
    atts = tuple(attachment_of(a, timeout=fetch_timeout, policy=policy) for a in message.attachments)
    return Incoming(
        platform=PLATFORM,
        conversation=place.key,
        author=str(message.author.id),
        text="" if voice else body,
        attachments=atts,
        is_voice=voice,
        reply_to=str(message.id),
        workspace=str(message.guild.id) if message.guild else None,
        message_id=str(message.id),
    )
