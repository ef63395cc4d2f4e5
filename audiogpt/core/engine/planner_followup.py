"""Follow-ups: requests that only make sense against the previous turn.

Why a separate step before routing: "what about Swedish?", "longer, 30 seconds",
"actually, move it to the right", "same for this one" carry almost no task words,
so the embedding cannot route them; the previous turn's tool calls can. Each
rule names the previous call it reuses and which of its inputs carry over.
"""

from __future__ import annotations

import re
from typing import Any

from audiogpt.core.engine import planner_args as A
from audiogpt.core.engine.planner_build import Context
from audiogpt.core.engine.planner_intent import FIXED_RENDER_TOOLS, UNSUPPORTED_CHANGE
from audiogpt.core.engine.planner_router import TOOL_CLASSES, Routed
from audiogpt.core.engine.planner_text import PLACEHOLDER_RE, Segment, starts_with_action
from audiogpt.core.engine.roles import by_role
from audiogpt.core.tools import get_tool

WEAK = 0.38  # a routing below this is too unsure to override the conversation's context
REUSE_INPUT_TOOLS = frozenset({by_role("translate_speech"), by_role("spatialise"), by_role("animate_face"), by_role("clone_voice")})
REPEAT_RE = re.compile(
    r"\b(same|again|likewise|as well|one more time|another one|redo|repeat|also for|do it for|do that for|"
    r"this one too|that one too|too)\b",
    re.I,
)

# A message that only names another file: "and now the other one", "what about a3?"
ONLY_REF_RE = re.compile(
    r"^(?:and|now|also|then|ok|okay|what about|how about|same for|same with|do|please|pls|next|[,\s])*"
    r"(?:the\s+(?:first|1st|second|2nd|third|3rd|last|other|remaining)(?:\s+(?:one|file|recording|clip|track))?"
    r"|this one|that one|a[1-9]\d*(?:\s*(?:,|and)\s*a[1-9]\d*)*)"
    r"(?:\s+(?:too|as well|please|pls))?\s*[?.!]*$",
    re.I,
)


def follow_up(seg: Segment, r: Routed, ctx: Context) -> tuple[str, dict[str, Any]] | None:
    """Reuse the previous turn's tool when the text only changes a detail or asks to repeat."""
    last = ctx.last_calls()
    if last is None:
        return None
    _, calls = last
    t = seg.text
    words = re.findall(r"\w+", PLACEHOLDER_RE.sub("", t))
    weak = r.best not in TOOL_CLASSES or r.best_score < WEAK
    first = calls[0]
    prev_tools = [c.name for c in calls]
    # "again but slower", "louder please", "with more warmth": a change the last tool cannot make.
    if (
        UNSUPPORTED_CHANGE.search(t)
        and first.name in FIXED_RENDER_TOOLS
        and (REPEAT_RE.search(t) or len(words) <= 8)
        and (weak or r.best in prev_tools or r.best == "unsupported")
        and not seg.quotes
        and not ctx.attachments
    ):
        return "unsupported", {}
    # Same tool again with a corrected detail ("actually, move it to the right"): same input.
    if r.best in prev_tools and r.best in REUSE_INPUT_TOOLS and not A.artifact_ids(t) and not ctx.attachments:
        call = next(c for c in calls if c.name == r.best)
        return r.best, inputs_of(call)
    langs = A.languages(t)
    new_words = seg.quotes or A.spoken_text(t, [])
    if langs and by_role("translate_speech") in prev_tools and r.best in (by_role("speak"), by_role("translate_speech")) and not new_words:
        # "now into French and read it aloud" after a translation: translate again (and speak).
        call = next(c for c in calls if c.name == by_role("translate_speech"))
        return call.name, inputs_of(call)
    if langs and len(words) <= 6 and (weak or not starts_with_action(t)):
        for c in calls:
            if c.name == by_role("translate_speech"):
                return c.name, {**inputs_of(c)}
            if c.name == by_role("transcribe") and not A.source_language_named(t):
                # "this but in German" after a transcript: the same recording, translated.
                return by_role("translate_speech"), {**inputs_of(c)}
            if c.name in (by_role("speak"), by_role("transcribe")):
                return c.name, {**inputs_of(c), **({"text": c.args.get("text")} if c.name == by_role("speak") else {})}
    secs = A.seconds(t)
    longer = re.search(r"\b(longer|shorter|extend|lengthen)\b", t, re.I)
    if (secs or longer) and len(words) <= 10:
        for c in calls:
            if c.name in (by_role("make_sound"), by_role("make_music"), by_role("sound_for_image")) and (
                weak or r.best == c.name or longer
            ):
                ov = {k: v for k, v in c.args.items() if k != "seconds"}
                old = c.args.get("seconds") or 10.0
                new = secs or (float(old) * 2 if re.search(r"longer|extend|lengthen", t, re.I) else float(old) / 2)
                ov["seconds"] = new
                return c.name, ov
    if (REPEAT_RE.search(t) and (weak or (r.best in prev_tools and len(words) <= 5))) or ONLY_REF_RE.match(t):
        return first.name, {"__repeat__": True}
    return None



def inputs_of(call: Any) -> dict[str, Any]:
    """The artifact arguments of an earlier call (what it worked on)."""
    fields = [n for n, _, _ in get_tool(call.name).args.artifact_fields()]
    return {k: v for k, v in call.args.items() if k in fields and v}


