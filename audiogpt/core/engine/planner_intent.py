"""Rules for asks that look like tool requests but are not: they are answered in text.

Why rules and not exemplars: "can you speak Spanish?" and "speak 'good night' in
Spanish" share every content word, so an embedding puts them together; what
separates them is the form (a question about ability, with no text, file or
'this' to act on). Likewise "translate 'hello friend' to Italian" is a text
translation (no tool does that) although it shares the verb with translating a
recording. Each rule is about the shape of the sentence, not about its topic,
so it carries over to phrasings not seen here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from audiogpt.core.engine import planner_args as A
from audiogpt.core.engine.planner_lang import LANGUAGE_CODES
from audiogpt.core.engine.planner_text import FILLERS, PLACEHOLDER_RE, normalise_words
from audiogpt.core.engine.roles import by_role

if TYPE_CHECKING:
    from audiogpt.core.engine.planner_build import Context
    from audiogpt.core.engine.planner_text import Segment

# --- capability questions ----------------------------------------------------------------------

_CAP_Q = re.compile(
    r"(?:^|[,:;.!?\u2014\u2013]\s*|\b(?:know|wondering|wonder|curious|ask|question|tell me)\b[\s,:]*)"
    r"(?:(?:so|and|but|hey|hi|also|quick question|just|um|hmm)[\s,]+)*"
    r"(?:can|could|do|does|will|would|are|is)\s+(?:you|u|ya|it|this\s+(?:bot|app|thing|service|tool)|audiogpt)\s+"
    r"(?:(?:also|even|actually|really|still)\s+)?(?P<rest>[^?]*)",
    re.I,
)
_ABILITY_LEAD = re.compile(
    r"^(?:be\s+)?(?:able\s+to|capable\s+of|possible\s+(?:for\s+(?:you|me)\s+)?to|allowed\s+to|going\s+to|know\s+how\s+to)\s+",
    re.I,
)
# Verbs that ask about ability whatever follows ("do you support ...", "can you handle ...").
_ABILITY_VERBS = re.compile(
    r"^(?:support\w*|handle|accept|understand|speak|talk|know|recogni[sz]e|work\s+with|deal\s+with|cope\s+with|"
    r"do\s+(?:other\s+)?(?:languages|translations?|transcriptions?|accents|voices))\b",
    re.I,
)
_WHICH_Q = re.compile(
    r"\b(?:what|which|how\s+many)\s+(?:other\s+)?(?:languages?|formats?|file\s+(?:types?|formats?)|voices?|accents?|dialects?)\b"
    r"|\b(?:is|are)\s+(?:\w+\s+){1,3}supported\b|\bsupported\s+languages?\b",
    re.I,
)
_DEICTIC = re.compile(
    r"\b(?:this|that|these|those|it|them|my|our|his|her|their|attached|here|below|following|above|a[1-9]\d*)\b", re.I
)
_GENERIC = frozenset(
    ["a", "an", "the", "some", "any", "all", "other", "others", "foreign", "different", "multiple", "many", "several", "various", "more", "lots", "of", "kind", "kinds", "type", "types", "sort", "sorts", "too", "also", "as", "well", "in", "into", "to", "from", "and", "or", "than", "else", "aloud", "out", "loud", "english", "like", "e", "g", "eg", "example", "music", "song", "songs", "sound", "sounds", "effect", "effects", "sfx", "audio", "audios", "speech", "voice", "voices", "text", "texts", "word", "words", "language", "languages", "file", "files", "format", "formats", "recording", "recordings", "mp3", "wav", "ogg", "m4a", "flac", "opus", "video", "videos", "thing", "things", "stuff", "transcription", "transcriptions", "translation", "translations", "lyrics", "singing", "noise", "noises", "speaker", "speakers", "people", "accent", "accents", "dialect", "dialects", "task", "tasks", "beat", "beats", "melody", "melodies", "tune", "tunes", "ambience", "clip", "clips", "voicemails", "voicemail", "messages", "message", "notes", "note", "memos", "memo"]
)


def _rest_is_generic(rest: str) -> bool:
    words = re.findall(r"[a-z0-9']+", normalise_words(rest))
    return all(w in _GENERIC or w in FILLERS or A.languages(w) for w in words[1:])


def capability_question(seg: Segment, ctx: Context, needs_input: bool = False) -> bool:
    """'can you speak Spanish?', 'do you support Portuguese transcription?', 'which formats do you take?':
    a question about what I can do, with nothing (no file, quote or 'this') to act on.

    ``needs_input``: the ask routes to a tool that works on a file; with no file anywhere in the
    conversation, "is it possible to separate vocals from a song?" can only be about ability.
    """
    text = PLACEHOLDER_RE.sub(" ", seg.text)
    if seg.quotes or ctx.attachments or A.artifact_ids(text):
        return False
    if _WHICH_Q.search(text) and not _DEICTIC.search(_WHICH_Q.sub(" ", text)):
        return True
    m = _CAP_Q.search(text)
    if not m:
        return False
    rest = _ABILITY_LEAD.sub("", m.group("rest").strip())
    if not rest or _DEICTIC.search(rest):
        return False
    if _ABILITY_VERBS.match(rest):
        return True
    # With files in the conversation, "can you transcribe the audio?" asks for the work itself.
    if ctx.req.artifacts:
        return False
    return needs_input or _rest_is_generic(rest)


# --- translating typed text ----------------------------------------------------------------------

_LANGS = "|".join(re.escape(n) for n in sorted(LANGUAGE_CODES, key=len, reverse=True))
_TRANSLATE = re.compile(r"\btranslat\w*|\binterpret\b", re.I)
_HOW_SAY = re.compile(
    r"\bhow\s+(?:do|would|can|should|to)\s+(?:you|i|we|one)?\s*(?:say|write|spell)\b|"
    r"\bwhat(?:'s|\s+is|\s+does)\s+.{1,60}\s+(?:in|mean\s+in)\s+(?:" + _LANGS + r")\b|"
    r"\b(?:" + _LANGS + r")\s+(?:word|phrase|term|expression)\s+for\b",
    re.I,
)
_RECORDING_NOUN = re.compile(
    r"\b(?:recording|audio|voice\s*(?:note|message|memo|mail)|voicemail|clip|file|video|speech|call|podcast|"
    r"interview|lecture|meeting|track|song|message|sound|what\s+(?:he|she|they|it)\s+(?:says?|said))s?\b",
    re.I,
)
_OBJECT_WORDS = frozenset(
    ["it", "this", "that", "these", "those", "them", "my", "the", "a", "an", "please", "pls", "for", "me", "us", "to", "into", "in", "now", "also", "and", "then", "quickly"]
)


def text_translation(seg: Segment, ctx: Context) -> bool:
    """'translate "hello friend" to Italian', 'how do you say thanks in German': typed text, not a recording."""
    text = seg.text
    if A.artifact_ids(text) or not (_TRANSLATE.search(text) or _HOW_SAY.search(text)):
        return False
    if seg.quotes:
        return not any(a.kind == "audio" for a in ctx.attachments) or bool(_TRANSLATE.search(text))
    if any(a.kind == "audio" for a in ctx.attachments) or ctx.has("audio") or _RECORDING_NOUN.search(text):
        return False
    if not A.languages(text):
        return False
    # The object between the verb and the language must be words of its own, not 'it' / 'this'.
    m = re.search(r"\b(?:translat\w*|interpret|say|write|spell)\s+(?P<obj>.*?)\s*\b(?:to|into|in)\s+\w+", text, re.I)
    obj = m.group("obj") if m else ""
    words = re.findall(r"[a-z']+", obj.lower())
    return any(w not in _OBJECT_WORDS for w in words) or bool(_HOW_SAY.search(text))


# --- asks that only point at the rest of the message -------------------------------------------

_VAGUE_WORDS = frozenset(
    ["it", "this", "that", "these", "those", "them", "the", "same", "thing", "things", "accordingly", "for", "me", "us", "please", "pls", "plz", "kindly", "do", "does", "did", "done", "convert", "fix", "help", "handle", "sort", "out", "process", "work", "on", "with", "make", "happen", "take", "care", "of", "deal", "possible", "be", "is", "it's", "would", "could", "can", "you", "thanks", "thank", "anything", "something", "about", "whatever", "needed", "necessary", "as", "described", "mentioned", "above", "so", "what", "we", "i", "my", "our", "one", "go", "ahead", "get", "task", "job", "hi", "hello", "hey", "there", "well", "too", "also", "again", "quick", "quickly", "asp", "asap", "now", "here", "then", "just", "if", "way", "any", "chance", "manage", "sure", "okay", "ok", "able", "to", "mind", "appreciate", "love", "like", "need", "want", "wondering", "was", "were", "whether"]
)


def is_vague(text: str) -> bool:
    """'Could you convert it accordingly?', 'can you help?': an ask with no content of its own."""
    words = re.findall(r"[a-z']+", normalise_words(PLACEHOLDER_RE.sub(" ", text)))
    return bool(words) and all(w in _VAGUE_WORDS or w in FILLERS for w in words)


# --- non-audio requests that the generators would otherwise take ----------------------------------

_OFFTOPIC_VERBS = frozenset(
    ["recommend", "suggest", "book", "reserve", "order", "buy", "purchase", "sell", "schedule", "remind", "email", "draft", "calculate", "compute", "solve", "explain", "plan", "invest", "cook", "bake", "drive", "draw", "paint", "sketch", "code", "program", "debug", "install", "download", "browse", "google", "summarize", "summarise", "proofread", "rewrite", "paraphrase", "review", "rate", "rank", "teach", "tutor", "diagnose", "prescribe"]
)


def offtopic_verb(text: str) -> bool:
    """The ask's own verb is about something other than sound ('recommend ...', 'book ...')."""
    for w in re.findall(r"[a-z']+", normalise_words(text))[:8]:
        if w in _OFFTOPIC_VERBS:
            return True
        if w not in FILLERS and w not in {"me", "us", "please", "help", "kindly", "quickly", "now"}:
            return False
    return False


