"""Slack event payloads -> :class:`Incoming`.

Pure translation plus the one network step an incoming message needs: downloading its
files with the bot token (``url_private_download``, scope ``files:read``). Slack answers a
download with a bad or missing token with its HTML sign-in page and status 200, so a
download is checked for that, and a file that cannot be fetched becomes one clear sentence
in the reply (the dialogue turns the failed fetch into it).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypedDict

from audiogpt.bots.fetch_policy import FetchRefused
from audiogpt.core.artifacts import safe_name
from audiogpt.core.events import Attachment, Incoming

log = logging.getLogger(__name__)

PLATFORM = "slack"
# message subtypes that are a person saying something; edits, joins, bot posts are not
USER_SUBTYPES = {None, "file_share", "thread_broadcast"}
AUDIO_CLIP_SUBTYPE = "slack_audio"


class FilePayload(TypedDict, total=False):
    id: str
    name: str
    title: str
    mimetype: str
    filetype: str
    subtype: str
    size: int
    url_private: str
    url_private_download: str
    is_external: bool  # a remote file: url_private is its creator's URL, on any host
    external_type: str
    mode: str  # "hosted", "external", "snippet", ...


class MessageEvent(TypedDict, total=False):
    type: str  # "app_mention" | "message"
    subtype: str
    channel: str
    channel_type: str  # "im", "channel", ...
    user: str
    bot_id: str
    text: str
    ts: str
    thread_ts: str
    event_ts: str
    team: str
    files: list[FilePayload]


@dataclass(frozen=True)
class SlackMessage:
    """The parts of a user's message the adapter needs."""

    team: str
    channel: str
    user: str
    text: str
    ts: str  # this message
    thread_ts: str  # the thread it is in (its own ts when it starts one)
    files: tuple[FilePayload, ...]
    is_dm: bool

    @property
    def is_clip(self) -> bool:
        return any(is_audio_clip(f) for f in self.files)


def tenant(team_id: str | None, enterprise_id: str | None, is_enterprise_install: bool | None) -> str:
    """The installation a request came through, by the id our keys use: its team for a workspace
    install, its enterprise (``E…``) for an org-wide (Enterprise Grid) one.

    Give it bolt's ``context.team_id`` / ``enterprise_id`` / ``is_enterprise_install``, which come
    from the envelope's ``authorizations[0]`` (the installation that received the event), never
    ``event.team`` or the envelope's ``team_id``: in a Slack Connect channel those name the
    sender's or the channel owner's workspace, another organisation's. Conversations, settings,
    rate limits and the token of a recovered reply all follow the installation, and an org-wide
    install has one token for all its workspaces (``authorizations[0].team_id`` is null there).
    """
    if is_enterprise_install and enterprise_id:
        return enterprise_id
    return team_id or enterprise_id or ""


def is_org_tenant(team: str) -> bool:
    """A tenant of an org-wide install (Slack's enterprise ids start with E, team ids with T)."""
    return team.startswith("E")


def conversation_key(team: str, channel: str, thread_ts: str) -> str:
    """``slack:<tenant>:<channel>:<thread_ts>``: a thread is a conversation (``tenant``: see :func:`tenant`)."""
    return f"{PLATFORM}:{team}:{channel}:{thread_ts}"


def parse_key(key: str) -> tuple[str, str, str]:
    """``(team, channel, thread_ts)`` of a conversation key made by :func:`conversation_key`."""
    platform, team, channel, thread_ts = key.split(":", 3)
    if platform != PLATFORM:
        raise ValueError(f"{key!r} is not a Slack conversation")
    return team, channel, thread_ts


def workspace_scope(team: str) -> str:
    """Settings scope of a Slack workspace (prefixed so it cannot collide with a Discord guild)."""
    return f"{PLATFORM}:{team}"


def is_audio_clip(f: FilePayload) -> bool:
    mime = str(f.get("mimetype") or "")
    return f.get("subtype") == AUDIO_CLIP_SUBTYPE and (mime.startswith("audio/") or mime.startswith("video/") or not mime)


