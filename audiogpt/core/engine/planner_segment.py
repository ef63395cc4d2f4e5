"""Split a message into request segments and route each one.

Why semantic validation of splits: "generate rain, thunder and wind" must stay
one request while "clean this, transcribe it and translate it" is three. Strong
connectors ("then", "after that") split whenever a request verb follows; weak
ones (comma, "and") split only when every piece routes, on its own, to a
different tool with confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audiogpt.core.engine.planner_intent import is_vague
from audiogpt.core.engine.planner_router import TOOL_CLASSES, Cues, Routed, Router
from audiogpt.core.engine.planner_text import (
    PLACEHOLDER_RE,
    Protected,
    Segment,
    ask_clause,
    clean_piece,
    loose_pieces,
    make_segment,
    protect,
    sentences,
    starts_with_action,
    strong_pieces,
    weak_pieces,
)
from audiogpt.core.tools import TOOLS

WEAK_SPLIT_MIN = 0.35
LOOSE_SPLIT_MIN = 0.45
AUDIO_MAKERS = frozenset(t.name for t in TOOLS if "audio" in t.produces)  # each piece of a comma/'and' split must reach this tool score


@dataclass
class RoutedSegment:
    segment: Segment
    routed: Routed


def _is_placeholder_only(piece: str) -> bool:
    return not re.search(r"\w", PLACEHOLDER_RE.sub("", piece))


def segment_and_route(
    text: str, router: Router, cues_for: CuesFactory, kinds: dict[str, str] | None = None
) -> tuple[Protected, list[RoutedSegment]]:
    """Segments of ``text`` in order, each with its routing; ``kinds`` maps artifact ids to kinds."""
    prot = protect(text, takes_payload=router.takes_payload)
    # 1. sentences and strong pieces; quote-only sentences join the previous piece.
    pieces: list[str] = []
    chained: set[str] = set()  # pieces of a sentence split on 'then' / 'after that': each is an ask
    for sent in sentences(prot.text):
        strong = strong_pieces(sent)
        for piece in strong:
            if pieces and _is_placeholder_only(piece):
                pieces[-1] = f"{pieces[-1]} {piece}"
            else:
                pieces.append(piece)
                if len(strong) > 1:
                    chained.add(piece)
    if not pieces:
        pieces = [prot.text]
    # 2. weak split candidates, routed together in one batch with the whole pieces.
    candidates = [weak_pieces(p) for p in pieces]
    loose = [loose_pieces(p) if len(parts) < 2 else [p] for p, parts in zip(pieces, candidates, strict=True)]
    flat: list[str] = []
    for p, parts, lparts in zip(pieces, candidates, loose, strict=True):
        flat.append(p)
        if len(parts) > 1:
            flat.extend(parts)
        if len(lparts) > 1:
            flat.extend(q for q in lparts if q not in flat)
        ask = clean_piece(ask_clause(p))
        if ask != p and re.search(r"\w", ask) and ask not in flat:
            flat.append(ask)
    segs = {s: make_segment(prot, s, kinds) for s in flat}
    for s in flat:
        segs[s].chained = s in chained
    routed_list = router.route_many([segs[s].routing for s in flat], [cues_for(segs[s]) for s in flat])
    if not cues_for.audio_any:
        routed_list = _reroute_after_audio_makers(prot.text, flat, segs, routed_list, router, cues_for)
    routed = dict(zip(flat, routed_list, strict=True))
    out: list[RoutedSegment] = []
    for p, parts, lparts in zip(pieces, candidates, loose, strict=True):
        if len(parts) > 1 and _accept_weak_split(parts, routed):
            if not starts_with_action(parts[0]):  # the terse first piece is an ask by construction
                segs[parts[0]].chained = True
            out.extend(RoutedSegment(segs[q], routed[q]) for q in parts)
        elif len(lparts) > 1 and _accept_loose_split(lparts, routed):
            for q in lparts:
                segs[q].chained = True
                out.append(RoutedSegment(segs[q], routed[q]))
        else:
            out.append(RoutedSegment(segs[p], _focus(p, routed, router)))
    return prot, out


def _accept_loose_split(parts: list[str], routed: dict[str, Routed]) -> bool:
    """'and also' before a noun phrase: each side must route, confidently, to a different tool."""
    best = [routed[q].best for q in parts]
    if not all(b in TOOL_CLASSES and routed[q].best_score >= LOOSE_SPLIT_MIN for b, q in zip(best, parts, strict=True)):
        return False
    return len(set(best)) == len(best)


def _focus(piece: str, routed: dict[str, Routed], router: Router) -> Routed:
    """'This is in German, could you type out what she says?': the request clause carries the intent.

    When a piece is context clause(s) plus request clause(s), blend the whole piece's
    scores with the request clauses' (which weigh more); the whole still supplies the
    arguments.
    """
    whole = routed[piece]
    parts = weak_pieces(piece)
    asks = [q for q in parts if starts_with_action(q)]
    if len(parts) < 2 or not asks or len(asks) == len(parts) or any(q not in routed for q in asks):
        # "I'm building an app, and I want this voice to circle around the listener": the ask
        # clause after the preamble, even when it does not open with a verb.
        ask = clean_piece(ask_clause(piece))
        if ask == piece or ask not in routed or is_vague(ask):  # "..., help" / "..., please" say nothing new
            return whole
        asks = [ask]
    scores = {c: 0.4 * s for c, s in whole.ranking}
    for q in asks:
        for c, s in routed[q].ranking:
            scores[c] += 0.6 * s / len(asks)
    return Routed(sorted(scores.items(), key=lambda kv: kv[1], reverse=True))


def _reroute_after_audio_makers(
    text: str,
    flat: list[str],
    segs: dict[str, Segment],
    routed_list: list[Routed],
    router: Router,
    cues_for: CuesFactory,
) -> list[Routed]:
    """'Make rain sounds and find when the thunder happens': a piece after one that makes audio
    has audio to work on, so it must not be marked down for the missing recording."""
    offsets = [text.find(s) for s in flat]
    maker_ends = [o + len(s) for s, o, r in zip(flat, offsets, routed_list, strict=True) if r.best in AUDIO_MAKERS]
    later = [i for i, o in enumerate(offsets) if any(end <= o for end in maker_ends)]
    if not later:
        return routed_list
    cues = [cues_for(segs[flat[i]]) for i in later]
    for c in cues:
        c.audio_any = True
    again = router.route_many([segs[flat[i]].routing for i in later], cues)
    out = list(routed_list)
    for i, r in zip(later, again, strict=True):
        out[i] = r
    return out


# "this is in German", "there are two of us", "we had a call": a clause with a subject and a verb
# tells about the file; it is not a terse ask.
_STATEMENT = re.compile(
    r"^\s*(?:so\s+|ok\s+|well\s+)?(?:this|that|it|there|here|we|i|he|she|they|you|my|our|his|her|their)\b"
    r".*?\b(?:is|are|was|were|am|has|have|had|got|did|does|do)\b|^\s*(?:it's|that's|there's|here's|i'm|we're|they're)\b",
    re.I,
)
NOUN_ASK_MIN = 0.8  # a terse first piece must route this surely to count as an ask of its own


def _makes_input_for_next(parts: list[str], routed: dict[str, Routed]) -> bool:
    """A first piece without a verb is an ask when it surely names a tool that makes what the
    next piece works on ("ambient audio for this scene, and make it binaural"); otherwise it is
    context ("there are 3 people in this call, isolate every voice")."""
    if _STATEMENT.match(parts[0]):
        return False
    first, nxt = routed[parts[0]], routed[parts[1]]
    if first.best not in TOOLS or first.best_score < NOUN_ASK_MIN or nxt.best not in TOOLS:
        return False
    need = TOOLS.get(nxt.best).main_input
    return need is not None and need in TOOLS.get(first.best).produces


def _accept_weak_split(parts: list[str], routed: dict[str, Routed]) -> bool:
    """Every piece must itself be a request for a different, confident tool (or for something we
    cannot do, which the answer then mentions). Later pieces start with a verb; the first may be a
    terse noun phrase the router is sure of ("ambient audio for this scene, and make it binaural")."""
    if not all(starts_with_action(q) for q in parts[1:]):
        return False
    if not starts_with_action(parts[0]) and not _makes_input_for_next(parts, routed):
        return False
    classes = []
    for q in parts:
        r = routed[q]
        if r.best == "unsupported" or (r.best in TOOL_CLASSES and r.best_score >= WEAK_SPLIT_MIN):
            classes.append(r.best)
        else:
            return False
    return len(set(classes)) > 1 and any(c in TOOL_CLASSES for c in classes)


class CuesFactory:
    """Builds :class:`Cues` for a segment given what this turn carries."""

    def __init__(
        self,
        image_attached: bool,
        audio_attached: bool,
        image_ids: set[str],
        audio_any: bool = True,
        image_any: bool = True,
        voice_ref: bool = False,
        image_named: bool = False,
    ) -> None:
        self.voice_ref = voice_ref
        self.image_named = image_named
        self.image_attached = image_attached
        self.audio_attached = audio_attached
        self.image_ids = image_ids
        self.audio_any = audio_any
        self.image_any = image_any

    def __call__(self, seg: Segment) -> Cues:
        named_image = any(re.search(rf"\b{i}\b", seg.text) for i in self.image_ids)
        return Cues(
            quoted=bool(seg.quotes),
            image_here=self.image_attached or named_image,
            audio_here=self.audio_attached,
            audio_any=self.audio_any,
            image_any=self.image_any,
            voice_ref=self.voice_ref,
            image_named=self.image_named or named_image,
        )
