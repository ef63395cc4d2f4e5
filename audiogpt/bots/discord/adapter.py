"""The Discord adapter: which messages are for the bot, where the answer goes, one answer each.

A message is for the bot when it mentions the bot, replies to one of its
messages, is in a DM, or is in a thread the bot answers in. Checks run before any
work, cheapest first: own/bot messages, blocked users, allowed guilds, channel
permissions, then the process's :class:`~audiogpt.core.gate.TurnGate` (dedup of
redeliveries, rate limits, cached guild settings). The gate runs the turn and
posts the answer through the outbox claim, so a redelivered event (after a
gateway resume, or on two shards) and a recovered reply post exactly once. What
is left here is Discord: threads, references, the status message, uploads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import aiohttp
import discord

from audiogpt.bots.discord.client import AudioGPTClient, configure_endpoints
from audiogpt.bots.discord.payloads import (
    PLATFORM,
    Place,
    clean_text,
    is_voice_message,
    mentions_user,
    parse_key,
    replies_to_user,
    to_incoming,
)
from audiogpt.bots.discord.posting import NO_PINGS, ChannelTarget, Target, post_outgoing
from audiogpt.bots.discord.progress import StatusReporter
from audiogpt.bots.fetch_policy import discord_policy
from audiogpt.core.app import App
from audiogpt.core.events import Incoming, Outgoing
from audiogpt.core.gate import Admission

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's limit outside boosted guilds (DMs included)
FAILED = "Sorry, something went wrong on my side; please try again."
NOT_POSTED = "Sorry, Discord refused my answer here just now; it is saved and will be posted when I restart."
THREAD_EXISTS = 160004  # Discord's "A thread has already been created for this message"


def thread_name(text: str) -> str:
    """A thread title from the request: its first line, trimmed to Discord's 100 characters."""
    first = (text.strip().splitlines() or [""])[0].strip()
    if not first:
        return "AudioGPT"
    return first if len(first) <= 90 else first[:89].rstrip() + "…"