# --- changes a tool cannot make ----------------------------------------------------------------------

UNSUPPORTED_CHANGE = re.compile(
    r"\b(?:slower|faster|quicker|slow(?:ly|er)?\s+down|speed\s+(?:it\s+)?up|louder|quieter|softer|"
    r"(?:higher|lower|deeper)(?:\s+(?:pitch|voice|tone))?|pitch\w*|volume|"
    r"(?:more|less)\s+(?:warm\w*|emotion\w*|energy|energetic|excit\w*|enthusias\w*|expressiv\w*|feeling|passion\w*|"
    r"drama\w*|cheerful\w*|happy|happier|sad|sadder|angry|angrier|calm|calmer|natural|human|slowly|quickly)|"
    r"whisper\w*|shout\w*|warmer|happier|sadder|angrier|calmer)\b",
    re.I,
)
# Tools that render fixed content: a change of speed, pitch, volume or emotion is not one of their options.
FIXED_RENDER_TOOLS = frozenset(
    {
        by_role("speak"),
        by_role("clone_voice"),
        by_role("clean"),
        by_role("split_speakers"),
        by_role("spatialise"),
        by_role("repair"),
        by_role("extract_sound"),
        by_role("animate_face"),
        by_role("translate_speech"),
    }
)


# --- things to make that are not sounds ------------------------------------------------------------

