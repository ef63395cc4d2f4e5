"""Text handling for the offline planner: protected spans, spelling, segmentation.

Why: users write several requests in one message ("clean this up, then
transcribe it"), quote text that must be spoken verbatim (and must not steer
routing or be split apart), and make typos. This module turns a raw message
into a list of :class:`Segment` s, each with the user's original wording (for
argument extraction) and a normalised routing text (for the embedder).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from audiogpt.core.engine.planner_lang import is_english

PLACEHOLDER = "\u27e6{}\u27e7"  # ⟦0⟧: never typed by users, survives lowercasing
PLACEHOLDER_RE = re.compile("\u27e6(\\d+)\u27e7")
ROUTING_FILL = "something"  # what the router sees instead of quoted text

_QUOTE_PATTERNS = (
    re.compile(r'"([^"\n]+)"'),
    re.compile("\u201c([^\u201d\n]+)\u201d"),  # curly double
    re.compile("\u2018([^\u2019\n]+?)\u2019(?!\\w)"),  # curly single
    re.compile(r"(?<![\w'])'((?:[^'\n]|'(?=\w))+?)'(?![\w])"),  # 'text' with inner apostrophes
)

# A colon after one of these words starts text to be spoken/sung verbatim ("read aloud: ...").
_COLON_CUES = re.compile(
    r"\b(say|says|saying|said|read|reads|reading|speak|speaks|pronounce|sing|sings|singing|sung|"
    r"lyrics|words|text|sentence|message|line|lines|announce|announcement|aloud|loud|narrate|"
    r"voice|voiceover|voice-over|speech|following|tts|script|paragraph|quote|caption)\b",
    re.I,
)

ABBREVIATIONS = {
    "asr": "speech recognition", "stt": "speech to text", "tts": "text to speech",
    "u": "you",
    "ur": "your",
    "pls": "please",
    "plz": "please",
    "plse": "please",
    "thx": "thanks",
    "thnx": "thanks",
    "ty": "thank you",
    "r": "are",
    "w/": "with",
    "b4": "before",
    "2day": "today",
    "wanna": "want to",
    "gonna": "going to",
    "gimme": "give me",
    "lemme": "let me",
    "whats": "what's",
    "wats": "what's",
    "wat": "what",
    "hes": "he's",
    "whos": "who's",
    "wheres": "where's",
    "hows": "how's",
    "n": "and",
    "&": "and",
    "+": "and",
    "shes": "she's",
    "theyre": "they're",
    "dont": "don't",
    "cant": "can't",
    "im": "i'm",
    "bein": "being",
    "sth": "something",
    "smth": "something",
    "abt": "about",
    "vid": "video",
    "pic": "picture",
    "pics": "pictures",
    "convo": "conversation",
    "3d": "3D",
}

# Verbs that start a new request after a comma or "and" (checked after fillers).
ACTION_VERBS = frozenset(
    ["transcribe", "translate", "clean", "denoise", "enhance", "remove", "reduce", "separate", "split", "isolate", "extract", "pull", "find", "detect", "locate", "tell", "describe", "caption", "identify", "list", "tag", "label", "say", "read", "speak", "pronounce", "voice", "narrate", "sing", "compose", "write", "create", "make", "generate", "produce", "synthesize", "synthesise", "turn", "convert", "transform", "spatialize", "spatialise", "place", "move", "put", "pan", "fill", "repair", "restore", "fix", "patch", "animate", "lip-sync", "lipsync", "give", "play", "show", "clone", "imitate", "mimic", "render", "dub", "interpret", "type", "get", "search", "mark", "filter", "cancel", "suppress", "improve", "reconstruct", "inpaint", "keep", "render", "summarize", "summarise", "give", "add", "let", "have", "do", "check", "analyze", "analyse", "classify", "count", "use", "take", "run", "work", "figure", "diarize", "diarise", "segment", "annotate", "output",
     "return", "provide", "send", "measure", "estimate", "recognize", "recognise", "determine", "explain", "label",
     "attribute", "lay", "overlay", "loop"]
)

FILLERS = (
    "and",
    "also",
    "then",
    "now",
    "please",
    "pls",
    "just",
    "can",
    "could",
    "would",
    "will",
    "you",
    "u",
    "maybe",
    "kindly",
    "finally",
    "next",
    "lastly",
    "afterwards",
    "first",
    "i",
    "want",
    "need",
    "to",
    "you'd",
    "i'd",
    "like",
    "ok",
    "okay",
    "so",
    "after",
    "that",
)

_STRONG_SPLIT = re.compile(
    r"(?:,\s*|\s+)(?:and\s+then|and\s+after\s+that|after\s+that|afterwards|then|and\s+also|"
    r"as\s+well\s+as|followed\s+by|and\s+finally|finally|plus|next)\b[\s,]*",
    re.I,
)
_BUT_FIRST = re.compile(
    r"(?:,\s*|\s+)(?:but\s+first|but\s+before\s+that|before\s+that|before\s+you\s+do\s+that)\s*[,:]?\s+",
    re.I,
)
# ',', 'and', and the chat shorthands '+', '&', ' n ', and a spaced dash ("... — could you ...").
_WEAK_SPLIT = re.compile(r"\s*,\s*(?:and\s+)?|\s+(?:and|n|&|\+)\s+|\s+[\u2014\u2013-]+\s+", re.I)
# Connectors that join two asks even when the second is a noun phrase ("..., and also a short description").
_LOOSE_SPLIT = re.compile(r"\s*,?\s+(?:and\s+also|as\s+well\s+as|and\s+additionally|along\s+with|plus)\s+", re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?;])\s+|\n+")


@dataclass
class Segment:
    """A piece of the message that asks for (at most) one kind of thing."""

    text: str  # original wording, placeholders restored
    routing: str  # lowercased, quotes -> "these words", typos fixed: what the embedder sees
    quotes: list[str] = field(default_factory=list)  # verbatim quoted/colon texts in this segment
    context: str = ""  # statements of the same message that inform arguments ("there are 3 of us")
    chained: bool = False  # one of several asks joined by 'then' / 'after that': a request by construction

    @property
    def full(self) -> str:
        """Request and context together, for arguments such as languages, counts and times."""
        return f"{self.context} {self.text}".strip() if self.context else self.text


@dataclass
class Protected:
    """The message with quoted spans replaced by placeholders."""

    text: str
    spans: list[str]

    def restore(self, s: str) -> str:
        return PLACEHOLDER_RE.sub(lambda m: self.spans[int(m.group(1))], s)

    def quotes_in(self, s: str) -> list[str]:
        return [self.spans[int(m.group(1))] for m in PLACEHOLDER_RE.finditer(s)]


def _attach_payload(head: str, payload: str, spans: list[str], takes_payload: Callable[[str], bool] | None,
                    *, cue_words: bool) -> str | None:
    """``head`` with ``payload`` as a placeholder right after the sentence that asks for it.

    "hey! can you read this out? my eyes hurt:\n<text>": the ask is the second sentence of
    three, so that sentence gets the words (not the complaint that happens to end the line).
    The asking sentence is the last one that the router says takes words, or (``cue_words``)
    that names an English cue such as "read" or "say". None when no sentence asks for words.
    """
    if not payload.strip():
        return None
    parts = re.split(r"(?<=[.!?。！？])\s+", head.strip())
    for i in range(len(parts) - 1, -1, -1):
        if not re.search(r"\w", parts[i]):
            continue
        if (cue_words and _COLON_CUES.search(parts[i])) or (takes_payload is not None and takes_payload(parts[i])):
            spans.append(payload.strip())
            ask = parts[i].rstrip(" .!?。！？:：") + ": " + PLACEHOLDER.format(len(spans) - 1) + "."
            return " ".join([*parts[:i], ask, *parts[i + 1 :]])
    return None


def protect(text: str, takes_payload: Callable[[str], bool] | None = None) -> Protected:
    """Replace quoted text and 'cue: text' tails by placeholders so nothing splits or reroutes them.

    ``takes_payload(head)`` says whether an instruction asks for a tool that takes words
    (what to say, sing, generate, look for). With it, the words after a colon (also the
    full-width one) or on the lines after such an instruction are its payload, in any
    language: "Lies diesen Satz vor: Der Zug fällt aus", "Can you read this out?\nThe
    meeting moved to 3pm." Without it only English cue words open a colon payload.
    """
    spans: list[str] = []

    def sub(m: re.Match[str]) -> str:
        spans.append(m.group(1).strip())
        return PLACEHOLDER.format(len(spans) - 1)

    out = text
    for pat in _QUOTE_PATTERNS:
        out = pat.sub(sub, out)
    # "read this aloud: Dear customers, ..." -> everything after the colon is the text.
    m = re.search(r"(?<!\d)[:：]\s*(?=\S)", out)
    head = out[: m.start()] if m else ""
    if m and not PLACEHOLDER_RE.search(out[m.end() :]) and re.search(r"\w", head):
        tail = out[m.end() :]
        # Stop the spoken text where a clearly new request starts ("..., then make it binaural").
        stop = re.search(
            r"(?:[.!?]\s+|\s+|,\s*)(?:and\s+)?then\s+(?=(?:\w+\s+){0,2}?(?:"
            + "|".join(sorted(ACTION_VERBS))
            + r")\b)",
            tail,
            re.I,
        )
        spoken, rest = (tail[: stop.start()], tail[stop.start() :]) if stop else (tail, "")
        lifted = _attach_payload(head, spoken, spans, takes_payload, cue_words=True)
        if lifted is not None:
            return Protected(lifted + rest, spans)
    # "Can you read this out?\nThe dentist moved to Thursday.": the lines after the ask are its words,
    # unless they ask for something themselves.
    nl = re.search(r"\s*\n\s*(?=\S)", out)
    if nl and takes_payload is not None and not PLACEHOLDER_RE.search(out):
        head, tail = out[: nl.start()], out[nl.end() :]
        if re.search(r"\w", head) and not starts_with_action(tail):
            lifted = _attach_payload(head, tail, spans, takes_payload, cue_words=False)
            if lifted is not None:
                out = lifted
    return Protected(out, spans)
    # "Can you read this out?\nThe dentist moved to Thursday.": the lines after the ask are its words,
    # unless they ask for something themselves.
    nl = re.search(r"\s*\n\s*(?=\S)", out)
    if nl and takes_payload is not None and not PLACEHOLDER_RE.search(out):
        head, tail = out[: nl.start()], out[nl.end() :]
        if re.search(r"\w", head) and not starts_with_action(tail):
            # The payload goes right after the sentence that asks for it, so that sentence gets it
            # ("hey! can you read this out? my eyes hurt\n<text>": the ask is the second sentence).
            parts = re.split(r"(?<=[.!?。！？])\s+", head.strip())
            for i in range(len(parts) - 1, -1, -1):
                if re.search(r"\w", parts[i]) and takes_payload(parts[i]):
                    spans.append(tail.strip())
                    ask = parts[i].rstrip(" .!?。！？") + ": " + PLACEHOLDER.format(len(spans) - 1) + "."
                    out = " ".join([*parts[:i], ask, *parts[i + 1 :]])
                    break
    return Protected(out, spans)


@lru_cache(maxsize=1)
def _known_words() -> frozenset[str]:
    """Whole words of the embedder's vocabulary: real English words we must not 'correct'."""
    try:
        from audiogpt.models.text_embedding import model_dir

        vocab = (model_dir() / "vocab.txt").read_text(encoding="utf-8").split()
    except Exception:  # the model is optional here: without it we only fix domain words
        vocab = []
    return frozenset(w for w in vocab if w.isalpha())


