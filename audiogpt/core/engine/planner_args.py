"""Argument extraction for the offline planner: languages, times, directions, texts, queries.

Why rules here and embeddings elsewhere: once the tool is known, its arguments
are surface facts of the text (a language name, "10 seconds", "from the left",
a quoted sentence) that regular expressions read exactly, whereas an embedding
can only say what the request is about.
"""

from __future__ import annotations

import re

from audiogpt.core.engine.planner_lang import LANGUAGE_CODES, language_code

NUMBER_WORDS = {
    "zero": 0,
    "one": 1,
    "a": 1,
    "an": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "ninety": 90,
    "couple": 2,
    "both": 2,
    "pair": 2,
}
_NUM = r"(\d+(?:\.\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
ARTIFACT_RE = re.compile(r"\b(a[1-9]\d*)\b")


def number(tok: str) -> float | None:
    tok = tok.lower().strip()
    try:
        return float(tok)
    except ValueError:
        return float(NUMBER_WORDS[tok]) if tok in NUMBER_WORDS else None


def artifact_ids(text: str) -> list[str]:
    """Conversation artifact ids named in the text (a3), in order, without repeats."""
    seen: list[str] = []
    for m in ARTIFACT_RE.finditer(text):
        if m.group(1) not in seen:
            seen.append(m.group(1))
    return seen


# --- languages -------------------------------------------------------------------------

_LANG_NAMES = sorted(LANGUAGE_CODES, key=len, reverse=True)
_LANG_RE = re.compile(r"\b(" + "|".join(re.escape(n) for n in _LANG_NAMES) + r")\b", re.I)
_CODE_AFTER_RE = re.compile(r"\b(?:into|to|in)\s+([a-zA-Z]{2}(?:-[a-zA-Z]{2})?)\b(?!['\w])")
_AMBIGUOUS_CODES = {"it", "in", "no", "me", "be", "to", "so", "do", "he", "my", "am", "an", "as", "at",
                    "by", "go", "hi", "if", "is", "of", "on", "or", "up", "we", "us", "la", "ok"}


def languages(text: str) -> list[tuple[str, int, str]]:
    """``(code, position, preposition)`` for each language named, e.g. ('es', 17, 'into')."""
    out: list[tuple[str, int, str]] = []
    for m in _LANG_RE.finditer(text):
        code = language_code(m.group(1))
        if code:
            before = text[: m.start()].lower().split()
            out.append((code, m.start(), before[-1] if before else ""))
    for m in _CODE_AFTER_RE.finditer(text):
        raw = m.group(1)
        if raw.lower() in _AMBIGUOUS_CODES and not raw.isupper():
            continue
        code = language_code(raw)
        if code and all(p != m.start(1) for _, p, _ in out):
            prep = text[m.start() : m.start(1)].strip().lower()
            out.append((code, m.start(1), prep))
    out.sort(key=lambda x: x[1])
    return out


_SOURCE_VERBS = {"is", "was", "are", "it's", "its", "that's", "speaks", "speaking", "spoken", "recorded",
                 "talking", "talks", "sung", "singing", "says", "said", "written"}
_SOURCE_NOUNS = {"clip", "recording", "audio", "speaker", "speakers", "voice", "video", "message", "note",
                 "memo", "voicemail", "speech", "song", "podcast", "call", "conversation", "interview",
                 "lady", "guy", "man", "woman", "neighbour", "neighbor", "friend", "colleague", "customer"}
_TARGET_NOUNS = {"subtitles", "subtitle", "translation", "version", "text", "transcript", "captions", "dub", "please"}


