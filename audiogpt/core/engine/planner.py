"""The offline planner: from one user turn (plus conversation) to a reply or a plan of tool calls.

Pipeline: protect quoted text -> split into request segments -> route each by
embedding similarity (planner_router) -> resolve follow-ups against history
("same for this one", "what about Swedish?") -> merge and drop chit-chat ->
build validated calls with artifact references (planner_build) -> group
independent calls into parallel steps.

Stateless and deterministic: the chat model re-plans on every call of the tool
loop and must get the same plan each time.
"""

from __future__ import annotations

import re
import threading
from dataclasses import replace
from typing import Any

from audiogpt.core.engine import planner_args as A
from audiogpt.core.engine.planner_build import PER_SPEAKER_RE, Builder, Context, NeedInput
from audiogpt.core.engine.planner_followup import follow_up
from audiogpt.core.engine.planner_intent import (
    AUDIO_OBJECT,
    DESCRIBED_SOUND_RE,
    EXPLICIT_TRANSCRIPT,
    FILE_REF_RE,
    GENERATORS,
    HEAR_TEXT_RE,
    MAKE_VERBS,
    NON_AUDIO_OBJECT,
    PRESENCE_RE,
    PROBLEM_RE,
    SHARING_RE,
    UNSUPPORTED_OP,
    capability_question,
    is_vague,
    offtopic_verb,
    text_translation,
)
from audiogpt.core.engine.planner_lang import language_name
from audiogpt.core.engine.planner_replies import (
    capability_answer,
    chat_reply,
    clarify,
    clarify_options,
    phrase,
    text_translation_reply,
    unknown_request,
    unsupported,
    what_to_do_with,
)
from audiogpt.core.engine.planner_router import (
    REQUIRED_KIND,
    TOOL_CLASSES,
    VOICE_REF_RE,
    Routed,
    Router,
)
from audiogpt.core.engine.planner_segment import CuesFactory, RoutedSegment, segment_and_route
from audiogpt.core.engine.planner_text import (
    Segment,
    first_verb,
    is_request,
    normalise_words,
    protect,
    starts_with_action,
)
from audiogpt.core.engine.planner_types import Plan, PlanRequest, Ref, Task
from audiogpt.core.engine.roles import by_role
from audiogpt.core.tools import get_tool

TOOL_MIN = 0.30  # below this nothing is confident enough to run
VAGUE_MIN = 0.4  # an ask with no content of its own needs a clear routing to run a tool
UNSUPPORTED_OP_MAX = 0.75  # a named edit no tool makes wins over a routing weaker than this
CLARIFY_MARGIN = 0.015  # top two tools closer than this (and not benign): ask
CLOSE_MARGIN = 0.1  # closer than this, the decision stays open to the rest of the message
_router: Router | None = None
_router_lock = threading.Lock()


def get_router() -> Router:
    """The process-wide router (embeds its exemplars on first use)."""
    global _router
    if _router is None:
        with _router_lock:
            if _router is None:
                _router = Router()
    return _router


# --- entry point ---------------------------------------------------------------------------


def plan(req: PlanRequest, router: Router | None = None) -> Plan:
    """Plan the current turn. Never raises for user input; returns a reply instead."""
    router = router or get_router()
    ctx = Context.of(req)
    text = req.text.strip()
    if not re.search(r"\w", text):
        resumed = _resume_pending(ctx, router)
        if resumed is not None:
            return resumed
        if ctx.attachments:
            return Plan(reply=what_to_do_with([a.id for a in ctx.attachments]), kind="chat")
        return Plan(reply=unknown_request(), kind="unknown")

    forced: dict[frozenset[str], str] = {}
    last = req.history[-1] if req.history else None
    options = clarify_options(last.reply) if last else []
    if last and options:
        choice = _pick_option(text, options, router)
        if choice:
            forced[frozenset(options)] = choice
            prev_req = replace(req, text=last.text, attachments=req.attachments or last.attachments)
            return _plan_text(prev_req, Context.of(prev_req), router, forced)

    answered = _answer_pending_question(req, router)
    if answered is not None:
        return answered
    result = _plan_text(req, ctx, router, forced)
    if result.kind in ("chat", "unknown") and ctx.attachments:
        resumed = _resume_pending(ctx, router)
        if resumed is not None:
            return resumed
        if result.kind == "unknown" or result.debug.get("chat") in ("chat:thanks", "chat:greeting", "chat:sharing"):
            return Plan(reply=what_to_do_with([a.id for a in ctx.attachments]), kind="chat", debug=result.debug)
    return result


