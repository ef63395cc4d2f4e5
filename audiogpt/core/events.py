"""The events that cross between a platform adapter and the dialogue.

Small frozen dataclasses in the spirit of Wyoming: an adapter's whole job is
platform payload -> :class:`Incoming`, and :class:`Outgoing` / :class:`Progress`
-> platform calls. Media travels as references (a fetch callable, a path),
never as base64.

Each event has ``to_dict`` / ``from_dict`` that round-trip (``from_dict(e.to_dict()) == e``),
so what the outbox stores for a reply is the :class:`Outgoing` itself, not a look-alike
rebuilt field by field. The dicts are JSON-safe. The one thing that cannot travel is an
:class:`Attachment`'s ``fetch`` callable: ``from_dict`` takes a new one (or gives a fetch
that says the bytes are not available here).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, cast

Fetch = Callable[[], Awaitable[bytes]]


def _unfetchable(name: str) -> Fetch:
    async def fetch() -> bytes:
        raise RuntimeError(f"the bytes of '{name}' are not available here (the attachment was rebuilt from a dict)")

    return fetch


@dataclass(frozen=True)
class Attachment:
    """A file a user sent. ``fetch`` downloads the bytes lazily (after size checks)."""

    name: str
    mime: str
    size: int  # Bytes, as the platform reports it (0 when unknown)
    fetch: Fetch = field(repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Everything but ``fetch`` (a callable does not serialise)."""
        return {"name": self.name, "mime": self.mime, "size": self.size}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], fetch: Fetch | None = None) -> Attachment:
        name = str(d["name"])
        return cls(name=name, mime=str(d.get("mime") or "application/octet-stream"), size=int(d.get("size") or 0),
                   fetch=fetch or _unfetchable(name))


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
        return {"platform": self.platform, "conversation": self.conversation, "author": self.author,
                "text": self.text, "attachments": [a.to_dict() for a in self.attachments],
                "is_voice": self.is_voice, "reply_to": self.reply_to, "workspace": self.workspace,
                "message_id": self.message_id}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], fetches: Mapping[str, Fetch] | None = None) -> Incoming:
        """``fetches`` gives attachments (by name) a way to get their bytes again."""
        fetches = fetches or {}
        atts = tuple(Attachment.from_dict(a, fetches.get(str(a["name"]))) for a in d.get("attachments") or ())
        return cls(platform=str(d["platform"]), conversation=str(d["conversation"]), author=str(d["author"]),
                   text=str(d.get("text") or ""), attachments=atts, is_voice=bool(d.get("is_voice")),
                   reply_to=d.get("reply_to"), workspace=d.get("workspace"), message_id=d.get("message_id"))


@dataclass(frozen=True)
class ArtifactOut:
    """An artifact a reply carries: short id, absolute path and what it is."""

    id: str
    path: str  # where this process reads it (a local file, or the blob cache of an object store)
    mime: str
    kind: str  # audio | image | video | text
    name: str = ""
    duration: float | None = None  # seconds, for audio/video
    size: int = 0  # bytes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArtifactOut:
        dur = d.get("duration")
        return cls(id=str(d["id"]), path=str(d.get("path") or ""), mime=str(d.get("mime") or ""),
                   kind=str(d.get("kind") or ""), name=str(d.get("name") or ""),
                   duration=None if dur is None else float(dur), size=int(d.get("size") or 0))


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
        return {"tool": self.tool, "args": self.args, "backend": self.backend, "seconds": self.seconds,
                "ok": self.ok, "error": self.error, "data": self.data, "artifacts": list(self.artifacts),
                "runner": self.runner, "replica": self.replica}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ToolCallRecord:
        return cls(tool=str(d["tool"]), args=dict(d.get("args") or {}), backend=d.get("backend"),
                   seconds=float(d.get("seconds") or 0.0), ok=bool(d.get("ok")), error=d.get("error"),
                   data=dict(d.get("data") or {}), artifacts=tuple(d.get("artifacts") or ()),
                   runner=d.get("runner"), replica=d.get("replica"))


@dataclass(frozen=True)
class Outgoing:
    """The bot's answer to one turn."""

    conversation: str
    text: str
    artifacts: tuple[ArtifactOut, ...] = ()
    as_voice: bool = False  # post the spoken artifact (``core.gate.voice_artifact``) as a voice message
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
        """Every field, plus ``data`` (derived; for readers of the CLI's ``--json``, ignored by ``from_dict``)."""
        return {
            "conversation": self.conversation,
            "text": self.text,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "as_voice": self.as_voice,
            "reply_to": self.reply_to,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
            "turn_id": self.turn_id,
            "data": self.data(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Outgoing:
        turn_id = d.get("turn_id")
        return cls(conversation=str(d["conversation"]), text=str(d.get("text") or ""),
                   artifacts=tuple(ArtifactOut.from_dict(a) for a in d.get("artifacts") or ()),
                   as_voice=bool(d.get("as_voice")), reply_to=d.get("reply_to"),
                   tool_calls=tuple(ToolCallRecord.from_dict(c) for c in d.get("tool_calls") or ()),
                   turn_id=None if turn_id is None else int(turn_id))


ProgressKind = Literal["started", "step", "done", "failed"]
PROGRESS_KINDS: tuple[ProgressKind, ...] = ("started", "step", "done", "failed")


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

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Progress:
        kind = str(d["kind"])
        if kind not in PROGRESS_KINDS:
            raise ValueError(f"{kind!r} is not a progress kind ({', '.join(PROGRESS_KINDS)})")
        frac = d.get("fraction")
        return cls(conversation=str(d["conversation"]), job_id=int(d["job_id"]), tool=str(d["tool"]),
                   kind=cast(ProgressKind, kind), message=str(d.get("message") or ""),
                   fraction=None if frac is None else float(frac), reply_to=d.get("reply_to"))
