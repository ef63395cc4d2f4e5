"""Plain data the offline planner reads and writes.

Kept apart from the logic so the chat-model wrapper, the planner modules and
the tests share one vocabulary without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["audio", "image", "video", "text"]


@dataclass(frozen=True)
class Artifact:
    """One file of the conversation, as the system message lists it."""

    id: str
    kind: str
    name: str = ""
    duration: float | None = None
    source: str = "user"
    turn: int = 0
    parent: str | None = None


@dataclass
class PastCall:
    """A tool call of an earlier turn and what it returned."""

    name: str
    args: dict[str, Any]
    ok: bool = True
    text: str = ""
    outputs: list[str] = field(default_factory=list)  # artifact ids it produced


@dataclass
class PastTurn:
    """One earlier turn: what the user wrote, what ran, what we answered."""

    text: str
    attachments: list[str] = field(default_factory=list)
    calls: list[PastCall] = field(default_factory=list)
    reply: str = ""


@dataclass
class PlanRequest:
    """Everything the planner may look at for the current turn."""

    text: str
    artifacts: list[Artifact] = field(default_factory=list)  # oldest first, without this turn's outputs
    attachments: list[str] = field(default_factory=list)  # ids attached to this turn
    history: list[PastTurn] = field(default_factory=list)  # oldest first
    allowed_tools: frozenset[str] | None = None  # None: every tool


@dataclass(frozen=True)
class Ref:
    """A value only known once an earlier task of the plan has run.

    ``what`` is ``artifact`` (an output id of ``kind``) or ``text`` (the result text).
    ``every``: expand into one call per produced artifact (e.g. transcribe each
    separated speaker).
    """

    task: int
    what: Literal["artifact", "text"] = "artifact"
    kind: str = "audio"
    every: bool = False


@dataclass
class Task:
    """One tool call of the plan; args may hold :class:`Ref` values."""

    index: int
    tool: str
    args: dict[str, Any]
    segment: str = ""  # the user's words this task came from, for explanations

    def deps(self) -> set[int]:
        return {v.task for v in self.args.values() if isinstance(v, Ref)}


@dataclass
class Plan:
    """Either a reply (no tool) or tasks grouped into steps that run one after another."""

    reply: str | None = None
    kind: str = "tools"  # tools | chat | clarify | need_file | need_arg | unsupported | unknown
    tasks: list[Task] = field(default_factory=list)
    steps: list[list[int]] = field(default_factory=list)  # task indexes per step
    debug: dict[str, Any] = field(default_factory=dict)

    @property
    def tools(self) -> list[str]:
        return [t.tool for t in self.tasks]