def _pick_option(text: str, options: list[str], router: Router) -> str | None:
    t = text.lower()
    if re.search(r"\b(first|former|1st|option 1|number 1|the 1)\b", t) or t.strip(" .!") in {"1", "a"}:
        return options[0]
    if re.search(r"\b(second|latter|2nd|option 2|number 2|other one)\b", t) or t.strip(" .!") in {"2", "b"}:
        return options[1] if len(options) > 1 else None
    r = router.route(normalise_words(text))
    ranked = [c for c, _ in r.tools()]
    best = min(options, key=lambda o: ranked.index(o) if o in ranked else 99)
    if r.best in options or (r.best not in TOOL_CLASSES and len(text.split()) <= 6):
        return best if r.best in options or r.best_score < TOOL_MIN else None
    return None


def _answer_pending_question(req: PlanRequest, router: Router) -> Plan | None:
    """'Which sound should I extract?' -> 'the dog': fill the missing argument and run the request."""
    if not req.history or starts_with_action(req.text):
        return None
    last = req.history[-1]
    if last.calls or not last.text.strip():
        return None
    before = replace(
        req,
        text=last.text,
        attachments=last.attachments,
        artifacts=[a for a in req.artifacts if a.id not in req.attachments],
        history=req.history[:-1],
    )
    prev = _plan_text(before, Context.of(before), router, {})
    need = prev.debug.get("need")
    if prev.kind != "need_arg" or not need:
        return None
    prot = protect(req.text)
    value = prot.spans[0] if prot.spans else req.text.strip().strip("\"'")
    value = re.sub(r"[\s,]+(?:please|pls|thanks|thank you)\s*$", "", value, flags=re.I).strip()
    if need["arg"] == "query":
        value = A.sound_query(value, []) or value.strip(" .!?")
    if not value:
        return None
    now = replace(req, text=last.text, attachments=req.attachments or last.attachments, history=req.history[:-1])
    p = _plan_text(now, Context.of(now), router, {}, {need["tool"]: {need["arg"]: value}})
    return p if p.tasks else None


def _resume_pending(ctx: Context, router: Router) -> Plan | None:
    """'Here it is' + a file, after we asked for a file: run the earlier request now."""
    if not ctx.req.history:
        return None
    last = ctx.req.history[-1]
    if last.calls or not last.text.strip():
        return None
    before = replace(
        ctx.req,
        text=last.text,
        attachments=[],
        artifacts=[a for a in ctx.req.artifacts if a.id not in ctx.req.attachments],
        history=ctx.req.history[:-1],
    )
    if _plan_text(before, Context.of(before), router, {}).kind != "need_file":
        return None
    now = replace(ctx.req, text=last.text, history=ctx.req.history[:-1])
    p = _plan_text(now, Context.of(now), router, {})
    return p if p.tasks else None


# --- planning one text -------------------------------------------------------------------------


