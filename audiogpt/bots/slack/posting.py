""":class:`Outgoing` -> Slack calls: mrkdwn text split under Slack's limits, blocks where they
help (a sound-event table), generated files through ``files_upload_v2`` (the external upload
flow) into the same thread with a title and a short description.

An answer is several calls (its messages, then one upload of its files): each is one
:class:`~audiogpt.core.gate.ReplyPart`, recorded by ``core.gate.ReplyParts`` once Slack
accepted it, so a retry resumes at the first call not made yet. Slack has no idempotency
key for these calls; the SQL record is what keeps a retried answer from repeating.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from audiogpt.core.events import ArtifactOut, Outgoing
from audiogpt.core.gate import MessageId, ReplyPart, ReplyParts, voice_artifact
from audiogpt.core.media import audio_from_wav_bytes, encode_to_fit, format_duration
from audiogpt.core.text_split import split_text

log = logging.getLogger(__name__)

SECTION_LIMIT = 3000  # characters of one section block's text
MESSAGE_LIMIT = 3900  # characters of one message's text (Slack truncates past 40k; keep messages readable)
BLOCKS_LIMIT = 50  # blocks per message
UPLOAD_LIMIT = 1024 * 1024 * 1024  # bytes per file
VOICE_LIMIT = 20 * 1024 * 1024  # a voice reply bigger than this is re-encoded smaller


# --- text -------------------------------------------------------------------------------


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_ITALIC_US = re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])")
_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+)$", re.M)
_STRIKE = re.compile(r"~~(.+?)~~")


def escape(text: str) -> str:
    """Slack's three control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _prose_to_mrkdwn(part: str) -> str:
    links: list[str] = []

    def keep(m: re.Match[str]) -> str:
        links.append(f"<{m.group(2)}|{escape(m.group(1))}>")
        return f"\x00{len(links) - 1}\x00"

    p = escape(_LINK.sub(keep, part))
    p = _ITALIC_US.sub(r"_\1_", p)
    p = _BOLD.sub(r"*\1*", p)
    p = _HEADING.sub(r"*\1*", p)
    p = _STRIKE.sub(r"~\1~", p)
    return re.sub("\x00(\\d+)\x00", lambda m: links[int(m.group(1))], p)


def to_mrkdwn(text: str) -> str:
    """Common Markdown (what LLMs write) -> Slack mrkdwn. Code spans and blocks are left alone."""
    parts = re.split(r"(```.*?```|`[^`\n]*`)", text, flags=re.S)
    return "".join(escape(part) if i % 2 else _prose_to_mrkdwn(part) for i, part in enumerate(parts))


# --- blocks -----------------------------------------------------------------------------


def _events_of(data: dict[str, Any]) -> list[dict[str, Any]] | None:
    for key in ("events", "detections", "segments_found"):
        rows = data.get(key)
        if isinstance(rows, list) and rows and all(isinstance(r, dict) and "label" in r for r in rows):
            return rows
    return None


def _seconds(row: dict[str, Any], *names: str) -> float | None:
    for n in names:
        v = row.get(n)
        if isinstance(v, int | float):
            return float(v)
    return None


def event_table(data: dict[str, Any], max_rows: int = 40) -> str | None:
    """A fixed-width table of sound events (label, start, end, score), or ``None``."""
    rows = _events_of(data)
    if not rows:
        return None
    lines = [f"{'sound':<24} {'start':>7} {'end':>7} {'score':>5}"]
    for r in rows[:max_rows]:
        start = _seconds(r, "start", "onset", "begin")
        end = _seconds(r, "end", "offset", "stop")
        score = _seconds(r, "score", "confidence", "probability")
        lines.append(f"{str(r['label'])[:24]:<24} "
                     f"{'' if start is None else f'{start:.2f}':>7} {'' if end is None else f'{end:.2f}':>7} "
                     f"{'' if score is None else f'{score:.2f}':>5}")
    if len(rows) > max_rows:
        lines.append(f"… and {len(rows) - max_rows} more")
    return "```\n" + escape("\n".join(lines)) + "\n```"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


