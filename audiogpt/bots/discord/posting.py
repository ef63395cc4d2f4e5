"""Outgoing -> Discord messages: text split at 2,000 characters (``core.text_split``), attachments,
voice messages (the spoken artifact ``core.gate.voice_artifact`` picks).

Every post goes through discord.py's HTTP client (its per-route rate limiter
handles 429s) with ``allowed_mentions`` set to none, so an ``@everyone`` or a
role ping in model output is shown but never pings anyone.

discord.py 2.7 can read voice messages but not send them (``File.to_dict`` has
no ``duration_secs`` / ``waveform``), so a voice message is one call of its own
``http.send_message`` route with an attachment descriptor that carries them and
flag 8192 -- the same HTTP client and rate limiter, no second HTTP stack.

A reply is several posts (its text chunks, file groups, a voice message): each is one
:class:`~audiogpt.core.gate.ReplyPart`, recorded by ``core.gate.ReplyParts`` once posted so
a retry resumes at the first unsent one. Each channel post carries the part's stable key
as its ``nonce``; discord.py sends ``enforce_nonce`` with every nonce, so Discord returns
the message it already created for a retried post whose response was lost instead of
creating it again. (Webhook follow-ups take no nonce; there the SQL record alone guards.)
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import discord
from discord.http import handle_message_parameters

from audiogpt.core.events import ArtifactOut, Outgoing
from audiogpt.core.gate import ReplyPart, ReplyParts, voice_artifact
from audiogpt.core.media import (
    MediaError,
    VoiceMessage,
    decode_audio,
    encode_to_fit,
    encode_voice_message,
    format_size,
)
from audiogpt.core.text_split import split_text

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 2000
FILES_PER_MESSAGE = 10
NO_PINGS = discord.AllowedMentions.none()


# --- where posts go ----------------------------------------------------------------------


class Target(Protocol):
    """Somewhere an answer can be posted: a channel/thread, or an interaction's follow-ups."""

    async def send(self, content: str | None, files: Sequence[discord.File], reference: Any, *,
                   nonce: str | None = None) -> int: ...

    async def send_voice(self, voice: VoiceMessage, *, nonce: str | None = None) -> int: ...


class VoiceFile(discord.File):
    """A file whose attachment descriptor carries ``duration_secs`` and ``waveform`` (a voice message)."""

    def __init__(self, voice: VoiceMessage) -> None:
        super().__init__(io.BytesIO(voice.data), filename="voice-message.ogg")
        self.voice = voice

    def to_dict(self, index: int) -> dict[str, Any]:
        d = super().to_dict(index)
        d["duration_secs"] = self.voice.duration
        d["waveform"] = self.voice.waveform_b64
        return d


@dataclass
class ChannelTarget:
    """A channel or thread, by id (works after a restart, with nothing cached)."""

    client: discord.Client
    channel_id: int

    async def send(self, content: str | None, files: Sequence[discord.File], reference: Any, *,
                   nonce: str | None = None) -> int:
        channel = self.client.get_channel(self.channel_id) or self.client.get_partial_messageable(self.channel_id)
        msg = await channel.send(content=content, files=list(files) or None,  # type: ignore[union-attr]
                                 allowed_mentions=NO_PINGS, reference=reference, mention_author=False,
                                 nonce=nonce)  # None: discord.py picks a random one
        return msg.id

    async def send_voice(self, voice: VoiceMessage, *, nonce: str | None = None) -> int:
        params = handle_message_parameters(file=VoiceFile(voice), flags=discord.MessageFlags(voice=True),
                                           allowed_mentions=NO_PINGS, nonce=nonce)  # with enforce_nonce
        with params:
            data = await self.client.http.send_message(self.channel_id, params=params)
        return int(data["id"])


@dataclass
class FollowupTarget:
    """An interaction's follow-up messages (after ``defer``)."""

    interaction: discord.Interaction

    async def send(self, content: str | None, files: Sequence[discord.File], reference: Any, *,
                   nonce: str | None = None) -> int:
        kw: dict[str, Any] = {"allowed_mentions": NO_PINGS, "wait": True}  # webhooks take no nonce
        if files:
            kw["files"] = list(files)
        msg = await self.interaction.followup.send(content=content or discord.utils.MISSING, **kw)
        return msg.id

    async def send_voice(self, voice: VoiceMessage, *, nonce: str | None = None) -> int:
        # webhooks cannot post voice messages; the audio goes as an ordinary file
        return await self.send(None, [discord.File(io.BytesIO(voice.data), filename="voice-message.ogg")], None,
                               nonce=nonce)