def _role(text: str, pos: int, prep: str) -> str:
    """'target', 'source' or '' for the language named at ``pos``."""
    after = re.findall(r"[\w']+", text[pos:].lower())[1:2]
    nxt = after[0] if after else ""
    before = text[:pos].lower().split()
    if prep == "from" or nxt in _SOURCE_NOUNS:
        return "source"
    if prep in ("into", "to") or nxt in _TARGET_NOUNS:
        return "target"
    if prep == "in":
        # "this is in German", "a voice message in Polish": the spoken language.
        # ("translate this voice message in Spanish" still names the target).
        noun_source = before[-2] in _SOURCE_NOUNS and not re.search(r"\btranslat\w*|\binterpret\w*", text, re.I) if len(before) >= 2 else False
        return "source" if len(before) >= 2 and (before[-2] in _SOURCE_VERBS or noun_source) else "target"
    if prep in ("speak", "understand", "know", "read") and len(before) >= 2 and before[-2] in {"don't", "dont", "not", "can't", "cant", "cannot"}:
        return "source"  # "I don't speak Polish": the user cannot read the recording's language
    if nxt in {"speaking", "speaker", "speakers"} or (before and before[-1] in _SOURCE_VERBS):
        return "source"
    return ""


def target_language(text: str) -> str | None:
    """The language to translate into: 'into Spanish', 'English subtitles', else a lone neutral one."""
    langs = languages(text)
    roles = [(code, _role(text, pos, prep)) for code, pos, prep in langs]
    for code, role in reversed(roles):
        if role == "target":
            return code
    rest = [code for code, role in roles if role == ""]
    return rest[-1] if rest else None


def target_language_named(text: str) -> bool:
    """'into Spanish', 'in English please' name a target; 'this is in German' names the source."""
    return any(_role(text, pos, prep) == "target" for _, pos, prep in languages(text))


def source_language_named(text: str) -> bool:
    """'it's in German', 'the French audio': the language named is the one spoken in the recording."""
    return any(_role(text, pos, prep) == "source" for _, pos, prep in languages(text))


def source_language(text: str) -> str | None:
    """The spoken language of a recording ('this is in German', 'the French audio')."""
    langs = languages(text)
    if not langs:
        return None
    for code, pos, prep in langs:
        if _role(text, pos, prep) == "source":
            return code
    # For recognition there is no target: any language named is the spoken one.
    return langs[0][0]


def wants_spoken_output(text: str) -> bool:
    """Does a translation request also want the result as audio?"""
    return bool(
        re.search(
            r"\b(read (?:it|that|the translation|them)?\s*(?:out|aloud|back)|say it|speak it|spoken|"
            r"out loud|aloud|dub|dubbed|dubbing|as audio|audio version|voice ?over|narrate|"
            r"(?:hear|listen to) (?:it|the translation))\b",
            text,
            re.I,
        )
    )


# --- durations and times ------------------------------------------------------------------

_UNIT = r"(s|sec|secs|second|seconds|m|min|mins|minute|minutes)\b"


def seconds(text: str) -> float | None:
    """A requested length: '10 seconds', 'a 5s clip', 'half a minute', '2 minutes'."""
    t = text.lower()
    if re.search(r"\bhalf (?:a |one )?minute\b|\b30-second\b", t):
        return 30.0
    if re.search(r"\b(?:a |one )?minute and a half\b", t):
        return 90.0
    # Digits may run into an abbreviated unit ("5s", "2 min"); a number word needs a space and a
    # whole unit word ("five seconds"), or "I am tired" reads as "a m(inute)".
    m = re.search(r"\b(\d+(?:\.\d+)?)\s*(?:-\s*)?" + _UNIT, t) or re.search(
        r"\b" + _NUM + r"(?:\s+|\s*-\s*)(sec|secs|second|seconds|min|mins|minute|minutes)\b", t
    )
    if m:
        n = number(m.group(1))
        if n is None:
            return None
        unit = m.group(2)
        if unit.startswith("m"):
            n *= 60
        return n if n > 0 else None
    if re.search(r"\b(?:a|one) minute\b", t):
        return 60.0
    return None


def _clock(tok: str) -> float | None:
    """'1:05' -> 65.0, '2.5' -> 2.5."""
    if ":" in tok:
        parts = tok.split(":")
        try:
            val = 0.0
            for p in parts:
                val = val * 60 + float(p)
            return val
        except ValueError:
            return None
    return number(tok)