NON_AUDIO_OBJECT = re.compile(
    r"\b(?:generate|create|make|draw|design|produce|write|compose|render|build|paint|give)\s+(?:me\s+|us\s+)?"
    r"(?:(?:a|an|some|nice|new|quick|short|simple|little|cool|funny|cute|realistic|\d+)\s+)*"
    r"(?:[\w-]+\s+){0,2}?"
    r"(?:images?|pictures?|photos?|drawings?|paintings?|illustrations?|logos?|memes?|gifs?|posters?|sketch(?:es)?|"
    r"icons?|wallpapers?|websites?|apps?|essays?|poems?|stor(?:y|ies)|articles?|emails?|letters?|code|lyrics|"
    r"summar(?:y|ies)|reports?|slides?|presentations?|spreadsheets?|animations?|cartoons?|videos?|movies?|films?)\b"
    r"(?!\s+(?:(?:of|for)\s+(?:the\s+)?(?:sound|audio|noise)|sing|say|talk|speak|lip|move|come))",
    re.I,
)
# Saying what a recording says, as opposed to transcribing it on purpose.
EXPLICIT_TRANSCRIPT = re.compile(
    r"\b(?:transcri\w*|write\s+(?:it\s+)?(?:down|out)|type\s+(?:it\s+)?(?:up|out)?|written|text|dictat\w*|"
    r"speech[\s-]+to[\s-]+text|minutes|notes)\b",
    re.I,
)


# Edits no tool makes: format, speed and pitch, volume and EQ, cutting, fading, looping, mixing, effects.
UNSUPPORTED_OP = re.compile(
    r"\b(?:to|into|as|in)\s+(?:an?\s+)?(?:mp3|wav|flac|ogg|m4a|aac|opus|mp4|webm|aiff|wma)\b|"
    r"\b(?:mp3|wav|flac|ogg|m4a|aac|opus)\s+(?:format|file|version|instead)\b|\b(?:sample|bit)[\s-]*rate\b|\bkbps\b|"
    r"\bringtone\b|\bspeed\s+(?:it\s+|this\s+|that\s+)?up\b|\bslow\s+(?:it\s+|this\s+|that\s+|the\s+\w+\s+)?down\b|"
    r"\bplayback\s+speed\b|\bpitch(?:[\s-]*shift\w*)?\b|\bsemitones?\b|\bchipmunk\b|\bhelium\b|"
    r"\b(?:louder|quieter|amplif\w*|normali[sz]\w*|equali[sz]\w*|bass[\s-]*boost\w*)\b|"
    r"\b(?:raise|lower|increase|decrease|turn\s+(?:up|down)|boost|reduce)\s+(?:the\s+)?(?:volume|gain|level|bass|treble)\b|"
    r"\btrim\w*\b|\bcrop\w*\b|\bfade[\s-]*(?:in|out)\b|\bfades?\b|\bloop\s+(?:it|this|that|the)\b|\bon\s+loop\b|"
    r"\brevers\w*\b|\bbackwards\b|\bconcatenat\w*|\bmerg\w*|\bstitch\w*|\bsplic\w*|"
    r"\b(?:join|combine|mix|overlay|layer)\s+(?:these|them|the\s+two|both|it\s+with|this\s+with|my)\b|"
    r"\badd\s+(?:some\s+|a\s+(?:bit\s+of\s+|little\s+)?)?(?:reverb|echo|effects?|background\s+music|music|a\s+beat|bass|"
    r"distortion|auto-?tune|delay|chorus|compression)\b|\bauto-?tun\w*|"
    r"\bcut\s+(?:off|out\s+the\s+(?:first|last)|the\s+(?:first|last|end|beginning|start|intro|outro)|it\s+(?:down|short|in\s+half)|"
    r"(?:it\s+|this\s+)?down\s+to)\b",
    re.I,
)