# --- attachments ---------------------------------------------------------------------------


@dataclass
class Prepared:
    files: list[discord.File]
    notes: list[str]  # sentences about files that could not go (too large)
    voice: VoiceMessage | None


def _ext(name: str, path: str) -> str:
    return Path(name).suffix or Path(path).suffix


def _prepare(out: Outgoing, upload_limit: int) -> Prepared:
    """Encode the reply's artifacts for upload (blocking: run in a thread)."""
    files: list[discord.File] = []
    notes: list[str] = []
    voice: VoiceMessage | None = None
    arts: list[ArtifactOut] = list(out.artifacts)
    if out.as_voice:
        spoken = voice_artifact(out)  # the same choice on every platform
        if spoken is not None:
            try:
                vm = encode_voice_message(decode_audio(Path(spoken.path)))
                if len(vm.data) <= upload_limit:
                    voice = vm
                    arts.remove(spoken)
            except MediaError as exc:
                log.warning("could not make a voice message of %s: %s", spoken.id, exc)
    for a in arts:
        stem = Path(a.name).stem if a.name else a.id
        size = a.size or Path(a.path).stat().st_size
        if size <= upload_limit:
            files.append(discord.File(a.path, filename=f"{a.id}-{stem}{_ext(a.name, a.path)}"))
            continue
        if a.kind == "audio":
            try:
                data, fmt = encode_to_fit(decode_audio(Path(a.path)), upload_limit)
                files.append(discord.File(io.BytesIO(data), filename=f"{a.id}-{stem}.{fmt}"))
                continue
            except MediaError as exc:
                notes.append(f"{a.id} is too large to upload here ({exc})")
                continue
        notes.append(f"{a.id} ({format_size(size)}) is larger than this server's upload limit "
                     f"({format_size(upload_limit)}), so I could not attach it")
    return Prepared(files, notes, voice)


def explain(exc: BaseException) -> str:
    """A Discord error in a few words, for the give-up sentence."""
    if isinstance(exc, discord.HTTPException):
        return f"Discord answered {exc.status}" + (f": {exc.text}" if exc.text else "")
    return type(exc).__name__


async def post_outgoing(target: Target, out: Outgoing, *, upload_limit: int, reference: Any = None,
                        parts: ReplyParts | None = None) -> int | None:
    """Post one answer, resuming after the parts ``parts`` says were posted; returns the id of its
    first message (None when there was nothing to post)."""
    parts = parts or ReplyParts()
    prepared = await asyncio.to_thread(_prepare, out, upload_limit) if out.artifacts else Prepared([], [], None)
    text = out.text.strip()
    if prepared.notes:
        text = (text + "\n" + "; ".join(prepared.notes) + ".").strip()
    chunks = split_text(text, MESSAGE_LIMIT) or ([] if prepared.files or prepared.voice else ["Done."])
    groups = [prepared.files[i:i + FILES_PER_MESSAGE] for i in range(0, len(prepared.files), FILES_PER_MESSAGE)]
    sent: list[int] = []

    async def send(content: str | None, files: list[discord.File], nonce: str | None) -> int:
        first = not parts.posted and not sent  # only the reply's first message references the request
        mid = await target.send(content, files, reference if first else None, nonce=nonce)
        sent.append(mid)
        return mid

    plan: list[ReplyPart] = []
    for i, chunk in enumerate(chunks):
        files = groups.pop(0) if groups and i == len(chunks) - 1 else []
        label = f"part {i + 1} of the text" if len(chunks) > 1 else "the text"
        plan.append(ReplyPart("files" if files else "text", partial(send, chunk, files),
                              label + (" and its files" if files else "")))
    for files in groups:
        plan.append(ReplyPart("files", partial(send, None, files), "the attached files"))
    if prepared.voice is not None:
        voice = prepared.voice

        async def send_voice(nonce: str | None) -> int:
            return await target.send_voice(voice, nonce=nonce)

        plan.append(ReplyPart("voice", send_voice, "the voice message"))

    async def notice(sentence: str, nonce: str | None) -> int:
        return await target.send(sentence, [], None, nonce=nonce)

    try:
        first = await parts.post(plan, notice, explain)
    finally:
        for f in prepared.files:  # the files of parts posted before (skipped now) were opened too
            f.close()
    return int(first) if first is not None else None