_domain_vocab: frozenset[str] = frozenset()


def set_domain_vocabulary(words: set[str]) -> None:
    """Words typos are corrected towards (the router registers its exemplar vocabulary)."""
    global _domain_vocab
    _domain_vocab = frozenset(w for w in words if len(w) >= 4 and w.isalpha())
    _correct_word.cache_clear()


@lru_cache(maxsize=4096)
def _correct_word(word: str) -> str:
    if len(word) < 4 or not word.isalpha() or word in _domain_vocab:
        return word
    known = _known_words()
    if word in known:
        return word
    cutoff = 0.8 if len(word) >= 7 else 0.84
    best = difflib.get_close_matches(word, _domain_vocab, n=1, cutoff=cutoff)
    if not best:
        return word
    cand = best[0]
    # "interviewer" is not a typo of "interview": a longer form of a known word stays as it is.
    if word.startswith(cand):
        return word
    return cand


def normalise_words(text: str) -> str:
    """Expand chat abbreviations and fix typos towards the domain vocabulary (lowercase)."""
    out: list[str] = []
    for tok in re.findall(r"[\w'/-]+|[^\w\s]", text.lower()):
        tok = ABBREVIATIONS.get(tok, tok)
        if tok.isalpha():
            tok = _correct_word(tok)
        out.append(tok)
    s = " ".join(out)
    s = re.sub(r"\s+([,.!?;:])", r"\1", s)
    return s