# --- shapes of asks that settle the class before (or instead of) the embedding -------------------

GENERATORS = frozenset({by_role("make_sound"), by_role("make_music"), by_role("sing")})
AUDIO_OBJECT = re.compile(
    r"\b(?:generate|create|make|compose|produce|give\s+me|write|record)\s+(?:me\s+|us\s+)?(?:[\w-]+\s+){0,3}?"
    r"(?:songs?|tunes?|melod(?:y|ies)|music|beats?|jingles?|sounds?|noises?|sfx|ambiences?|soundscapes?|"
    r"sound\s+effects?|lullab(?:y|ies)|anthems?|ringtones?)\b",
    re.I,
)
# "is anyone speaking in this?", "are there any voices?": whether (and when) a sound occurs.
PRESENCE_RE = re.compile(
    r"^\W*(?:(?:so|ok|okay|and|also)[\s,]+)?(?:is|are|was|were|does|do|did)\s+(?:there\s+)?(?:anyone|anybody|someone|somebody|"
    r"any\s+(?:voices?|speech|people|talking|speaking))\b",
    re.I,
)
# Given words plus a verb of speaking or hearing them: reading aloud, however the rest of the ask reads.
HEAR_TEXT_RE = re.compile(
    r"\b(?:hear|sounds?\s+like|pronounc\w*|how\s+(?:do|does|would|should)\s+(?:you|i|one|it)\s+(?:say|sound)|"
    r"say|read|voice|speak|narrate|announce|record)\b",
    re.I,
)
MAKE_VERBS = frozenset({"make", "create", "generate", "produce", "synthesize", "synthesise", "give", "compose", "render", "get"})
# A bare description of a sound to make: "footsteps on gravel, about 6 seconds", "rain sfx".
DESCRIBED_SOUND_RE = re.compile(
    r"\b(?:\d+(?:\.\d+)?\s*(?:s|sec|secs|seconds?|min|minutes?)|sounds?|noises?|sfx|effects?|ambien\w*|soundscapes?)\b", re.I
)
FILE_REF_RE = re.compile(
    r"\b(?:this|that|it|these|those|them|my|our|attached|uploaded)\b|\ba[1-9]\d*\b|"
    r"\bthe\s+(?:recording|audio|clip|file|track|song|voice\s*(?:note|message|memo)|voicemail|video|mix|sample)\b",
    re.I,
)
SHARING_RE = re.compile(
    r"^\W*(?:(?:ok|okay|so|hi|hey|hello|and)[\s,!]+)?(?:here(?:'s|\s+is|\s+are|\s+comes)|there\s+you\s+go|this\s+is|these\s+are|"
    r"i(?:'m|\s+am)\s+(?:sending|sharing|uploading|attaching)|sending|sharing|attached\s+(?:is|are)|attaching|"
    r"i(?:'ve|\s+have)\s+(?:attached|uploaded|sent|shared|got)|i\s+(?:attached|uploaded|sent|shared)|uploading|"
    r"(?:i\s+)?got\s+(?:a|an|two|three|some|these|this|my|few|a\s+few|\d+))\b",
    re.I,
)
# Words that say what is wrong with a file: with them, a statement is a request ("here's my memo, it's noisy").
PROBLEM_RE = re.compile(
    r"\b(?:nois\w*|hiss\w*|hum|humming|echo\w*|reverb\w*|static|muffled|crackl\w*|buzz\w*|quiet|loud|gaps?|missing|"
    r"drop\w*|cuts?\s+out|glitch\w*|overlap\w*|over\s+each\s+other|at\s+(?:the\s+same\s+time|once)|hard\s+to|barely|"
    r"can'?t\s+(?:hear|understand)|unclear|distort\w*|broken|damaged|wind\w*|foreign|translat\w*|transcri\w*|"
    r"mono|headphones?|binaural|3d|what\s+\w+\s+(?:says?|said))\b",
    re.I,
)