class DiscordAdapter:
    """``PlatformAdapter`` for Discord (see ``audiogpt.bots.launcher``)."""

    name = PLATFORM

    def __init__(self, app: App, *, client_kwargs: dict[str, Any] | None = None) -> None:
        self.app = app
        self.settings = app.settings
        self.ready = asyncio.Event()
        self.gate = app.gate
        configure_endpoints(self.settings)
        kw = dict(client_kwargs or {})
        if self.settings.discord_shard_count:  # one shard per process; Discord routes each guild to one shard
            kw.setdefault("shard_count", self.settings.discord_shard_count)
            kw.setdefault("shard_id", self.settings.discord_shard_id or 0)
        self.client = AudioGPTClient(self, **kw)

    # --- PlatformAdapter ----------------------------------------------------------------

    async def start(self) -> None:
        if not self.settings.discord_token:
            raise RuntimeError("DISCORD_TOKEN is not set.")
        configure_endpoints(self.settings)
        try:
            await self._login_and_connect(self.settings.discord_token.get_secret_value())
        except BaseException:
            await self.client.close()  # the HTTP session and gateway socket, whatever happened
            raise

    async def _login_and_connect(self, token: str) -> None:
        """discord.py's login + gateway loop, with its fatal errors turned into one sentence each."""
        try:
            await self.client.login(token)
        except discord.LoginFailure as exc:
            raise RuntimeError(f"Discord refused the token ({exc}); check DISCORD_TOKEN.") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise RuntimeError(f"Could not reach the Discord API at {self.settings.discord_api_base_url} "
                               f"({exc}); check DISCORD_API_BASE_URL and the network.") from None
        try:
            await self.client.connect(reconnect=True)
        except discord.PrivilegedIntentsRequired:
            raise RuntimeError(
                "Discord refused the Message Content intent; turn on 'Message Content Intent' under Bot -> "
                "Privileged Gateway Intents in the developer portal (https://discord.com/developers/applications)."
            ) from None

    async def send(self, out: Outgoing) -> str | None:
        """Post a reply a previous process produced; returns the id of the answer's first message."""
        place = parse_key(out.conversation)
        reference = None
        if place.kind == "channel" and out.reply_to:
            reference = discord.MessageReference(message_id=int(out.reply_to), channel_id=place.channel_id,
                                                 fail_if_not_exists=False)
        channel = self.client.get_channel(place.channel_id)
        guild = getattr(channel, "guild", None)
        mid = await post_outgoing(ChannelTarget(self.client, place.channel_id), out,
                                  upload_limit=self.upload_limit(guild), reference=reference,
                                  parts=await self.gate.reply_parts(out.turn_id))
        return str(mid) if mid is not None else None

    async def stop(self, grace: float | None = None) -> None:
        """Let running turns post their answers (the gate's grace), then disconnect.

        A turn still running after that is finished by the next process
        (``App.recover``) and its answer posted once then.
        """
        await self.gate.stop(grace)
        await self.client.close()

    # --- helpers --------------------------------------------------------------------------

    def upload_limit(self, guild: discord.Guild | None) -> int:
        limit = guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT
        cap = int(self.settings.discord_upload_limit_mb * 1024 * 1024)
        return min(limit, cap) if cap > 0 else limit

    def allowed(self, user_id: int, guild_id: int | None) -> bool:
        if str(user_id) in self.settings.discord_blocked_users:
            return False
        allowed = self.settings.discord_allowed_guilds
        return guild_id is None or not allowed or str(guild_id) in allowed

    def admit(self, message_id: str, user_id: int, guild_id: int | None, *, count: bool = True) -> Any:
        """The gate's admission for one message or interaction (``async with``)."""
        return self.gate.admit(PLATFORM, message_id, author=str(user_id),
                               workspace=str(guild_id) if guild_id else None, count=count)

    async def epoch(self, kind: str, channel_id: int) -> int:
        return int((await self.gate.settings_of(f"{PLATFORM}:{kind}:{channel_id}")).get("epoch") or 0)

    async def reset(self, place: Place) -> Place:
        """Start a new conversation in ``place`` (the old history stays in SQL)."""
        self.gate.forget(place.epoch_scope)
        n = await self.epoch(place.kind, place.channel_id) + 1
        await self.gate.set_setting(place.epoch_scope, "epoch", n)
        return Place(place.kind, place.channel_id, n)

    async def is_bot_thread(self, channel_id: int) -> bool:
        """A thread where the bot already has a conversation (it may be uncached after a restart)."""
        key = Place("thread", channel_id, await self.epoch("thread", channel_id)).key
        return await self.app.repo.find_conversation(key) is not None

    async def place_of_channel(self, channel: Any, guild: discord.Guild | None) -> Place:
        """The conversation of a channel where no new thread is started (DM, thread, inline channel)."""
        if guild is None:
            kind = "dm"
        elif isinstance(channel, discord.Thread) or (
                isinstance(channel, discord.PartialMessageable) and await self.is_bot_thread(channel.id)):
            kind = "thread"
        else:
            kind = "channel"
        return Place(kind, channel.id, await self.epoch(kind, channel.id))

    # --- messages -------------------------------------------------------------------------

    async def on_message(self, message: discord.Message) -> None:
        me = self.client.user
        if me is None or message.author.bot or message.author.id == me.id:
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        guild = message.guild
        if not self.allowed(message.author.id, guild.id if guild else None):
            return
        if not await self._addressed(message, me):
            return
        try:
            async with self.admit(str(message.id), message.author.id, guild.id if guild else None) as turn:
                if not turn.duplicate:
                    await self._on_message(turn, message, me, guild)
        except Exception:
            log.exception("handling Discord message %s failed", message.id)

    async def _addressed(self, message: discord.Message, me: discord.ClientUser) -> bool:
        if message.guild is None or mentions_user(message, me.id) or replies_to_user(message, me.id):
            return True
        channel = message.channel
        if isinstance(channel, discord.Thread) and channel.owner_id == me.id:
            return True
        if isinstance(channel, (discord.Thread, discord.PartialMessageable)):
            # a thread someone else started, or one not cached, where the bot already talks
            return await self.is_bot_thread(channel.id)
        return False

    async def _on_message(self, turn: Admission, message: discord.Message, me: discord.ClientUser,
                          guild: discord.Guild | None) -> None:
        channel: Any = message.channel
        perms = channel.permissions_for(guild.me) if guild is not None and guild.me is not None and hasattr(
            channel, "permissions_for") else None
        in_thread = isinstance(channel, discord.Thread)
        if perms is not None and not (perms.send_messages_in_threads if in_thread else perms.send_messages):
            log.info("not answering in #%s: no permission to send messages there", getattr(channel, "name", channel.id))
            return
        if turn.refusal is not None:
            if turn.refusal:  # "" = told within the minute: stay quiet rather than spam the channel
                with contextlib.suppress(discord.HTTPException):
                    await message.reply(turn.refusal, allowed_mentions=NO_PINGS, mention_author=False)
            return
        text = clean_text(message, me.id)
        threads = bool(turn.settings.get("answer_in_threads", self.settings.discord_answer_in_threads))
        can_thread = perms is None or (perms.create_public_threads and perms.send_messages_in_threads)
        reference = None
        thread = None
        if guild is not None and not in_thread and threads and can_thread:
            thread = await self._open_thread(message, text, is_voice_message(message))
        if thread is not None:
            place = Place("thread", message.id)  # a thread started on a message has the message's id
            channel = thread
        else:
            place = await self.place_of_channel(channel, guild)
            if place.kind == "channel":
                reference = message.to_reference(fail_if_not_exists=False)
        incoming = to_incoming(message, place=place, bot_id=me.id, fetch_timeout=self.settings.discord_fetch_timeout,
                               policy=discord_policy(self.settings.discord_api_base_url), text=text)
        await self.run_turn(turn, incoming, channel, ChannelTarget(self.client, place.channel_id), guild,
                            reference=reference)

    async def _open_thread(self, message: discord.Message, text: str, voice: bool) -> Any:
        """The thread on ``message``: the one already started on it, else a new one; None to go inline.

        A MESSAGE_CREATE replayed after a gateway RESUME comes after its thread was made, and a
        thread on a message has the message's id, so the gateway cache (THREAD_CREATE, and the
        active threads of GUILD_CREATE after a restart) is asked first rather than Discord again;
        a creation that races another delivery, or a thread the cache lost (archived), still ends
        in that same thread through Discord's 160004 answer.
        """
        existing = self.client.get_channel(message.id)
        if isinstance(existing, discord.Thread):
            return existing
        try:
            return await message.create_thread(name=thread_name(text or ("Voice message" if voice else "")),
                                               auto_archive_duration=1440)
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:  # another delivery of the same event made it a moment ago
                return await self._fetch_thread(message)
            log.warning("could not start a thread on message %s (%s); answering inline", message.id, exc)
            return None

    async def _fetch_thread(self, message: discord.Message) -> Any:
        """The thread Discord says exists on ``message`` (GET /channels/{id}); a partial one if that fails."""
        cached = self.client.get_channel(message.id)
        if cached is not None:
            return cached
        try:
            return await self.client.fetch_channel(message.id)
        except discord.HTTPException as exc:
            log.info("could not fetch the thread on message %s (%s); posting to it by id", message.id, exc)
            return self._partial(message)

    def _partial(self, message: discord.Message) -> Any:
        return self.client.get_partial_messageable(message.id, guild_id=message.guild.id if message.guild else None)

    async def run_turn(self, turn: Admission, incoming: Incoming, channel: Any, target: Target,
                       guild: discord.Guild | None, *, reference: Any = None, typing: bool = True) -> int | None:
        """Run one admitted turn with progress in ``channel``; the answer goes once through ``target``."""
        limit = self.upload_limit(guild)

        async def post(out: Outgoing) -> int | None:  # inside the outbox claim: resumes after posted parts
            return await post_outgoing(target, out, upload_limit=limit, reference=reference,
                                       parts=await self.gate.reply_parts(out.turn_id))

        async with StatusReporter(channel, status_after=self.settings.discord_status_after, typing=typing) as status:
            result = await turn.run(incoming, post, progress=status.progress)
            if result.status == "failed":
                await status.failed(FAILED)
            elif result.status == "not_posted":  # the reply stays in the outbox; recovery posts it
                await status.failed(NOT_POSTED)
            else:
                await status.answered()
        return result.message_id if isinstance(result.message_id, int) else None