_ID_NOUNS = {"audio": "this recording", "image": "this picture", "video": "this video", "text": "this text"}


def routing_text(segment: str, kinds: dict[str, str] | None = None) -> str:
    """What the embedder sees: placeholders become 'these words', ids become plain nouns."""
    # "the phrase 'carpe diem'" -> "the phrase"; a bare quote -> "something".
    s = re.sub(
        r"\b((?:the|this|these|that|my|a)\s+(?:\w+\s+)?(?:phrase|word|words|sentence|line|lines|text|lyrics|"
        r"message|quote|name|song|chorus|verse|title)\s*[:,]?\s*)" + PLACEHOLDER_RE.pattern,
        r"\1",
        segment,
        flags=re.I,
    )
    s = PLACEHOLDER_RE.sub(ROUTING_FILL, s)
    s = re.sub(r"\ba[1-9]\d*\b", lambda m: _ID_NOUNS.get((kinds or {}).get(m.group(0), ""), "this file"), s)
    # "the second one", "the other file": a reference to a file, not about seconds or others.
    s = re.sub(
        r"\bthe\s+(?:first|1st|second|2nd|third|3rd|last|latter|former|other|remaining)"
        r"(?:\s+(one|file|recording|clip|audio|track|voice\s*note|picture|photo|image)\b|(?=\s*[,.!?]|\s*$))",
        lambda m: "this " + (m.group(1) or "one"),
        s,
        flags=re.I,
    )
    # Typo fixing and lowercasing are for English: they would "correct" German words into English
    # ones, and the multilingual encoder reads German nouns better capitalised.
    s = normalise_words(s) if is_english(s) else s
    s = re.sub(r"\s+", " ", s).strip(" ,.;")
    return s or segment.strip().lower()


