"""What a tool is: its argument model and every fact any layer needs about it.

Why one record: the engine routes by a tool's exemplars, the adapters word its
progress, the Ray runner groups it into a family, the offline summary labels its
result, `audiogpt tools` and the README list it. When those facts lived in side
tables next to each consumer, adding a tool meant editing thirteen files and
forgetting one failed silently. Now a tool is one module in
``audiogpt/core/catalogue/tools/`` (or an ``audiogpt.tools`` entry point of another
package) holding one :class:`ToolSpec`; consumers read the spec and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ArtifactKind = Literal["audio", "image", "video", "text"]
ARTIFACT_ID_PATTERN = r"^a[1-9][0-9]*$"


def artifact_field(kind: ArtifactKind, description: str, *, optional: bool = False) -> Any:
    """A pydantic field holding an artifact id of ``kind``."""
    extra = {"artifact": kind}
    if optional:
        return Field(default=None, description=description, json_schema_extra=extra)
    return Field(description=description, json_schema_extra=extra)


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def artifact_fields(cls) -> list[tuple[str, ArtifactKind, bool]]:
        """``(name, kind, required)`` of every artifact argument, in declared order."""
        out: list[tuple[str, ArtifactKind, bool]] = []
        for name, f in cls.model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            kind = extra.get("artifact")
            if kind:
                out.append((name, kind, f.is_required()))  # type: ignore[arg-type]
        return out

    @classmethod
    def text_fields(cls) -> list[str]:
        """Names of the free-text string arguments (what to say, what to generate, a query)."""
        out = []
        for name, f in cls.model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            if f.annotation is str and not extra.get("artifact"):
                out.append(name)
        return out


# Roles a tool can play in a plan. The offline engine chains steps by role ("then read it
# out" appends the tool whose role is SPEAK; "clean it up first" prepends CLEAN), so it never
# names a tool. A tool may have several roles, and a new tool may take one over.
Role = Literal[
    "transcribe",  # speech -> text in the spoken language
    "translate_speech",  # speech -> text in another language
    "speak",  # typed text -> speech
    "clone_voice",  # typed text -> speech in a reference voice
    "clean",  # a recording -> the same recording, cleaner
    "split_speakers",
    "spatialise",
    "repair",
    "extract_sound",
    "find_sound",
    "tag_sounds",
    "animate_face",
    "make_sound",
    "sound_for_image",
    "describe_audio",
    "sing",
    "make_music",
    "diarize",  # a recording -> who spoke when
]


@dataclass(frozen=True)
class ToolSpec:
    """One tool. Field order is the order a reader needs them in; all but three have defaults."""

    name: str
    description: str  # one paragraph, written for the LLM
    args: type[ToolArgs]
    produces: tuple[ArtifactKind, ...] = ()  # kinds of artifacts it makes (dry runs, planning)
    family: str = "misc"  # which Ray Serve app / GPU pool serves it (tools of a family share models)
    label: str = ""  # heading of its result in a summary: "Transcript"
    phrase: str = ""  # what it does as the object of "I can ...": "transcribe the speech"
    progress: str = ""  # status wording while it runs: "transcribing"
    roles: frozenset[str] = frozenset()  # what it is for in a chain (see Role)
    text_result: bool = False  # its answer is text a later step or follow-up can use
    quote_result: bool = False  # the offline summary quotes its text in full
    per_file: bool = False  # "do it for both" means one call per file
    takes_text: bool = False  # words typed by the user are its main input
    exemplars: tuple[str, ...] = ()  # how people ask for it (routing training data)
    # Phrasings that look like this tool but ask for another: (text, the class it belongs to).
    # Kept beside the tool they are confused with, so the fact has one home.
    contrasts: tuple[tuple[str, str], ...] = ()
    # Templates with a {sound} or {recording} slot, filled from the engine's slot lists, so
    # that the object noun stops deciding and the operation does.
    templates: tuple[str, ...] = ()
    # What to ask when a required argument is missing: (argument, question).
    questions: tuple[tuple[str, str], ...] = ()
    order: int = 1000  # position in listings; built-ins 10, 20, ...
    # A built-in that would grow the public 17-tool contract: listed only when a deployment names
    # it in AUDIOGPT_EXTRA_TOOLS (plug-ins from entry points are always listed: installing is opting in).
    opt_in: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # for third-party consumers

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"Tool name {self.name!r} must be an identifier.")

    @property
    def main_input(self) -> ArtifactKind | None:
        """Kind of the first required artifact argument (what must exist before it can run)."""
        for _, kind, required in self.args.artifact_fields():
            if required:
                return kind
        return None

    def question(self, arg: str) -> str:
        """The question that asks the user for ``arg`` (a generic one when none is set)."""
        for name, q in self.questions:
            if name == arg:
                return q
        return f"I need a bit more detail to {self.phrase or self.name.replace('_', ' ')}: what {arg}?"

    def json_schema(self) -> dict[str, Any]:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return schema

    def openai_schema(self, availability: str = "") -> dict[str, Any]:
        desc = self.description + (f" {availability}" if availability else "")
        return {
            "type": "function",
            "function": {"name": self.name, "description": desc, "parameters": self.json_schema()},
        }