@dataclass(frozen=True)
class Rendered:
    """One Slack message: fallback ``text`` (notifications, screen readers) and ``blocks``."""

    text: str
    blocks: list[dict[str, Any]]


def context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def render(text: str, data: dict[str, Any] | None = None, extra_blocks: list[dict[str, Any]] | None = None,
           head: str = "") -> list[Rendered]:
    """The answer as one or more messages within Slack's limits; ``head`` is a context line on top."""
    mrkdwn = to_mrkdwn(text) if text.strip() else ""
    chunks = split_text(mrkdwn, SECTION_LIMIT) or ([] if (data and event_table(data)) else ["Done."])
    blocks = ([context(head)] if head else []) + [section(c) for c in chunks]
    table = event_table(data or {})
    if table:
        blocks.append(section(table))
    blocks += extra_blocks or []
    messages: list[Rendered] = []
    current: list[dict[str, Any]] = []
    size = 0
    for b in blocks:
        n = len(b.get("text", {}).get("text", "")) if b["type"] == "section" else 0
        if current and (len(current) >= BLOCKS_LIMIT or size + n > MESSAGE_LIMIT):
            messages.append(_message(current))
            current, size = [], 0
        current.append(b)
        size += n
    if current:
        messages.append(_message(current))
    return messages


def _message(blocks: list[dict[str, Any]]) -> Rendered:
    texts = [b["elements"][0]["text"] if b["type"] == "context" else b["text"]["text"]
             for b in blocks if b["type"] in ("section", "context")]
    fallback = "\n\n".join(texts)[:MESSAGE_LIMIT] or "AudioGPT"
    return Rendered(text=fallback, blocks=blocks)


# --- files ------------------------------------------------------------------------------


def describe(a: ArtifactOut) -> str:
    bits = [a.kind]
    if a.duration:
        bits.append(format_duration(a.duration))
    return f"{a.id}: {a.name or Path(a.path).name} ({', '.join(bits)})"


def _filename(a: ArtifactOut) -> str:
    ext = Path(a.path).suffix
    name = a.name or f"{a.id}{ext}"
    if ext and not name.lower().endswith(ext.lower()):
        name = f"{Path(name).stem}{ext}"
    return f"{a.id}-{name}" if not name.startswith(a.id) else name


def _voice_file(a: ArtifactOut) -> tuple[bytes, str]:
    """The spoken answer, as a small file Slack plays inline."""
    data = Path(a.path).read_bytes()
    if a.mime in ("audio/wav", "audio/x-wav", "audio/wave") or data[:4] == b"RIFF":
        data, fmt = encode_to_fit(audio_from_wav_bytes(data), VOICE_LIMIT, "mp3")
        return data, f"voice-reply.{'mp3' if fmt == 'mp3' else 'ogg'}"
    return data, f"voice-reply{Path(a.path).suffix}"


async def file_uploads(out: Outgoing) -> tuple[list[dict[str, Any]], str]:
    """``files_upload_v2`` items (title = what it is) and the description that goes with them."""
    items: list[dict[str, Any]] = []
    lines: list[str] = []
    voice = voice_artifact(out)  # the same choice on every platform
    for a in out.artifacts:
        if a is voice:
            data, name = await asyncio.to_thread(_voice_file, a)
            items.append({"file": data, "filename": name, "title": "Voice reply"})
            lines.append(f"Voice reply ({a.id})")
            continue
        if a.size and a.size > UPLOAD_LIMIT:
            lines.append(f"{a.id} is too large to upload to Slack.")
            continue
        data = await asyncio.to_thread(Path(a.path).read_bytes)  # not in the event loop
        items.append({"file": data, "filename": _filename(a), "title": describe(a)})
        lines.append(describe(a))
    return items, "\n".join(lines)


# --- posting ----------------------------------------------------------------------------


def explain(exc: BaseException) -> str:
    """A Slack error in a few words, for the give-up sentence."""
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error') or exc.response.status_code}"
    return type(exc).__name__