def _plan_text(
    req: PlanRequest,
    ctx: Context,
    router: Router,
    forced: dict[frozenset[str], str],
    answers: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """Plan one text; ``answers`` fills arguments the user gave after we asked ({tool: {arg: value}})."""
    cues = CuesFactory(
        image_attached=any(a.kind == "image" for a in ctx.attachments),
        audio_attached=any(a.kind == "audio" for a in ctx.attachments),
        image_ids={a.id for a in req.artifacts if a.kind == "image"},
        audio_any=ctx.has("audio"),
        image_any=ctx.has("image"),
        voice_ref=bool(VOICE_REF_RE.search(req.text)),
        image_named=bool(IMAGE_WORDS.search(req.text)),
    )
    _, segs = segment_and_route(req.text, router, cues, {a.id: a.kind for a in req.artifacts})
    segs = _weigh_context(segs)
    debug: dict[str, Any] = {"segments": [(s.segment.routing, s.routed.ranking[:3]) for s in segs]}

    decisions: list[tuple[Segment, str, dict[str, Any]]] = []  # (segment, class, overrides)
    for rs in segs:
        cls, ov = _decide(rs, ctx, forced)
        decisions.append((rs.segment, cls, ov))
    # An unclear piece is settled by the rest of the message when another piece asks for one
    # of its options ("I got this from my Italian neighbour, what does she want? translate pls").
    decided = {c for _, c, ov in decisions if c in TOOL_CLASSES and "__options__" not in ov}
    asked = {c for s, c, _ in decisions if c in TOOL_CLASSES and _is_req(s)}  # tools the requests settled on
    for i, (seg, cls, ov) in enumerate(decisions):
        options = ov.get("options") or ov.get("__options__") or []
        # Only a clause that is not itself a request ("what does she want?") defers to the others.
        defer = cls == "clarify" or not starts_with_action(seg.text)
        hit = [o for o in options if o in decided] if defer else []
        if hit:
            decisions[i] = (seg, hit[0], {})
        elif cls == "clarify" and not _is_req(seg) and (decided or asked):
            decisions[i] = (seg, options[0], {})  # a statement beside a clear request: context only
        elif cls == "clarify":
            return Plan(reply=clarify(options), kind="clarify", debug=debug)
        elif "__options__" in ov:
            decisions[i] = (seg, cls, {k: v for k, v in ov.items() if k != "__options__"})

    decisions = _fold_context(decisions)
    decisions = _settle_weak_asks(decisions, {rs.segment.text: rs.routed for rs in segs})
    decisions = _translation_answers_the_question(decisions)
    tool_decisions = [d for d in decisions if d[1] in TOOL_CLASSES]
    if not tool_decisions:
        return _reply_for(decisions, debug)
    if len(tool_decisions) == 1 and tool_decisions[0][2].get("__repeat__"):
        repeated = _repeat(tool_decisions[0][0], ctx, router)
        if repeated is not None:
            return repeated
    tool_decisions = [(s, c, {k: v for k, v in o.items() if k != "__repeat__"}) for s, c, o in tool_decisions]
    notes = [
        f"I can't do this part: \u201c{seg.text}\u201d (no tool for it)."
        for seg, cls, _ in decisions
        if cls == "unsupported" and _is_req(seg)
    ]
    merged = _merge_same_tool(tool_decisions)
    builder = Builder(ctx)
    try:
        for seg, tool, overrides in merged:
            if req.allowed_tools is not None and tool not in req.allowed_tools:
                raise NeedInput(
                    f"Sorry, the tool to {phrase(tool)} ({tool}) is switched off in this deployment.",
                    "unsupported",
                )
            builder.build(seg, tool, {**overrides, **(answers or {}).get(tool, {})})
    except NeedInput as e:
        if e.tool:
            debug["need"] = {"tool": e.tool, "arg": e.arg}
        return Plan(reply=e.reply, kind=e.kind, debug=debug)
    if not builder.tasks:
        return Plan(reply=unknown_request(), kind="unknown", debug=debug)
    steps = _levels(builder.tasks)
    debug["notes"] = notes
    return Plan(kind="tools", tasks=builder.tasks, steps=steps, debug=debug)


# Asks answered in words that a statement beside them must not turn into a tool call
# ("The speaker talks fast. Could you slow it down?" is about speed, not about the speaker).
SUBSTANTIVE_REPLIES = frozenset({"unsupported", "chat:offtopic", "chat:capability", "chat:text_translation"})


def _is_req(seg: Segment) -> bool:
    return seg.chained or is_request(seg.text)


# Words for a picture in the languages the router reads: the message is about the attached image.
IMAGE_WORDS = re.compile(
    r"\b(?:image|images|picture|pictures|pic|pics|photo|photos|photograph|snapshot|screenshot|drawing|painting|"
    r"selfie|portrait|bild|foto|imagen|fotograf\w*|photographie|immagine)\b|图片|照片|图像",
    re.I,
)
STRONG = 0.9  # a routing this sure is the message's request
WEAK_ASK = 0.7  # a piece routed below this, beside a strong request, is not a request of its own


def _settle_weak_asks(
    decisions: list[tuple[Segment, str, dict[str, Any]]], routed: dict[str, Routed]
) -> list[tuple[Segment, str, dict[str, Any]]]:
    """A weakly routed piece beside a confident request is that request said again, or an aside.

    "Can you make this photo talk?? Like lip-sync it to this voice memo": the second piece
    hesitates between voice cloning and the talking head the first piece asked for with
    certainty, so it is the same request. "... at what point does it ring? need it for
    editing": the last piece names no task of its own. A piece joined by "then" is always
    a step, and a piece that starts with an action verb keeps its own tool.
    """
    strong = {c for s, c, _ in decisions if c in TOOL_CLASSES and s.text in routed and routed[s.text].score(c) >= STRONG}
    if not strong:
        return decisions
    out: list[tuple[Segment, str, dict[str, Any]]] = []
    for seg, cls, ov in decisions:
        r = routed.get(seg.text)
        weak = cls in TOOL_CLASSES and cls not in strong and r is not None and r.score(cls) < WEAK_ASK
        if not weak or seg.chained or ov:
            out.append((seg, cls, ov))
            continue
        same = next((t for t, _ in r.tools()[:3] if t in strong), None)
        if same is not None:
            out.append((seg, same, ov))
        elif starts_with_action(seg.text):
            out.append((seg, cls, ov))
    return out


def _fold_context(decisions: list[tuple[Segment, str, dict[str, Any]]]) -> list[tuple[Segment, str, dict[str, Any]]]:
    """Statements ('It was recorded in a church', 'there are two people') are context for the
    requests of the same message, not requests of their own; their words still inform
    arguments such as the number of speakers or the language.

    An ask with no content of its own ('could you convert it accordingly?', 'can you help?')
    means what the rest of the message describes: it is dropped, and the pieces that route to
    a tool become the asks.
    """
    if len(decisions) > 1:
        vague = [i for i, (s, c, _) in enumerate(decisions) if _is_req(s) and not s.quotes and is_vague(s.text)]
        others = [i for i, (_, c, _) in enumerate(decisions) if c in TOOL_CLASSES and i not in vague]
        if vague and others:
            words = " ".join(decisions[i][0].text for i in vague)
            kept = [d for i, d in enumerate(decisions) if i not in vague]
            if not any(c in TOOL_CLASSES and _is_req(s) for s, c, _ in kept):
                kept = [(replace(s, chained=True) if c in TOOL_CLASSES else s, c, o) for s, c, o in kept]
            decisions = [
                (replace(s, context=f"{s.context} {words}".strip()) if c in TOOL_CLASSES else s, c, o) for s, c, o in kept
            ]
    if not any(c in TOOL_CLASSES and _is_req(s) for s, c, _ in decisions):
        if any(c in SUBSTANTIVE_REPLIES and _is_req(s) for s, c, _ in decisions):
            return [(s, c, o) for s, c, o in decisions if c not in TOOL_CLASSES]
        return decisions
    out: list[tuple[Segment, str, dict[str, Any]]] = []
    pending: list[str] = []
    for seg, cls, ov in decisions:
        if not _is_req(seg) and (cls in TOOL_CLASSES or cls in ("unsupported", "chat:sharing")):
            pending.append(seg.text)
            continue
        if pending and cls in TOOL_CLASSES:
            seg = replace(seg, context=" ".join([seg.context, *pending]).strip())
            pending = []
        out.append((seg, cls, ov))
    if pending:
        for i in range(len(out) - 1, -1, -1):
            if out[i][1] in TOOL_CLASSES:
                seg = out[i][0]
                out[i] = (replace(seg, context=" ".join([seg.context, *pending]).strip()), out[i][1], out[i][2])
                break
    return out


CONTEXT_MARGIN = 0.3  # a request whose top two tools are closer than this listens to the statements
CONTEXT_WEIGHT = 0.4


def _weigh_context(segs: list[RoutedSegment]) -> list[RoutedSegment]:
    """'My grandmother sent me this in Polish; I don't speak Polish. What does she say?': the ask
    alone reads as a transcript, the statements before it say translation. An uncertain request
    is routed on its own words blended with the statements of the same message."""
    stmts = [rs for rs in segs if not _is_req(rs.segment)]
    if not stmts or len(segs) - len(stmts) != 1:
        return segs
    ctx_scores: dict[str, float] = {}
    for rs in stmts:
        for c, v in rs.routed.ranking:
            ctx_scores[c] = ctx_scores.get(c, 0.0) + v / len(stmts)
    out = []
    for rs in segs:
        tools = rs.routed.tools()
        if _is_req(rs.segment) and len(tools) >= 2 and rs.routed.best in TOOL_CLASSES:
            (t1, s1), (t2, s2) = tools[0], tools[1]
            w = CONTEXT_WEIGHT
            b1 = (1 - w) * s1 + w * ctx_scores.get(t1, s1)
            b2 = (1 - w) * s2 + w * ctx_scores.get(t2, s2)
            if s1 - s2 < CONTEXT_MARGIN and b2 > b1:  # the statements settle the request's own top two
                scores = dict(rs.routed.ranking)
                scores[t1], scores[t2] = s2, s1
                rs = RoutedSegment(rs.segment, Routed(sorted(scores.items(), key=lambda kv: kv[1], reverse=True)))
        out.append(rs)
    return out


def _translation_answers_the_question(
    decisions: list[tuple[Segment, str, dict[str, Any]]],
) -> list[tuple[Segment, str, dict[str, Any]]]:
    """'What is she saying? I need it in English': the translation is the answer, not a second job.
    A transcript is kept when it is asked for in so many words ('transcribe it and translate it')."""
    classes = [c for _, c, _ in decisions]
    if by_role("translate_speech") not in classes or by_role("transcribe") not in classes:
        return decisions
    return [
        d for d in decisions if not (d[1] == by_role("transcribe") and not EXPLICIT_TRANSCRIPT.search(d[0].text) and not d[2])
    ]


def _decide(rs: RoutedSegment, ctx: Context, forced: dict[frozenset[str], str]) -> tuple[str, dict[str, Any]]:
    """Class of one segment (a tool, a chat class, 'unsupported', 'unknown' or 'clarify').

    A decision taken on a thin margin carries ``__options__`` (the two candidates) so
    that the rest of the message can still settle it.
    """
    r = rs.routed
    seg = rs.segment
    if text_translation(seg, ctx):
        lang = A.target_language(seg.text)
        return "chat:text_translation", {"__reply__": text_translation_reply(language_name(lang) if lang else None)}
    top_tool = r.best_tool()[0] if r.tools() else None
    if capability_question(seg, ctx, needs_input=REQUIRED_KIND.get(top_tool or "") is not None and r.best in TOOL_CLASSES):
        return "chat:capability", {"__reply__": _capability_reply(seg, r)}
    if not _is_req(seg) and SHARING_RE.match(seg.text) and not PROBLEM_RE.search(seg.text) and not A.languages(seg.text):
        return "chat:sharing", {}  # "here is my interview", "I'm sending you a voicemail": what to do is still to come
    follow = follow_up(seg, r, ctx)
    if follow is not None:
        return follow
    if (
        seg.quotes
        and HEAR_TEXT_RE.search(seg.text)
        and not ctx.attachments
        and by_role("speak") in [c for c, _ in r.tools()[:3]]
        and r.best_tool()[0] not in (by_role("sing"), by_role("clone_voice"), by_role("animate_face"))
    ):
        return by_role("speak"), {}  # "can I hear what 'Schadenfreude' sounds like?"
    best, score = r.best, r.best_score
    if best in ("chat:offtopic", "unknown") and AUDIO_OBJECT.search(seg.text):
        # "make a song about my cat": the thing to make is a sound, whatever the topic.
        tool, tscore = r.best_tool()
        if tool in GENERATORS and tscore >= TOOL_MIN and score - tscore < 0.05:
            return tool, {}
    if best in (by_role("split_speakers"), by_role("transcribe")) and PER_SPEAKER_RE.search(seg.full) and EXPLICIT_TRANSCRIPT.search(seg.text):
        return by_role("transcribe"), {}  # "a separate transcript for each speaker": the builder splits first
    if (
        best in (by_role("transcribe"), by_role("translate_speech"), by_role("clone_voice"), by_role("split_speakers"), "unsupported")
        and PRESENCE_RE.search(seg.text)
        and not re.search(r"\b(?:what|say|says|said|saying|words?)\b", seg.text, re.I)
        and ctx.has("audio")
    ):
        return by_role("find_sound"), {"query": "speech"}  # "is anyone speaking in this?": when, if at all
    audio_here = any(a.kind == "audio" for a in ctx.attachments)
    if UNSUPPORTED_OP.search(seg.text) and (
        (best in TOOL_CLASSES and (REQUIRED_KIND.get(best) == "audio" or audio_here) and score < UNSUPPORTED_OP_MAX)
        or (best not in TOOL_CLASSES and ctx.has("audio"))
    ):
        return "unsupported", {}  # "export as flac", "bass boost this", "join these two clips"
    if best == "unsupported" and is_vague(seg.text) and not UNSUPPORTED_OP.search(seg.text):
        return "unknown", {}  # "could you convert it accordingly?" names no operation: the rest of the message does
    if best not in TOOL_CLASSES:
        return best, {}
    if score < TOOL_MIN or (score < VAGUE_MIN and not seg.quotes and is_vague(seg.text)):
        return "unknown", {}  # "could you convert it accordingly?" on its own names no task
    if REQUIRED_KIND.get(best) is None and (offtopic_verb(seg.text) or NON_AUDIO_OBJECT.search(seg.text)):
        # "recommend a restaurant", "book a table", "generate an image of a guitar": not a sound to make.
        return "chat:offtopic", {}
    tools = r.tools()
    if len(tools) < 2:
        return best, {}
    (t1, s1), (t2, s2) = tools[0], tools[1]
    pair = frozenset({t1, t2})
    if pair in forced:
        return forced[pair], {}
    if not _feasible(t1, ctx) and _feasible(t2, ctx) and s1 - s2 < 2.5 * CLOSE_MARGIN:
        # "speak 'good night' in French" with no recording anywhere is not a translation;
        # "an audio description of this picture" with only a picture is not captioning.
        attached = {a.kind for a in ctx.attachments}
        if seg.quotes or REQUIRED_KIND.get(t2) in attached:
            return t2, {}
        # "footsteps on gravel, 6 seconds" with no recording anywhere and none referred to: make it.
        verb = first_verb(seg.routing)
        if (
            REQUIRED_KIND.get(t2) is None
            and t2 != by_role("animate_face")
            and not FILE_REF_RE.search(seg.text)
            and (verb in MAKE_VERBS or (verb is None and not is_request(seg.text) and DESCRIBED_SOUND_RE.search(seg.text)))
        ):
            return t2, {}
    if s1 - s2 >= CLOSE_MARGIN:
        return best, {}
    opts = {"__options__": [t1, t2]}
    if s1 - s2 >= CLARIFY_MARGIN:
        return t1, opts
    return "clarify", {"options": [t1, t2]}


_LANGUAGE_WORD = re.compile(r"\blanguages?\b|\bmultilingual\b|\baccents?\b|\bdialects?\b", re.I)


def _capability_reply(seg: Segment, r: Any) -> str:
    """'Can you sing?' -> 'Yes, I can sing lyrics ...'; 'can you speak Spanish?' -> what works in which language."""
    names = [language_name(code) for code, _, _ in A.languages(seg.text) if code != "en" or "english" not in seg.text.lower()]
    about_languages = bool(A.languages(seg.text)) or bool(_LANGUAGE_WORD.search(seg.text))
    tool, score = r.best_tool()
    confident = score >= TOOL_MIN and r.score(tool) >= r.score("unsupported")
    return capability_answer(
        tool if confident else None,
        REQUIRED_KIND.get(tool) is not None,
        list(dict.fromkeys(names)) if about_languages else None,
        r.best == "unsupported",
    )


def _feasible(tool: str, ctx: Context) -> bool:
    """Can the tool's required input be found in this conversation?"""
    kind = REQUIRED_KIND.get(tool)
    return kind is None or tool == by_role("animate_face") or ctx.has(kind)


def _repeat(seg: Segment, ctx: Context, router: Router) -> Plan | None:
    """'Same for this one' / 'again': re-plan the last request that ran tools, on the new file if any."""
    found = None
    for i in range(len(ctx.req.history) - 1, -1, -1):
        if any(c.ok for c in ctx.req.history[i].calls):
            found = i
            break
    if found is None:
        return None
    prev_text = ctx.req.history[found].text
    named = A.artifact_ids(seg.text)
    if not named:
        kinds = [k for c in ctx.req.history[found].calls for _, k, _ in get_tool(c.name).args.artifact_fields()]
        pick = Builder(ctx).ordinal(seg, kinds[0]) if kinds else None
        named = [pick] if pick else []
    new_ids = named or [a.id for a in ctx.attachments]
    old = A.artifact_ids(prev_text)
    if new_ids and old:
        prev_text = A.ARTIFACT_RE.sub(new_ids[0], prev_text)
    elif named:
        prev_text = f"{prev_text} ({' and '.join(named)})"
    again = replace(ctx.req, text=prev_text, history=ctx.req.history[:found])
    p = _plan_text(again, Context.of(again), router, {})
    return p if p.tasks else None


# Adjacent pieces that are one request: 'imitate the voice in a1 and read: ...' is one style
# transfer; 'animate this photo and have it say ...' is one talking head (which speaks first).
_ABSORB = {
    frozenset({by_role("clone_voice"), by_role("speak")}): by_role("clone_voice"),
    frozenset({by_role("animate_face"), by_role("speak")}): by_role("animate_face"),
}


def _merge_same_tool(decisions: list[tuple[Segment, str, dict[str, Any]]]) -> list[tuple[Segment, str, dict[str, Any]]]:
    """Adjacent segments routed to the same tool are one request ('is there a siren? when?')."""
    out: list[tuple[Segment, str, dict[str, Any]]] = []
    for seg, tool, ov in decisions:
        prev_tool = out[-1][1] if out else None
        merged_tool = tool if prev_tool == tool else _ABSORB.get(frozenset({prev_tool or "", tool}))
        one_has_text = out and bool(out[-1][0].quotes) != bool(seg.quotes)
        if out and merged_tool and not ov and not out[-1][2] and (prev_tool == tool or one_has_text):
            pseg = out[-1][0]
            joined = Segment(
                f"{pseg.text}. {seg.text}",
                f"{pseg.routing}. {seg.routing}",
                pseg.quotes + seg.quotes,
                " ".join(x for x in (pseg.context, seg.context) if x),
            )
            out[-1] = (joined, merged_tool, {})
        else:
            out.append((seg, tool, ov))
    return out


def _reply_for(decisions: list[tuple[Segment, str, dict[str, Any]]], debug: dict[str, Any]) -> Plan:
    classes = [c for _, c, _ in decisions]
    for preferred in ("chat:text_translation", "chat:capability"):
        for _, c, ov in decisions:
            if c == preferred:
                debug["chat"] = preferred
                return Plan(reply=ov.get("__reply__") or chat_reply("chat:capabilities"), kind="chat", debug=debug)
    if "unsupported" in classes:
        what = next(seg.text for seg, c, _ in decisions if c == "unsupported")
        return Plan(reply=unsupported(what), kind="unsupported", debug=debug)
    for preferred in (
        "chat:offtopic",
        "chat:capabilities",
        "chat:identity",
        "chat:greeting",
        "chat:sharing",
        "chat:thanks",
        "chat:dismiss",
        "chat:bye",
    ):
        if preferred in classes:
            debug["chat"] = preferred
            return Plan(reply=chat_reply(preferred), kind="chat", debug=debug)
    return Plan(reply=unknown_request(), kind="unknown", debug=debug)


def _levels(tasks: list[Task]) -> list[list[int]]:
    """Group tasks into steps: a task runs one step after the latest task it depends on."""
    level: dict[int, int] = {}
    for t in tasks:
        level[t.index] = 1 + max((level[d] for d in t.deps()), default=-1)
    steps: list[list[int]] = [[] for _ in range(max(level.values()) + 1)]
    for t in tasks:
        steps[level[t.index]].append(t.index)
    return steps


__all__ = ["Plan", "PlanRequest", "Ref", "Task", "get_router", "plan"]