def starts_with_action(piece: str) -> bool:
    """True when a piece begins (after fillers like 'can you', 'then') with a request verb."""
    words = re.findall(r"[\w'-]+", normalise_words(piece))
    for w in words[:6]:
        if w in ACTION_VERBS:
            return True
        if w not in FILLERS:
            return False
    return False


def first_verb(text: str) -> str | None:
    """The request verb: the first action verb among the leading words (after fillers)."""
    for w in re.findall(r"[\w'-]+", text)[:6]:
        if w in ACTION_VERBS:
            return w
        if w not in FILLERS:
            return None
    return None


_REQUEST_START = re.compile(
    r"^\W*(?:hey|hi|ok|okay|so|and|now|also|then|please|pls|plz|kindly|could|can|would|will|what|what's|"
    r"whats|when|where|who|which|how|is|are|does|do|did|i need|i want|i'd like|i would like|i wanna|"
    r"let me|let's|help|need|want|give|make|any chance|mind)\b",
    re.I,
)


_ASK_INSIDE = re.compile(
    r"\b(?:could|can|would|will)\s+(?:you|u)\b|\b(?:please|pls|plz|kindly)\b|\bi(?:'d| would)\s+(?:like|love|appreciate)\b|"
    r"\bi\s+(?:need|want)\s+(?:you\s+to|to\s+(?:have|get|know)|a|an|the|this|my|it)\b|\bi(?:'m| am)\s+looking\s+for\b|"
    r"\b(?:is|would)\s+it\s+be\s+possible\b|\bis\s+it\s+possible\b|\bany\s+chance\b|\bhelp\s+me\b",
    re.I,
)
_CLAUSE_SPLIT = re.compile(r"\s*[,:;]\s*|\s+[\u2014\u2013-]+\s+")