_T = r"(\d+(?::\d{1,2})+(?:\.\d+)?|\d+(?:\.\d+)?)"


def time_range(text: str) -> tuple[float | None, float | None]:
    """Start and end seconds: 'between 2 and 3.5 s', 'from 0:01 to 0:02', 'at 4 seconds'."""
    t = text.lower()
    pats = (
        r"\bbetween\s+" + _T + r"\s*(?:s|sec|secs|seconds)?\s+and\s+" + _T,
        r"\bfrom\s+" + _T + r"\s*(?:s|sec|secs|seconds)?\s+(?:to|until|till|-)\s+" + _T,
        r"\b" + _T + r"\s*(?:s|sec|secs|seconds)?\s*(?:-|–|to)\s*" + _T + r"\s*(?:s|sec|secs|seconds)\b",
        r"(?<![\w.])" + _T + r"\s*(?:-|–)\s*" + _T + r"(?![\w.])",
    )
    for p in pats:
        m = re.search(p, t)
        if m:
            a, b = _clock(m.group(1)), _clock(m.group(2))
            if a is not None and b is not None and b > a:
                return a, b
    m = re.search(r"\b(?:at|around|near|about|after)\s+" + _T + r"\s*(?:s|sec|secs|seconds)?\b", t)
    if m and (":" in m.group(1) or re.search(r"\d\s*(?:s|sec|secs|seconds)\b", t[m.start() : m.end() + 9])):
        return _clock(m.group(1)), None
    return None, None


# --- direction for binaural ----------------------------------------------------------------

_WHOSE = r"(?:the\s+|my\s+|your\s+|(?:the\s+)?(?:listener|viewer|player|user|audience|person)(?:'s|s')\s+)"
_LEFT = r"(?:(?:to|on|from|at|toward|towards)\s+" + _WHOSE + r"?(?:far\s+)?left|left(?:\s+|-)(?:side|ear|channel|hand)|\bleft\s+of)"
_RIGHT = r"(?:(?:to|on|from|at|toward|towards)\s+" + _WHOSE + r"?(?:far\s+)?right|right(?:\s+|-)(?:side|ear|channel|hand)|\bright\s+of)"
_BEHIND = r"(?:behind|from\s+the\s+back|at\s+the\s+back|(?:from|at)\s+the\s+rear|in\s+the\s+back|back\s+of)"
_FRONT = r"(?:in\s+front|from\s+the\s+front|ahead|straight\s+on|facing\s+me)"


def motion(text: str) -> str | None:
    t = text.lower()
    m = re.search(r"\b(left|right|front|back)\s+to\s+(?:the\s+)?(left|right|front|back)\b", t)
    if m and m.group(1) != m.group(2):
        return f"{m.group(1)} to {m.group(2)}"
    if re.search(r"\b(circl\w*|orbit\w*|spin\w*|rotat\w*|around (?:my|your|the) head|around (?:me|the listener|you)|8d|all around)\b", t):
        return "circle"
    if re.search(r"\b(fly|flying|passing|pass|passes|moving|move|moves) (?:by|past|over)\b", t):
        return "left to right"
    return None


def azimuth(text: str) -> float | None:
    """Degrees, 0 front, 90 right, -90 left, 180 behind; None when no direction is named."""
    t = text.lower()
    m = re.search(r"(-?\d+(?:\.\d+)?)\s*(?:°|degrees?|deg)\b(?:\s+(?:to\s+)?(?:the\s+)?(left|right))?", t)
    if m:
        val = float(m.group(1))
        if m.group(2) == "left" or (m.group(2) is None and re.search(_LEFT, t)):
            val = -abs(val)
        return max(-180.0, min(180.0, val))
    left, right = re.search(_LEFT, t), re.search(_RIGHT, t)
    behind, front = re.search(_BEHIND, t), re.search(_FRONT, t)
    if re.search(r"\b(?:front|forward)[\s-]+left|left[\s-]+front\b", t):
        return -45.0
    if re.search(r"\b(?:front|forward)[\s-]+right|right[\s-]+front\b", t):
        return 45.0
    if re.search(r"\b(?:back|rear)[\s-]+left|left[\s-]+(?:back|rear)\b", t) or (behind and left):
        return -135.0
    if re.search(r"\b(?:back|rear)[\s-]+right|right[\s-]+(?:back|rear)\b", t) or (behind and right):
        return 135.0
    if left and not right:
        return -90.0
    if right and not left:
        return 90.0
    if behind:
        return 180.0
    if front:
        return 0.0
    return None


