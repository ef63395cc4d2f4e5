"""Turn routed segments into validated tool calls: artifact resolution and arguments.

Why here and not in the router: which file "it" means, which language, which
words to speak, all depend on the conversation (attachments of this turn,
earlier outputs, the previous step of this plan), not on the wording alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from audiogpt.core.engine import planner_args as A
from audiogpt.core.engine.planner_replies import ask_for_arg, ask_for_file
from audiogpt.core.engine.planner_router import VOICE_REF_RE
from audiogpt.core.engine.planner_text import Segment, ask_clause, normalise_words
from audiogpt.core.engine.planner_types import Artifact, PastCall, PastTurn, PlanRequest, Ref, Task
from audiogpt.core.engine.roles import by_role
from audiogpt.core.tools import TOOLS, get_tool


def text_result(tool: str) -> bool:
    """Its answer is text a later step can use (a transcript, a caption): catalogue fact."""
    return tool in TOOLS and TOOLS.get(tool).text_result


def per_file(tool: str) -> bool:
    """One main input, so "both/these/each" means one call per file: catalogue fact."""
    return tool in TOOLS and TOOLS.get(tool).per_file


PLURAL_RE = re.compile(r"\b(both|all|each|every|these|them|those|they|all of them)\b", re.I)
THIS_RE = re.compile(r"\b(this|these|my|the attached|attached|the original|original|the uploaded)\b", re.I)
DEFAULT_LYRICS = "la la la"
ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "fourth": 3, "4th": 3,
            "last": -1, "latter": -1, "former": 0}
ORDINAL_RE = re.compile(
    r"\bthe\s+(first|1st|second|2nd|third|3rd|fourth|4th|last|latter|former|other|remaining)"
    r"(?:\s+(?:one|file|recording|clip|audio|track|voice\s*note|picture|photo|image))?\b",
    re.I,
)
# "each speaker separately", "per speaker", "what each of them said": a transcript per voice.
PER_SPEAKER_RE = re.compile(
    r"\b(?:per|for\s+each|for\s+every)\s+(?:speaker|person|voice|participant|caller|agent)\b|\bspeaker[\s-]+by[\s-]+speaker\b|"
    r"\b(?:each|every|both)\s+(?:one\s+)?(?:of\s+(?:the\s+)?)?(?:speakers?|persons?|people|voices?|participants?|agents?|"
    r"callers?|hosts?|them|two)\b.{0,40}\b(?:separately|individually|on\s+(?:its|their)\s+own|apart)\b|"
    r"\b(?:separately|individually)\b.{0,40}\b(?:each|every|both)\s+(?:of\s+(?:the\s+)?)?(?:speakers?|persons?|people|voices?|them)\b",
    re.I,
)
TRANSCRIPT_OF_RE = re.compile(
    r"\b(transcript\w*|what (?:he|she|they|it|the \w+) (?:says|said)|the words (?:of|in|from)|what is said)\b", re.I
)


class NeedInput(Exception):
    """A task cannot be built: ``reply`` says what is missing (one short paragraph)."""

    def __init__(self, reply: str, kind: str, tool: str = "", arg: str = "") -> None:
        super().__init__(reply)
        self.reply = reply
        self.kind = kind
        self.tool = tool  # for need_arg: which argument of which tool, so the answer can fill it
        self.arg = arg


@dataclass
class Context:
    """The conversation as the planner sees it."""

    req: PlanRequest
    by_id: dict[str, Artifact] = field(default_factory=dict)
    attachments: list[Artifact] = field(default_factory=list)

    @classmethod
    def of(cls, req: PlanRequest) -> Context:
        by_id = {a.id: a for a in req.artifacts}
        atts = [by_id[i] for i in req.attachments if i in by_id]
        return cls(req, by_id, atts)

    def latest(self, kind: str) -> Artifact | None:
        for a in reversed(self.req.artifacts):
            if a.kind == kind:
                return a
        return None

    def has(self, kind: str) -> bool:
        return any(a.kind == kind for a in self.req.artifacts)

    def last_calls(self) -> tuple[PastTurn, list[PastCall]] | None:
        """The most recent earlier turn that ran tools, with its successful calls."""
        for turn in reversed(self.req.history):
            ok = [c for c in turn.calls if c.ok]
            if ok:
                return turn, ok
        return None

    def last_result_text(self) -> str | None:
        for turn in reversed(self.req.history):
            for c in reversed(turn.calls):
                if c.ok and c.text.strip() and text_result(c.name):
                    return c.text.strip()
        return None


def _produces(tool: str) -> tuple[str, ...]:
    return get_tool(tool).produces


class Builder:
    """Accumulates tasks for one plan."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.tasks: list[Task] = []
        self.notes: list[str] = []

    # --- artifacts ----------------------------------------------------------------------

    def explicit(self, seg: Segment, kind: str) -> list[str]:
        ids = A.artifact_ids(seg.text)
        out = []
        for i in ids:
            art = self.ctx.by_id.get(i)
            if art is None:
                known = ", ".join(f"{a.id} ({a.kind}, {a.name})" for a in self.ctx.req.artifacts) or "none yet"
                raise NeedInput(f"I can't find {i} in this conversation. Files I have: {known}.", "unknown_id")
            if art.kind == kind:
                out.append(i)
        return out

    def resolve(self, seg: Segment, tool: str, kind: str, *, many: bool) -> list[str | Ref]:
        """Which artifact(s) of ``kind`` the segment means; [] when there is none.

        Order: ids named in the text; 'the first/second/other one' among the latest
        uploads; the output of the previous step of this plan ('clean it, then
        transcribe it'); this turn's attachments; the most recent artifact of the kind
        (which may be an output of an earlier turn: 'now make it louder').
        """
        ids = self.explicit(seg, kind)
        if ids:
            return list(ids) if many else [ids[0]]
        ordinal = self.ordinal(seg, kind)
        if ordinal:
            return [ordinal]
        plural = bool(PLURAL_RE.search(seg.text))
        prev = next((t for t in reversed(self.tasks) if kind in _produces(t.tool)), None)
        atts = [a.id for a in self.ctx.attachments if a.kind == kind]
        if prev is not None:
            uses_attachment = any(v in atts for v in prev.args.values() if isinstance(v, str))
            points_at_upload = bool(THIS_RE.search(seg.text)) and atts and not uses_attachment
            if not points_at_upload:
                return [Ref(prev.index, "artifact", kind, every=plural and many)]
        if atts:
            return atts if many else atts[:1]
        group = self.upload_group(kind)
        if plural and many and len(group) > 1:
            return list(group)
        latest = self.ctx.latest(kind)
        return [latest.id] if latest else []

    def upload_group(self, kind: str) -> list[str]:
        """Ids of ``kind`` from the most recent turn that uploaded any (this turn first)."""
        atts = [a.id for a in self.ctx.attachments if a.kind == kind]
        if atts:
            return atts
        for turn in reversed(self.ctx.req.history):
            ids = [i for i in turn.attachments if i in self.ctx.by_id and self.ctx.by_id[i].kind == kind]
            if ids:
                return ids
        return []

    def ordinal(self, seg: Segment, kind: str) -> str | None:
        """'the second one', 'the last file', 'the other recording' among the latest uploads."""
        m = ORDINAL_RE.search(seg.text)
        if not m:
            return None
        group = self.upload_group(kind)
        if len(group) < 2:
            return None
        word = m.group(1).lower()
        if word in ("other", "remaining"):
            used = {v for c in (self.ctx.last_calls() or (None, []))[1] for v in c.args.values()}
            rest = [i for i in group if i not in used]
            return rest[0] if len(rest) == 1 else None
        idx = ORDINALS.get(word)
        if idx is None or idx >= len(group):
            return None
        return group[idx]

    # --- helpers ------------------------------------------------------------------------

    def text_source(self, seg: Segment, explicit: str | None) -> str | Ref | None:
        """Words to speak: explicit text, else an earlier task's text, else the last result text."""
        if explicit:
            return explicit
        prev = next((t for t in reversed(self.tasks) if text_result(t.tool)), None)
        if prev is not None:
            return Ref(prev.index, "text")
        return self.ctx.last_result_text()

    def add(self, tool: str, args: dict[str, Any], seg: Segment) -> Task:
        clean = {k: v for k, v in args.items() if v is not None}
        _validate(tool, clean)
        task = Task(len(self.tasks), tool, clean, seg.text)
        self.tasks.append(task)
        return task

    def prior_query(self) -> str | None:
        for t in reversed(self.tasks):
            q = t.args.get("query")
            if isinstance(q, str):
                return q
        last = self.ctx.last_calls()
        if last:
            for c in reversed(last[1]):
                q = c.args.get("query")
                if isinstance(q, str) and q:
                    return q
        return None

    # --- per tool -------------------------------------------------------------------------

    def build(self, seg: Segment, tool: str, overrides: dict[str, Any] | None = None) -> list[Task]:
        """Add the task(s) for ``tool`` on ``seg``; raises :class:`NeedInput` when something is missing."""
        overrides = overrides or {}
        # A tool's builder is chosen by its role (catalogue), so a tool that takes a role over
        # gets its argument handling; any other tool gets the generic one from its argument model.
        for role in sorted(TOOLS.role_of(tool)):
            method = getattr(self, f"_b_{role}", None)
            if method is not None and by_role(role) == tool:
                return method(seg, overrides)
        return self._per_file(seg, tool, self._simple_args(seg, tool, overrides), overrides)

    def _simple_args(self, seg: Segment, tool: str, ov: dict[str, Any] | None = None) -> dict[str, Any]:
        t = seg.full
        if ov and "query" in ov:
            return {}
        if tool == by_role("transcribe"):
            return {"language": A.source_language(t)}
        if tool == by_role("split_speakers"):
            return {"speakers": A.speakers(t)}
        if tool == by_role("spatialise"):
            return {"azimuth": A.azimuth(t), "elevation": A.elevation(t), "motion": A.motion(t)}
        if tool == by_role("repair"):
            start, end = A.time_range(t)
            return {"start": start, "end": end}
        if tool in (by_role("extract_sound"), by_role("find_sound")):
            ask = ask_clause(seg.text)
            q = (A.sound_query(ask, seg.quotes) if ask != seg.text else None) or A.sound_query(t, seg.quotes)
            q = q or self.prior_query()
            if not q:
                raise NeedInput(ask_for_arg(tool, "query"), "need_arg", tool, "query")
            return {"query": q}
        if tool == by_role("sound_for_image"):
            return {"seconds": _clamp(A.seconds(t), 60)}
        return {}

    def _per_file(self, seg: Segment, tool: str, args: dict[str, Any], overrides: dict[str, Any]) -> list[Task]:
        spec = get_tool(tool)
        (name, kind, _), *_ = spec.args.artifact_fields()
        targets = overrides.pop(name, None)
        if targets is None:
            targets = self.resolve(seg, tool, kind, many=per_file(tool))
        elif not isinstance(targets, list):
            targets = [targets]
        if not targets:
            unusable = [(a.id, a.name, a.kind) for a in self.ctx.attachments if a.kind != kind]
            raise NeedInput(ask_for_file(tool, kind, unusable), "need_file")
        args = {**args, **overrides}
        return [self.add(tool, {name: tgt, **args}, seg) for tgt in targets]

    def _b_transcribe(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        """'Transcribe what each of them said separately': split the speakers first, then one
        transcript per speaker track."""
        args = self._simple_args(seg, by_role("transcribe"), ov)
        if (
            "audio" not in ov
            and PER_SPEAKER_RE.search(seg.full)
            and not any(t.tool == by_role("split_speakers") for t in self.tasks)
            and not A.artifact_ids(seg.text)
        ):
            audios = self.resolve(seg, by_role("split_speakers"), "audio", many=False)
            if audios:
                sep = self.add(by_role("split_speakers"), {"audio": audios[0], "speakers": A.speakers(seg.full)}, seg)
                return [sep, self.add(by_role("transcribe"), {"audio": Ref(sep.index, "artifact", "audio", every=True), **args}, seg)]
        return self._per_file(seg, by_role("transcribe"), args, ov)

    def _b_translate_speech(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        lang = A.target_language(seg.text) or A.target_language(seg.full)
        if lang is None:
            last = self.ctx.last_calls()
            prev = [c.args.get("target_language") for c in last[1]] if last else []
            lang = next((x for x in prev if x), "en")
        return self._per_file(
            seg, by_role("translate_speech"), {"target_language": lang, "speak": A.wants_spoken_output(seg.text) or None}, ov
        )

    def _b_speak(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        # Speaking a translation is the translation tool's own option.
        prev = self.tasks[-1] if self.tasks else None
        explicit = A.spoken_text(seg.text, seg.quotes)
        if prev is not None and prev.tool == by_role("translate_speech") and not explicit:
            prev.args["speak"] = True
            return []
        # "say it in my voice" with a voice to copy is voice cloning.
        if VOICE_REF_RE.search(seg.full) and "text" not in ov and (
            self.explicit(seg, "audio") or any(a.kind == "audio" for a in self.ctx.attachments)
        ):
            return self._b_clone_voice(seg, ov)
        text = ov.pop("text", None) or self.text_source(seg, explicit)
        if text is None and TRANSCRIPT_OF_RE.search(seg.text):
            # "read out the transcript of a1": transcribe first, then speak the result.
            audios = self.resolve(seg, by_role("transcribe"), "audio", many=False)
            if audios:
                sr = self.add(by_role("transcribe"), {"audio": audios[0]}, seg)
                text = Ref(sr.index, "text")
        if text is None:
            raise NeedInput(ask_for_arg(by_role("speak"), "text"), "need_arg", by_role("speak"), "text")
        lang = A.target_language(seg.text) if A.languages(seg.text) else None
        task = self.add(by_role("speak"), {"text": text, "language": lang, **ov}, seg)
        return [task, *self._animate(seg, task)]

    def _animate(self, seg: Segment, voice: Task) -> list[Task]:
        """'Make this picture say/sing ...' with a photo attached: speak or sing, then animate it."""
        images = self.explicit(seg, "image") or [a.id for a in self.ctx.attachments if a.kind == "image"]
        if not images:
            return []
        return [self.add(by_role("animate_face"), {"audio": Ref(voice.index), "image": images[0]}, seg)]

    def _b_clone_voice(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        explicit = A.spoken_text(seg.text, seg.quotes)
        text = ov.pop("text", None) or self.text_source(seg, explicit)
        refs = ov.pop("reference", None)
        refs = [refs] if refs else self.resolve(seg, by_role("clone_voice"), "audio", many=False)
        if not refs:
            raise NeedInput(
                "To speak in someone's voice I need a short recording of that voice. Please attach one "
                "(and tell me the text to say).",
                "need_file",
            )
        if text is None:
            raise NeedInput(ask_for_arg(by_role("clone_voice"), "text"), "need_arg", by_role("clone_voice"), "text")
        return [self.add(by_role("clone_voice"), {"text": text, "reference": refs[0], **ov}, seg)]

    def _b_animate_face(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        audio = ov.pop("audio", None)
        audios = [audio] if audio else self.resolve(seg, by_role("animate_face"), "audio", many=False)
        images = self.explicit(seg, "image") or [a.id for a in self.ctx.attachments if a.kind == "image"]
        if not images and self.ctx.latest("image") is not None and re.search(
            r"\b(this|that|the|my)\s+(picture|photo|image|portrait|face|pic|selfie)\b", seg.text, re.I
        ):
            images = [self.ctx.latest("image").id]  # type: ignore[union-attr]
        image = images[0] if images else None
        spoken = A.spoken_text(seg.text, seg.quotes)
        if spoken and not self.explicit(seg, "audio") and not any(isinstance(a, Ref) for a in audios):
            tts = self.add(by_role("speak"), {"text": spoken}, seg)
            audios = [Ref(tts.index)]
        if not audios:
            raise NeedInput(
                "To make a talking-head video I need the speech: attach a recording, or tell me what the "
                "face should say (in quotes).",
                "need_file",
            )
        return [self.add(by_role("animate_face"), {"audio": audios[0], "image": image, **ov}, seg)]

    def _b_make_sound(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        args = {"text": A.description(_spelled(seg.text), seg.quotes), "seconds": _clamp(A.seconds(seg.text), 60)}
        return [self.add(by_role("make_sound"), {**args, **ov}, seg)]

    def _b_make_music(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        args = {
            "text": A.description(_spelled(seg.text), seg.quotes, music=True),
            "seconds": _clamp(A.seconds(seg.text), 120),
        }
        return [self.add(by_role("make_music"), {**args, **ov}, seg)]

    def _b_sing(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        lyr = A.lyrics(seg.text, seg.quotes)
        if lyr is None:
            src = self.text_source(seg, None) if re.search(r"\b(it|that|this|them)\b", seg.text, re.I) else None
            lyr = src if src is not None else DEFAULT_LYRICS
        args = {"lyrics": lyr, "notes": A.notes(seg.text), "tempo": A.tempo(seg.text)}
        task = self.add(by_role("sing"), {**args, **ov}, seg)
        return [task, *self._animate(seg, task)]

    def _b_sound_for_image(self, seg: Segment, ov: dict[str, Any]) -> list[Task]:
        return self._per_file(seg, by_role("sound_for_image"), self._simple_args(seg, by_role("sound_for_image")), ov)


def _spelled(text: str) -> str:
    """The text with typos fixed when there were any (a description should not read 'soud of rain')."""
    fixed = normalise_words(text)
    return fixed if fixed.replace(" ", "") != text.lower().replace(" ", "") else text


def _clamp(v: float | None, hi: float) -> float | None:
    if v is None:
        return None
    return max(0.5, min(hi, v))


def _validate(tool: str, args: dict[str, Any]) -> None:
    """Check args against the tool's pydantic model, with placeholders for not-yet-known values."""
    probe = {}
    for k, v in args.items():
        if isinstance(v, Ref):
            probe[k] = "a1" if v.what == "artifact" else "text"
        else:
            probe[k] = v
    try:
        get_tool(tool).args.model_validate(probe)
    except ValidationError as e:
        raise NeedInput(f"I couldn't prepare {tool}: {e.errors()[0]['msg']}.", "need_arg") from e