class Poster:
    """Posts one answer into a thread. Returns the ts of the answer's first message."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client

    async def post(self, out: Outgoing, *, channel: str, thread_ts: str | None, replace_ts: str | None = None,
                   extra_blocks: list[dict[str, Any]] | None = None, ephemeral_user: str | None = None,
                   head: str = "", parts: ReplyParts | None = None) -> str:
        """Post the answer's calls not posted yet (``parts`` says which were, by an earlier attempt)."""
        parts = parts or ReplyParts()
        messages = render(out.text, out.data(), extra_blocks, head)

        async def message(i: int, m: Rendered, _key: str | None) -> MessageId:
            if i == 0 and replace_ts:
                await self.client.chat_update(channel=channel, ts=replace_ts, text=m.text, blocks=m.blocks)
                return replace_ts
            if ephemeral_user:
                resp = await self.client.chat_postEphemeral(channel=channel, user=ephemeral_user, text=m.text,
                                                            blocks=m.blocks, thread_ts=thread_ts)
                return str(resp.get("message_ts") or "")
            # the rest of a long answer follows in the thread of its first part
            resp = await self.client.chat_postMessage(channel=channel, thread_ts=thread_ts or replace_ts,
                                                      text=m.text, blocks=m.blocks, unfurl_links=False)
            return str(resp.get("ts") or "")

        async def upload(_key: str | None) -> MessageId:
            await self.upload(out, channel=channel, thread_ts=thread_ts or _ts(parts.first))
            return None

        async def where_files_are(_key: str | None) -> MessageId:  # ephemeral messages cannot carry files
            names = ", ".join(a.id for a in out.artifacts)
            resp = await self.client.chat_postEphemeral(
                channel=channel, user=ephemeral_user, thread_ts=thread_ts,
                text=f"I made {names}; use *Continue in a thread* to get the files.")
            return str(resp.get("message_ts") or "")

        plan = [ReplyPart("text", partial(message, i, m),
                          f"part {i + 1} of the text" if len(messages) > 1 else "the text")
                for i, m in enumerate(messages)]
        if out.artifacts and not ephemeral_user:
            plan.append(ReplyPart("upload", upload, "the upload of its files"))
        elif out.artifacts:
            plan.append(ReplyPart("text", where_files_are, "the note about its files"))

        async def notice(sentence: str, _key: str | None) -> MessageId:
            if ephemeral_user:
                resp = await self.client.chat_postEphemeral(channel=channel, user=ephemeral_user, text=sentence,
                                                            thread_ts=thread_ts)
                return str(resp.get("message_ts") or "")
            resp = await self.client.chat_postMessage(channel=channel, text=sentence, unfurl_links=False,
                                                      thread_ts=thread_ts or replace_ts or _ts(parts.first))
            return str(resp.get("ts") or "")

        return _ts(await parts.post(plan, notice, explain)) or ""

    async def upload(self, out: Outgoing, *, channel: str, thread_ts: str | None) -> None:
        items, description = await file_uploads(out)
        if not items:
            return
        await self.client.files_upload_v2(file_uploads=items, channel=channel, thread_ts=thread_ts,
                                          initial_comment=description)

    async def respond(self, out: Outgoing, respond: Any, *, extra_blocks: list[dict[str, Any]] | None = None,
                      head: str = "", parts: ReplyParts | None = None) -> None:
        """Answer through a slash command's ``response_url`` (ephemeral, or where the bot is not a member)."""
        parts = parts or ReplyParts()

        async def say(text: str, blocks: list[dict[str, Any]] | None, _key: str | None) -> MessageId:
            kw: dict[str, Any] = {"blocks": blocks} if blocks is not None else {}
            await respond(text=text, response_type="ephemeral", replace_original=False, **kw)
            return None

        messages = render(out.text, out.data(), extra_blocks, head)
        plan = [ReplyPart("text", partial(say, m.text, m.blocks), f"part {i + 1} of the text")
                for i, m in enumerate(messages)]
        if out.artifacts:
            names = ", ".join(a.id for a in out.artifacts)
            plan.append(ReplyPart("text", partial(say, f"I made {names}; use *Continue in a thread* to get the files.",
                                                  None), "the note about its files"))
        await parts.post(plan, lambda sentence, key: say(sentence, None, key), explain)


def _ts(mid: MessageId) -> str | None:
    """A recorded message id as a Slack ts (None for none)."""
    return str(mid) if mid not in (None, "") else None