def elevation(text: str) -> float | None:
    t = text.lower()
    if re.search(r"\b(directly above|overhead|right above)\b", t):
        return 80.0
    if re.search(r"\b(above|over my head|up high|from above)\b", t):
        return 45.0
    if re.search(r"\b(below|beneath|under(?:neath)? me|from below)\b", t):
        return -45.0
    return None


# --- counts and music ------------------------------------------------------------------------


def speakers(text: str) -> int | None:
    t = text.lower()
    m = re.search(
        r"\b" + _NUM + r"\s+(?:different\s+|distinct\s+|separate\s+)?(?:people|persons|speakers|voices|"
        r"hosts|guys|women|men|participants|talkers|callers|agents|kids|children|singers|person)\b",
        t,
    )
    n = number(m.group(1)) if m else None
    if n is None and re.search(r"\bboth (?:speakers|voices|people|of them|hosts)\b|\bduet\b|\bthe two\b", t):
        n = 2
    if n is None or not 2 <= n <= 8:
        return None
    return int(n)


NOTE_RE = re.compile(r"\b([A-G](?:#|b|♯|♭)?[0-8])\b")


def notes(text: str) -> str | None:
    found = NOTE_RE.findall(text)
    return " ".join(found) if len(found) >= 2 else None


def tempo(text: str) -> float | None:
    m = re.search(r"\b(\d{2,3}(?:\.\d+)?)\s*(?:bpm|beats per minute)\b", text, re.I) or re.search(
        r"\btempo\s*(?:of|at|=|:)?\s*(\d{2,3})\b", text, re.I
    )
    if not m:
        return None
    v = float(m.group(1))
    return v if 20 < v <= 300 else None


# --- texts -----------------------------------------------------------------------------------

_REFERENCE_TEXT = re.compile(
    r"^(?:it|this|that|these|those|them|back|again|the same|"
    r"(?:the|my|this|that|his|her|their|your)\s+(?:transcript\w*|translation|text|result|output|caption|"
    r"description|essay|message|answer|summary|notes?|words|sentence|paragraph|reply|response|lyrics|"
    r"recording|audio|voice|clip|file|voice note|voice message|speech|sound|track)|"
    r"what (?:he|she|they|it|you) (?:said|says|wrote)|something|anything|a line|a song|"
    r"for me|out loud|aloud)\b",
    re.I,
)
_SAY_RE = re.compile(
    r"(?:^|\b(?:please|you|to|and|then|now|just|also|me|us|it|voice|avatar|picture|photo|face|image|"
    r"speaker|person|guy|woman|man|girl|boy|bot|computer|him|her|them|that|which|who|message|recording|"
    r"clip|announcement|greeting|voicemail|voiceover|voice-over)\s+|[,:;]\s*)"
    r"(?:(?:say|says|saying|speak|pronounce|announce|announcing|narrate)\b|read\s+(?:out\s+|aloud\s+)?|"
    r"read\s+(?:the\s+following|this)\s*(?:out|aloud)?\s*)\s*(?:out\s+loud\s+|aloud\s+)?(?:that\s+|the words\s+|the following\s+)?"
    r"(?P<text>.+)$",
    re.I,
)
_TRAILING_MODS = (
    r"\s+(?:in|with|using)\s+(?:a|an|the|my|his|her|their|your|this|that)?\s*[\w\s'-]{0,30}?\b(?:voice|accent|tone|style)\b.*$",
    r"\s+(?:in|into)\s+(?:" + "|".join(re.escape(n) for n in _LANG_NAMES) + r")\b.*$",
    r"[\s,]+(?:out loud|aloud|for me|please|again|to me|for us|back to me|back)\s*[.!?]*$",
    r"\s+(?:like|as)\s+(?:this|that|the|my|him|her)\b.*$",
)


