"""The events that cross between a platform adapter and the dialogue.

Small frozen dataclasses in the spirit of Wyoming: an adapter's whole job is
platform payload -> :class:`Incoming`, and :class:`Outgoing` / :class:`Progress`
-> platform calls. Media travels as references (a fetch callable, a path),
never as base64.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Fetch = Callable[[], Awaitable[bytes]]


@dataclass(frozen=True)
class Attachment:
    """A file a user sent. ``fetch`` downloads the bytes lazily (after size checks)."""

    name: str
    mime: str
    size: int  # Bytes, as the platform reports it (0 when unknown)
    fetch: Fetch = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "mime": self.mime, "size": self.size}


@dataclass(frozen=True)
class Incoming:
    """One user message, platform-neutral."""

    platform: str  # "console", "cli", "discord", "slack", "eval"
    conversation: str  # conversation key, e.g. "discord:thread:123" or "slack:T1:C1:1700.1"
    author: str  # platform user id or name
    text: str
    attachments: tuple[Attachment, ...] = ()
    is_voice: bool = False  # a voice message: transcribe it and answer by voice
    reply_to: str | None = None  # platform message id to reply to / thread to post in
    workspace: str | None = None  # guild / team id, for per-workspace settings
    message_id: str | None = None  # platform id of this message (dedup of redeliveries)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["attachments"] = [a.to_dict() for a in self.attachments]
        return d


@dataclass(frozen=True)
class ArtifactOut:
    """An artifact a reply carries: short id, absolute path and what it is."""

    id: str
    path: str
    mime: str
    kind: str  # audio | image | video | text
    name: str = ""
    duration: float | None = None  # seconds, for audio/video
    size: int = 0  # bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "mime": self.mime,
            "kind": self.kind,
            "duration": self.duration,
        }


@dataclass(frozen=True)
class ToolCallRecord:
    """What one tool call did, for the reply and the CLI's ``--json``."""

    tool: str
    args: dict[str, Any]
    backend: str | None
    seconds: float
    ok: bool
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[str, ...] = ()
    runner: str | None = None  # "local" | "ray"
    replica: str | None = None  # where the model ran (a Ray replica, or the bot process)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "args": self.args,
            "backend": self.backend,
            "seconds": round(self.seconds, 4),
            "ok": self.ok,
            "error": self.error,
            "runner": self.runner,
            "replica": self.replica,
        }


@dataclass(frozen=True)
class Outgoing:
    """The bot's answer to one turn."""

    conversation: str
    text: str
    artifacts: tuple[ArtifactOut, ...] = ()
    as_voice: bool = False  # post the (first) audio artifact as a voice message
    reply_to: str | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    turn_id: int | None = None

    def data(self) -> dict[str, Any]:
        """Structured results of the turn's tool calls (last call of each tool wins)."""
        out: dict[str, Any] = {}
        for call in self.tool_calls:
            if call.data:
                out.update(call.data)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "data": self.data(),
        }


ProgressKind = Literal["started", "step", "done", "failed"]


@dataclass(frozen=True)
class Progress:
    """A job's progress, for spinners, typing indicators and status edits."""

    conversation: str
    job_id: int
    tool: str
    kind: ProgressKind
    message: str = ""
    fraction: float | None = None  # 0..1 when known
    reply_to: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