def parse_message(event: MessageEvent, team_id: str | None, bot_user_id: str | None) -> SlackMessage | None:
    """A person's message to the bot, or ``None`` for what the bot must ignore (its own posts,
    other bots, edits, deletions, joins).

    ``team_id`` is the receiving installation (:func:`tenant`); ``event.team`` (the sender's
    workspace, another one in a Slack Connect channel) is only a fallback when it is unknown.
    """
    if event.get("bot_id") or event.get("subtype") not in USER_SUBTYPES:
        return None
    user = event.get("user")
    channel = event.get("channel")
    ts = event.get("ts")
    if not user or not channel or not ts or (bot_user_id and user == bot_user_id):
        return None
    team = team_id or event.get("team") or ""
    return SlackMessage(
        team=team, channel=channel, user=user, text=clean_text(event.get("text") or "", bot_user_id),
        ts=ts, thread_ts=event.get("thread_ts") or ts, files=tuple(event.get("files") or ()),
        is_dm=event.get("channel_type") == "im" or channel.startswith("D"),
    )


_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)[^>]*>")


def clean_text(text: str, bot_user_id: str | None) -> str:
    """Slack's escaped mrkdwn -> plain text: the bot's own mention removed, links unwrapped."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", "", text)
    text = _MENTION.sub(lambda m: f"@{m.group(1)}", text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(1)}", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()


class DownloadError(RuntimeError):
    """A Slack file could not be downloaded; ``str()`` says why, for the log."""


Getter = Callable[[str, str], Awaitable[bytes]]  # (url, token) -> bytes


def is_external(f: FilePayload) -> bool:
    """A remote file (Google Drive, Dropbox, an app's link): Slack holds only its metadata."""
    return bool(f.get("is_external") or f.get("external_type") or f.get("mode") == "external")


def attachment_of(f: FilePayload, token: str | None, get: Getter) -> Attachment:
    """An :class:`Attachment` whose ``fetch`` downloads the file with the bot token.

    A remote file is never fetched (its ``url_private`` may point anywhere, and must not get the
    token); a URL off Slack's file hosts is refused by the getter. Either way the user gets one
    sentence naming the file.
    """
    name = f.get("name") or f.get("title") or f.get("id") or "file"
    mime = f.get("mimetype") or "application/octet-stream"
    url = f.get("url_private_download") or f.get("url_private") or ""
    shown = safe_name(name)

    async def fetch() -> bytes:
        if is_external(f):
            raise FetchRefused("a remote (external) file", f"I did not open '{shown}': it is a link to a file "
                               "stored outside Slack, so upload the file itself if you want me to use it.")
        if not url:
            raise DownloadError(f"Slack gave no download URL for {name}")
        if not token:
            raise DownloadError("no bot token for this workspace")
        try:
            return await get(url, token)
        except FetchRefused as exc:
            raise FetchRefused(str(exc), f"I did not open '{shown}': its download link does not point to "
                               "Slack's file servers.") from exc

    if is_audio_clip(f) and "." not in name:
        name += ".webm" if "webm" in mime else ".m4a"
    return Attachment(name=name, mime=mime, size=int(f.get("size") or 0), fetch=fetch)


def to_incoming(msg: SlackMessage, *, conversation: str, token: str | None, get: Getter,
                text: str | None = None) -> Incoming:
    """The neutral message. Audio clips go first (the dialogue transcribes the first attachment)."""
    files = sorted(msg.files, key=lambda f: not is_audio_clip(f))
    atts = tuple(attachment_of(f, token, get) for f in files)
    return Incoming(
        platform=PLATFORM, conversation=conversation, author=msg.user,
        text=msg.text if text is None else text, attachments=atts, is_voice=msg.is_clip,
        reply_to=msg.thread_ts, workspace=workspace_scope(msg.team), message_id=msg.ts,
    )