# "the words in my recording", "what's in my voice note", "what I said in a1": the words of a recording.
_RECORDING_REF = re.compile(
    r"\b(?:my|the|this|that|his|her|their|our|attached|uploaded)\s+(?:[\w-]+\s+){0,2}?(?:recording|audio|clip|file|"
    r"voice\s*(?:note|message|memo|mail|clip|recording)|voicemail|speech|track|sample|message|memo|tape)s?\b|"
    r"\ba[1-9]\d*\b|\bwhat\s+(?:i|he|she|they|you|we)\s+(?:said|say|says|recorded|just\s+said)\b",
    re.I,
)


def is_reference_text(s: str) -> bool:
    """'it', 'the transcript', 'what he said': words that point at another result, not text to speak."""
    s = s.strip().strip("'\".!?, ")
    return not s or (bool(_REFERENCE_TEXT.match(s)) and len(s.split()) <= 4)


def refers_to_recording(s: str) -> bool:
    """'the words in my recording', "what's in my voice note": the speech is in a file, not given as text."""
    s = s.strip().strip("'\".!?, ")
    return bool(_RECORDING_REF.search(s)) and len(s.split()) <= 8


def spoken_text(segment: str, quotes: list[str]) -> str | None:
    """The exact words to speak: quoted/colon text, else what follows 'say'/'read out'/...."""
    if quotes:
        return " ".join(q for q in quotes if q).strip() or None
    m = _SAY_RE.search(segment)
    if not m:
        return None
    s = m.group("text").strip()
    if is_reference_text(s) or refers_to_recording(s):  # before trimming: "what's in my voice note" is not "what's"
        return None
    for pat in _TRAILING_MODS:
        s = re.sub(pat, "", s, flags=re.I).strip()
    s = s.strip(" ,;:")
    if is_reference_text(s):
        return None
    return s or None


def lyrics(segment: str, quotes: list[str]) -> str | None:
    if quotes:
        return " ".join(quotes).strip() or None
    m = re.search(
        r"\b(?:sing|sings|singing|sung|perform)\s+(?:me\s+|us\s+)?(?:the\s+|these\s+|my\s+)?(?:lyrics|words|song|line)?\s*(?P<t>.+)$",
        segment,
        re.I,
    )
    if not m:
        return None
    s = m.group("t")
    s = re.split(r"\s+(?:with|on|using|to)\s+(?:the\s+)?(?:notes?|melody|tune)\b|\s+at\s+\d+\s*bpm|\s+(?:at|with)\s+(?:a\s+)?tempo\b|\s+in\s+(?:a|the)\s+\w+\s+(?:voice|style)\b", s, flags=re.I)[0]
    s = re.sub(r"[\s,]+(?:for me|please|for us|to me)\s*[.!?]*$", "", s, flags=re.I).strip(" ,.;:!?")
    if is_reference_text(s) or re.fullmatch(r"(?:a|some|something|anything|a song|a line|the chorus|it)", s, re.I):
        return None
    return s or None


