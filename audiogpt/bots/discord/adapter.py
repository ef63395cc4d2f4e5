"""The Discord adapter: which messages are for the bot, where the answer goes, one answer each.

A message is for the bot when it mentions the bot, replies to one of its
messages, is in a DM, or is in a thread the bot answers in. Checks run before any
work, cheapest first: own/bot messages, blocked users, allowed guilds, channel
permissions, rate limits. The turn itself is ``Dialogue.handle``; the answer is
posted through ``Dialogue.deliver``, whose claim in SQL makes a redelivered
event (after a gateway resume, or on two shards) and a recovered reply post
exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
from audiogpt.core.app import App
from audiogpt.core.events import Incoming, Outgoing
from audiogpt.core.ratelimit import RateLimiter

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024  # Discord's limit outside boosted guilds (DMs included)
SETTINGS_TTL_S = 5.0  # per-guild settings and /reset counters are re-read from SQL this often
FAILED = "Sorry, something went wrong on my side; please try again."
NOT_POSTED = "Sorry, Discord refused my answer here just now; it is saved and will be posted when I restart."


class PostFailed(RuntimeError):
    """Discord refused an answer's post (the reply stays undelivered in SQL)."""


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
        self.limiter = RateLimiter(self.settings.rate_user_per_minute, self.settings.rate_workspace_per_minute)
        self._inflight: set[int] = set()
        self._turns: set[asyncio.Task[Any]] = set()
        self._noticed: dict[str, float] = {}  # user -> when they were last told they are rate limited
        # scope -> (read at, settings): saves two SQL reads per message; another process's change
        # (a /settings or /reset handled there) is seen within SETTINGS_TTL_S
        self._scopes: dict[str, tuple[float, dict[str, Any]]] = {}
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
            await self._login_and_connect(self.settings.discord_token)
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
                                  upload_limit=self.upload_limit(guild), reference=reference)
        return str(mid) if mid is not None else None

    async def stop(self, grace: float = 10.0) -> None:
        """Let running turns post their answers (up to ``grace`` s), then disconnect.

        A turn still running after that is finished by the next process
        (``App.recover``) and its answer posted once then.
        """
        running = {t for t in self._turns if not t.done()}
        if running:
            await asyncio.wait(running, timeout=grace)
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

    async def scope_settings(self, scope: str) -> dict[str, Any]:
        now = time.monotonic()
        hit = self._scopes.get(scope)
        if hit is not None and now - hit[0] < SETTINGS_TTL_S:
            return hit[1]
        value = await self.app.repo.settings_for(scope)
        if len(self._scopes) > 10_000:
            self._scopes.clear()
        self._scopes[scope] = (now, value)
        return value

    async def set_scope_setting(self, scope: str, key: str, value: Any) -> None:
        await self.app.repo.set_setting(scope, key, value)
        self._scopes.pop(scope, None)

    async def guild_settings(self, guild_id: int | None) -> dict[str, Any]:
        return await self.scope_settings(str(guild_id)) if guild_id else {}

    def rate_note(self, user_id: int, guild_id: int | None, gs: dict[str, Any]) -> str | None:
        """None when the user may go ahead, else the polite sentence to show (at most once a minute)."""
        note = self.limiter.check(str(user_id), str(guild_id) if guild_id else None,
                                  user_limit=gs.get("rate_user_per_minute"),
                                  workspace_limit=gs.get("rate_workspace_per_minute"))
        if note is None:
            return None
        now = time.monotonic()
        if now - self._noticed.get(str(user_id), -1e9) < 60:
            return ""  # told already: stay quiet rather than spam the channel
        self._noticed[str(user_id)] = now
        return note

    async def epoch(self, kind: str, channel_id: int) -> int:
        return int((await self.scope_settings(f"{PLATFORM}:{kind}:{channel_id}")).get("epoch") or 0)

    async def reset(self, place: Place) -> Place:
        """Start a new conversation in ``place`` (the old history stays in SQL)."""
        self._scopes.pop(place.epoch_scope, None)
        n = await self.epoch(place.kind, place.channel_id) + 1
        await self.set_scope_setting(place.epoch_scope, "epoch", n)
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
        if message.id in self._inflight:
            return
        self._inflight.add(message.id)
        task = asyncio.current_task()
        if task is not None:
            self._turns.add(task)
        try:
            await self._on_message(message, me, guild)
        except Exception:
            log.exception("handling Discord message %s failed", message.id)
        finally:
            self._inflight.discard(message.id)
            self._turns.discard(task)  # type: ignore[arg-type]

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

    async def _on_message(self, message: discord.Message, me: discord.ClientUser,
                          guild: discord.Guild | None) -> None:
        if not await self._addressed(message, me):
            return
        channel: Any = message.channel
        perms = channel.permissions_for(guild.me) if guild is not None and guild.me is not None and hasattr(
            channel, "permissions_for") else None
        in_thread = isinstance(channel, discord.Thread)
        if perms is not None and not (perms.send_messages_in_threads if in_thread else perms.send_messages):
            log.info("not answering in #%s: no permission to send messages there", getattr(channel, "name", channel.id))
            return
        gs = await self.guild_settings(guild.id if guild else None)
        note = self.rate_note(message.author.id, guild.id if guild else None, gs)
        if note is not None:
            if note:
                with contextlib.suppress(discord.HTTPException):
                    await message.reply(note, allowed_mentions=NO_PINGS, mention_author=False)
            return
        text = clean_text(message, me.id)
        threads = bool(gs.get("answer_in_threads", self.settings.discord_answer_in_threads))
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
                               text=text)
        await self.run_turn(incoming, channel, ChannelTarget(self.client, place.channel_id), guild,
                            reference=reference)

    async def _open_thread(self, message: discord.Message, text: str, voice: bool) -> Any:
        """The thread on ``message`` (created now, or earlier by a delivery of the same event); None to go inline."""
        try:
            return await message.create_thread(name=thread_name(text or ("Voice message" if voice else "")),
                                               auto_archive_duration=1440)
        except discord.HTTPException as exc:
            if exc.code == 160004:  # "A thread has already been created for this message": a redelivery
                return self.client.get_channel(message.id) or self.client.get_partial_messageable(
                    message.id, guild_id=message.guild.id if message.guild else None)
            log.warning("could not start a thread on message %s (%s); answering inline", message.id, exc)
            return None

    async def run_turn(self, incoming: Incoming, channel: Any, target: Target, guild: discord.Guild | None, *,
                       reference: Any = None, typing: bool = True) -> int | None:
        """Handle one turn with progress in ``channel``; post the answer once through ``target``."""
        async with StatusReporter(channel, status_after=self.settings.discord_status_after, typing=typing) as status:
            try:
                out = await self.app.dialogue.handle(incoming, progress=status.progress)
            except Exception:
                log.exception("turn for %s failed", incoming.conversation)
                await status.failed(FAILED)
                return None
            try:
                mid = await self.deliver(out, target, guild, reference=reference)
            except PostFailed:
                await status.failed(NOT_POSTED)
                return None
            await status.answered()
        return mid

    async def deliver(self, out: Outgoing, target: Target, guild: discord.Guild | None, *,
                      reference: Any = None) -> int | None:
        """Post ``out`` through the dialogue's claim: None when another delivery already posted it.

        Raises :class:`PostFailed` when Discord refused the post; the claim is then
        released, so the reply is posted by the next recovery instead.
        """
        posted: list[int | None] = []
        errors: list[BaseException] = []

        async def send(o: Outgoing) -> None:
            try:
                posted.append(await post_outgoing(target, o, upload_limit=self.upload_limit(guild),
                                                  reference=reference))
            except Exception as exc:
                errors.append(exc)
                raise

        await self.app.dialogue.deliver(out, send)
        if errors:
            raise PostFailed(str(errors[0]))
        return posted[0] if posted else None
