"""Slash commands: ``/audiogpt``, ``/transcribe``, ``/speak``, ``/tools``, ``/reset``, ``/settings``.

Every command defers at once (Discord allows 3 s for the first response) and
answers with follow-ups, so a model job of any length fits. Registration with
Discord is a separate step (``audiogpt discord sync-commands``): the bot does
not re-register on every start, which would hit Discord's daily limit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands

from audiogpt.bots.discord.payloads import PLATFORM, Place, attachment_of
from audiogpt.bots.discord.posting import MESSAGE_LIMIT, NO_PINGS, FollowupTarget
from audiogpt.bots.fetch_policy import discord_policy
from audiogpt.core.events import Incoming
from audiogpt.core.gate import Admission
from audiogpt.core.text_split import split_text
from audiogpt.core.tools import TOOLS

if TYPE_CHECKING:
    from audiogpt.bots.discord.adapter import DiscordAdapter

log = logging.getLogger(__name__)

TOOL_CHOICES = [app_commands.Choice(name=t.name, value=t.name) for t in TOOLS][:25]
MANAGE_ONLY = "Only members with the Manage Server permission can change these settings."


class _FollowupStatus:
    """Lets the status reporter edit the deferred "thinking…" response instead of posting a message."""

    def __init__(self, interaction: discord.Interaction) -> None:
        self.interaction = interaction

    async def typing(self) -> None:
        return None

    async def send(self, content: str, **_: Any) -> Any:
        await self.interaction.edit_original_response(content=content)
        return self

    async def edit(self, content: str) -> None:
        await self.interaction.edit_original_response(content=content)

    async def delete(self) -> None:
        await self.interaction.delete_original_response()


async def _place(adapter: DiscordAdapter, interaction: discord.Interaction) -> Place:
    channel = interaction.channel
    cid = interaction.channel_id or 0
    if interaction.guild_id is None:
        kind = "dm"
    elif isinstance(channel, discord.Thread) or (channel is not None and getattr(channel, "type", None) in (
            discord.ChannelType.public_thread, discord.ChannelType.private_thread)):
        kind = "thread"
    else:
        kind = "channel"
    return Place(kind, cid, await adapter.epoch(kind, cid))


async def _allowed(adapter: DiscordAdapter, interaction: discord.Interaction) -> bool:
    """Defer (Discord allows 3 s for the first response), then the blocklists; False after saying why."""
    await interaction.response.defer(thinking=True)
    if not adapter.allowed(interaction.user.id, interaction.guild_id):
        await interaction.followup.send("I'm not available here.", allowed_mentions=NO_PINGS)
        return False
    return True


async def ask(adapter: DiscordAdapter, interaction: discord.Interaction, text: str,
              file: discord.Attachment | None) -> None:
    """Run one turn for a slash command through the gate and post the answer as follow-ups."""
    if not await _allowed(adapter, interaction):
        return
    async with adapter.admit(f"interaction:{interaction.id}", interaction.user.id, interaction.guild_id) as turn:
        if turn.duplicate:
            return
        if turn.refusal is not None:
            await interaction.followup.send(turn.refusal or "Please wait a moment before asking again.",
                                            allowed_mentions=NO_PINGS)
            return
        await _ask(adapter, turn, interaction, text, file)


async def _ask(adapter: DiscordAdapter, turn: Admission, interaction: discord.Interaction, text: str,
               file: discord.Attachment | None) -> None:
    place = await _place(adapter, interaction)
    policy = discord_policy(adapter.settings.discord_api_base_url)
    atts = ((attachment_of(file, timeout=adapter.settings.discord_fetch_timeout, policy=policy),)
            if file is not None else ())
    incoming = Incoming(platform=PLATFORM, conversation=place.key, author=str(interaction.user.id), text=text,
                        attachments=atts, reply_to=None,
                        workspace=str(interaction.guild_id) if interaction.guild_id else None,
                        message_id=f"interaction:{interaction.id}")
    await adapter.run_turn(turn, incoming, _FollowupStatus(interaction), FollowupTarget(interaction),
                           interaction.guild, typing=False)


async def show_tools(adapter: DiscordAdapter, interaction: discord.Interaction) -> None:
    from audiogpt.core.catalogue.view import describe_tools

    await interaction.response.defer(thinking=True, ephemeral=True)
    rows = await asyncio.to_thread(describe_tools, adapter.settings, adapter.app.registry)
    off = set()
    if interaction.guild_id:
        off = set(await adapter.app.repo.get_setting(str(interaction.guild_id), "disabled_tools", []) or [])
    lines = []
    for r in rows:
        if r["name"] in off:
            lines.append(f"- `{r['name']}`: turned off in this server")
        elif r["available"]:
            lines.append(f"- `{r['name']}`: ready ({r['backend']})")
        else:
            lines.append(f"- `{r['name']}`: unavailable. {r['reason']}")
    for chunk in split_text("Tools installed here:\n" + "\n".join(lines), MESSAGE_LIMIT):
        await interaction.followup.send(chunk, allowed_mentions=NO_PINGS, ephemeral=True)


async def reset(adapter: DiscordAdapter, interaction: discord.Interaction) -> None:
    if not await _allowed(adapter, interaction):
        return
    place = await adapter.reset(await _place(adapter, interaction))
    log.info("conversation reset: now %s", place.key)
    await interaction.followup.send("Starting a new conversation here; I've set aside what we said before.",
                                    allowed_mentions=NO_PINGS)


async def settings(adapter: DiscordAdapter, interaction: discord.Interaction, answer_in: str | None,
                   voice_replies: bool | None, enable_tool: str | None, disable_tool: str | None) -> None:
    await interaction.response.defer(thinking=True, ephemeral=True)
    if interaction.guild_id is None:
        await interaction.followup.send("Settings are per server; use /settings in a server channel.", ephemeral=True)
        return
    scope = str(interaction.guild_id)
    repo = adapter.app.repo
    changing = any(v is not None for v in (answer_in, voice_replies, enable_tool, disable_tool))
    if changing:
        perms = interaction.permissions
        if not (perms.manage_guild or perms.administrator):
            await interaction.followup.send(MANAGE_ONLY, ephemeral=True)
            return
        if answer_in is not None:
            await adapter.gate.set_setting(scope, "answer_in_threads", answer_in == "threads")
        if voice_replies is not None:
            await adapter.gate.set_setting(scope, "voice_replies", bool(voice_replies))
        if enable_tool or disable_tool:
            off = set(await repo.get_setting(scope, "disabled_tools", []) or [])
            if enable_tool:
                off.discard(enable_tool)
            if disable_tool:
                off.add(disable_tool)
            await adapter.gate.set_setting(scope, "disabled_tools", sorted(off))
    gs = await repo.settings_for(scope)
    threads = gs.get("answer_in_threads", adapter.settings.discord_answer_in_threads)
    voice = gs.get("voice_replies", adapter.settings.voice_replies)
    off = gs.get("disabled_tools") or []
    text = ("Settings updated. " if changing else "") + (
        f"Answers: {'in threads' if threads else 'inline'}. Voice replies: {'on' if voice else 'off'}. "
        f"Tools turned off here: {', '.join(f'`{t}`' for t in off) if off else 'none'}.")
    await interaction.followup.send(text, allowed_mentions=NO_PINGS, ephemeral=True)


def build_tree(client: discord.Client, adapter: DiscordAdapter) -> app_commands.CommandTree[Any]:
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)

    async def on_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        log.error("slash command %s failed", getattr(interaction.command, "name", "?"), exc_info=error)
        msg = "Sorry, something went wrong on my side; please try again."
        try:
            if interaction.response.is_done():
                await interaction.followup.send(msg, ephemeral=True)
            else:
                await interaction.response.send_message(msg, ephemeral=True)
        except discord.HTTPException:
            pass

    tree.on_error = on_error  # type: ignore[method-assign]

    @tree.command(name="audiogpt", description="Ask AudioGPT; attach audio or an image if the task needs one.")
    @app_commands.describe(prompt="What you would like", file="An audio file or image to work on")
    async def audiogpt_cmd(interaction: discord.Interaction, prompt: str,
                           file: discord.Attachment | None = None) -> None:
        await ask(adapter, interaction, prompt, file)

    @tree.command(name="transcribe", description="Transcribe a recording.")
    @app_commands.describe(file="The recording", language="Its language, if you know it (e.g. en, de)")
    async def transcribe_cmd(interaction: discord.Interaction, file: discord.Attachment,
                             language: str | None = None) -> None:
        text = "Transcribe this recording" + (f"; it is in {language}." if language else ".")
        await ask(adapter, interaction, text, file)

    @tree.command(name="speak", description="Read a text aloud.")
    @app_commands.describe(text="What to say")
    async def speak_cmd(interaction: discord.Interaction, text: str) -> None:
        await ask(adapter, interaction, f'Say this aloud: "{text}"', None)

    @tree.command(name="tools", description="What AudioGPT can do here, and which models are installed.")
    async def tools_cmd(interaction: discord.Interaction) -> None:
        await show_tools(adapter, interaction)

    @tree.command(name="reset", description="Start a new conversation in this channel, thread or DM.")
    async def reset_cmd(interaction: discord.Interaction) -> None:
        await reset(adapter, interaction)

    @tree.command(name="settings", description="This server's AudioGPT settings (changing them needs Manage Server).")
    @app_commands.guild_only()
    @app_commands.describe(answer_in="Answer mentions in a new thread or inline", voice_replies="Answer voice messages by voice",
                           enable_tool="Turn a tool on here", disable_tool="Turn a tool off here")
    @app_commands.choices(answer_in=[app_commands.Choice(name="threads", value="threads"),
                                     app_commands.Choice(name="inline", value="inline")],
                          enable_tool=TOOL_CHOICES, disable_tool=TOOL_CHOICES)
    async def settings_cmd(interaction: discord.Interaction, answer_in: str | None = None,
                           voice_replies: bool | None = None, enable_tool: str | None = None,
                           disable_tool: str | None = None) -> None:
        await settings(adapter, interaction, answer_in, voice_replies, enable_tool, disable_tool)

    return tree