_REQUEST_LEAD = re.compile(
    r"^(?:hey|hi|ok|okay|so|now|also|then|and|please|pls|kindly|just|can you|could you|would you|"
    r"will you|can i get|could i get|i need|i want|i'd like|i would like|i'd love|give me|get me|help me|help us|"
    r"make me|let me hear|let's hear|generate|create|produce|make|compose|write|synthesi[sz]e|render|"
    r"play|design|build|do|add|me|us|for me|to hear|another|new|quick|short|little|to)\b[\s,]*",
    re.I,
)
_SOUND_OF = re.compile(
    r"^(?:(?:a|an|some|the)\s+)?(?:(?:background|ambient|short|little|nice|realistic)\s+)*"
    r"(?:sound effects?|sfx|sounds?|noises?|audio|clip|recording|effect|ambience|soundscape|track)\s+"
    r"(?:of|with|like|that\s+(?:includes?|contains?|has)|which\s+(?:includes?|contains?|has)|including|containing|featuring)\s+",
    re.I,
)


def _strip_durations(s: str) -> str:
    s = re.sub(
        r"[\s,]*\b(?:for\s+|about\s+|around\s+|roughly\s+|like\s+|of\s+|lasting\s+)*"
        r"(?:half\s+a\s+minute|a\s+minute\s+and\s+a\s+half|\d+(?:\.\d+)?\s*(?:-\s*)?" + _UNIT
        + r"|" + _NUM + r"(?:\s+|\s*-\s*)(?:sec|secs|second|seconds|min|mins|minute|minutes)\b)(?:\s+long)?",
        " ",
        s,
        flags=re.I,
    )
    return re.sub(r"\s+", " ", s).strip(" ,")


_GENERIC_OBJECT = frozenset(
    ["a", "an", "some", "any", "music", "song", "songs", "track", "tune", "tunes", "piece", "something", "sound", "sounds", "audio", "clip", "for", "me", "us", "please", "it", "one", "new", "little", "nice"]
)
_LATER_ASK = re.compile(r"[,;.!?]\s+(?=(?:so\s+|and\s+)?(?:can|could|would|will)\s+you\b|please\b)", re.I)


def description(segment: str, quotes: list[str], *, music: bool = False) -> str:
    """What to generate ('rain on a tin roof') from 'generate the sound of rain on a tin roof'.

    "I am tired today, can you generate a music for me?": the ask names no content of its own,
    so the words before it (the mood) are the description.
    """
    if quotes:
        return " ".join(quotes)
    m = _LATER_ASK.search(segment)
    if m:
        before, ask = segment[: m.start()], segment[m.end() :]
        got = _describe(ask, music)
        words = re.findall(r"[a-z']+", got.lower())
        if all(w in _GENERIC_OBJECT for w in words) and re.search(r"\w", before):
            return _describe(before, music)
        return got
    return _describe(segment, music)


def _describe(segment: str, music: bool) -> str:
    s = ARTIFACT_RE.sub("", segment)
    s = _strip_durations(s)
    for _ in range(8):
        new = _REQUEST_LEAD.sub("", s).strip()
        if new == s:
            break
        s = new
    s = re.sub(r"^(?:of\s+)?(?:a|an|some)\s+|^of\s+", "", s, flags=re.I)  # "8 seconds of slow piano"
    if not music:
        s = _SOUND_OF.sub("", s)
    s = re.sub(r"[\s,]+(?:please|for me|thanks|thank you)\s*[.!?]*$", "", s, flags=re.I)
    s = s.strip(" ,.;:!?")
    return s or segment.strip(" ?!.")