def is_request(text: str) -> bool:
    """A request or question, as opposed to a statement that only gives context.

    The ask may follow a preamble ("For our audio tour, I'd like you to generate ..."), so
    every clause is checked, and polite request markers count wherever they stand.
    """
    if PLACEHOLDER_RE.fullmatch(text.strip()):
        return False
    if starts_with_action(text) or text.rstrip().endswith("?") or _REQUEST_START.match(text):
        return True
    if _ASK_INSIDE.search(PLACEHOLDER_RE.sub(" ", text)):
        return True
    clauses = [c for c in _CLAUSE_SPLIT.split(text) if c.strip()]
    return any(starts_with_action(c) or _REQUEST_START.match(c) for c in clauses[1:])


def sentences(text: str) -> list[str]:
    """Split on sentence ends (not decimals such as 3.5) and newlines."""
    parts = [p.strip() for p in _SENTENCE_SPLIT.split(text)]
    return [p for p in parts if p and re.search(r"\w", p)]


def strong_pieces(sentence: str) -> list[str]:
    """Split on 'then', 'after that', 'and also'...; 'X, but first Y' becomes [Y, X]."""
    m = _BUT_FIRST.search(sentence)
    if m and m.start() > 0 and starts_with_action(sentence[m.end() :]):
        before, after = sentence[: m.start()], sentence[m.end() :]
        return strong_pieces(after) + strong_pieces(before)
    pieces: list[str] = []
    last = 0
    for m in _STRONG_SPLIT.finditer(sentence):
        left = sentence[last : m.start()]
        if not re.search(r"\w", left):
            continue  # "then" at the very start
        # "then" must introduce a request, not be part of a description ("rain, then thunder").
        if not starts_with_action(sentence[m.end() :]) and not re.match(
            r"\s*(?:it|that|this|the result|them)\b", sentence[m.end() :], re.I
        ):
            continue
        pieces.append(left)
        last = m.end()
    pieces.append(sentence[last:])
    return [clean_piece(p) for p in pieces if re.search(r"\w", p)]


def weak_pieces(piece: str) -> list[str]:
    """Candidate split on commas / 'and' where the right side starts a new request."""
    out: list[str] = []
    last = 0
    for m in _WEAK_SPLIT.finditer(piece):
        right = piece[m.end() :]
        if m.start() > last and starts_with_action(right):
            out.append(piece[last : m.start()])
            last = m.end()
    out.append(piece[last:])
    return [clean_piece(p) for p in out if re.search(r"\w", p)]


def loose_pieces(piece: str) -> list[str]:
    """Candidate split on 'and also' / 'as well as' / 'plus' even before a noun phrase
    ("what is said, and also a short description of the background"); the router must
    confirm that each side asks for a different tool."""
    parts: list[str] = []
    last = 0
    for m in _LOOSE_SPLIT.finditer(piece):
        if m.start() > last and re.search(r"\w", piece[m.end() :]):
            parts.append(piece[last : m.start()])
            last = m.end()
    parts.append(piece[last:])
    return [clean_piece(p) for p in parts if re.search(r"\w", p)]


def clean_piece(p: str) -> str:
    p = p.strip(" ,;:-")
    p = re.sub(r"^(?:first(?:ly)?|firstly|and|then|also|after that|afterwards)\b[\s,]*", "", p, flags=re.I)
    return p.strip(" ,;:-")


def make_segment(prot: Protected, piece: str, kinds: dict[str, str] | None = None) -> Segment:
    return Segment(text=prot.restore(piece), routing=routing_text(piece, kinds), quotes=prot.quotes_in(piece))


_ASK_BREAK = re.compile(r"(?<=[.!?;])\s+|\s+[\u2014\u2013-]+\s+|\s*,\s*")


def ask_clause(text: str) -> str:
    """The clause that carries the ask, without the preamble before it:
    "I recorded this on a busy corner — could you tell me when the bus brakes squeal?" ->
    "could you tell me when the bus brakes squeal?". The whole text when no later clause asks."""
    cut = 0
    for m in _ASK_BREAK.finditer(text):
        right = text[m.end() :]
        if starts_with_action(right) or _REQUEST_START.match(right):
            cut = m.end()
    return text[cut:] if cut else text