_QUERY_LEAD = re.compile(
    r"^(?:hey|ok|okay|so|now|also|then|and|please|pls|kindly|can you|could you|would you|will you|"
    r"i only want|i just want|i want|i need|i'd like|give me|get me|show me|tell me|let me know|"
    r"extract|isolate|pull out|pull|separate out|separate|split out|get|keep|find|detect|locate|"
    r"search\s+(?:this|it)?\s*for|search|look\s+for|listen\s+for|mark|identify|spot|remove|filter|"
    r"cut\s+out|when\s+(?:exactly\s+)?(?:does|do|is|are|did|will|can i hear|can you hear|i hear)|"
    r"at\s+what\s+(?:time|point|second|moment)s?\s*(?:does|do|is|are|can\s+(?:you|i)\s+hear)?|"
    r"at\s+which\s+(?:time|point|second|moment)s?\s*(?:does|do|is|are)?|where|when|"
    r"how\s+many\s+seconds\s+in\s+(?:does|do|is)?|is\s+there|are\s+there|does|do|"
    r"can\s+you\s+hear|can\s+i\s+hear|you\s+can\s+hear|the\s+(?:timestamps?|times?|moments?|segments?|"
    r"parts?|points?|sections?)\s*(?:of|where|when|with|that)?|every\s+time|each\s+time|exactly|only|just|"
    r"all\s+the|the\s+sounds?\s+of|sounds?\s+of|out)\b[\s,]*",
    re.I,
)
_QUERY_TAIL = re.compile(
    r"(?:[\s,]+(?:and\s+when|when|at\s+what\s+time|anywhere|at\s+any\s+point|in\s+it|in\s+there|"
    r"in\s+here|exactly|occurs?|happens?|starts?|begins?|appears?|is\s+heard|can\s+be\s+heard|heard|"
    r"please|for\s+me|into\s+(?:its|a)\s+own\s+(?:file|track)|on\s+its\s+own|alone|only|out|"
    r"and\s+remove\s+everything\s+else|from\s+(?:everything|all)\s+else|from\s+the\s+(?:rest|background|mix)|"
    r"by\s+itself|separately))+\s*[?.!]*$",
    re.I,
)
_FILE_REF = re.compile(
    r"\b(?:from|in|of|within|out\s+of|inside|on|throughout)\s+(?:this|that|the|my|our|these|a[1-9]\d*)\b"
    r"(?:\s+[\w-]+){0,2}?\s*(?:recording|clip|file|audio|track|song|mix|mixture|video|sample|voice\s+note|"
    r"one|thing|sound|tape|memo|excerpt|snippet)s?\b|\b(?:from|in|of)\s+a[1-9]\d*\b|\ba[1-9]\d*\b|"
    r"\b(?:from|in|of)\s+(?:it|this|here|there)\b",
    re.I,
)


_CONTAINS_SOUND = re.compile(
    r"\b(?:contains?|containing|has|have|had|hear|heard|there(?:'s|\s+is|\s+are|\s+was))\s+"
    r"(?P<q>(?:a|an|some|the)\s+[\w\s-]{2,40}?)"
    r"(?=\s+(?:sound|noise)s?\b|\s+(?:somewhere|at\s+some\s+point|in\s+it|in\s+there|in\s+the\s+background)\b|\s*[,.;?!]|\s*$)",
    re.I,
)


def sound_query(segment: str, quotes: list[str]) -> str | None:
    """The described sound: 'pull out just the dog barking from this' -> 'the dog barking'."""
    if quotes:
        return " ".join(quotes)
    q = _sound_query(segment)
    if q is None or len(q.split()) > 6:
        # "this recording might contain a glass breaking sound at some point ..." -> 'a glass breaking'
        m = _CONTAINS_SOUND.search(segment)
        if m:
            return m.group("q").strip()
    return q


def _sound_query(segment: str) -> str | None:
    s = segment.strip()
    m = re.search(r"\b(?:everything|all|anything)\s+(?:except|but|apart\s+from|other\s+than|besides|aside\s+from)\s+(?P<q>.+)$", s, re.I)
    if m:
        s = m.group("q")
    s = _FILE_REF.sub(" ", s)
    s = re.sub(r"\s+", " ", s).strip(" ,.?!")
    for _ in range(10):
        new = _QUERY_LEAD.sub("", s).strip(" ,")
        new = _QUERY_TAIL.sub("", new).strip(" ,")
        if new == s:
            break
        s = new
    s = re.sub(r"\s+(?:and|,)\s*$", "", s).strip(" ,.?!")
    generic = r"(?:(?:the|a|an|some|any|one|that|this|specific|certain|particular)\s+)*(?:sound|sounds|noise|noises|it|thing|one|something)"
    if not s or is_reference_text(s) or re.fullmatch(generic, s, re.I):
        return None
    return s
