"""Settling the tool pairs the embedding confuses, by the one cue that separates them.

Why: MiniLM places "extract the car horn" and "when does the car horn sound"
close together because they share the object; what differs is a verb or a
question word. When the top two tools are within a small margin and form one
of these known pairs, the cue decides; when the cue is absent too, the planner
asks the user (or, for harmless pairs, takes the top one).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from audiogpt.core.engine.planner_args import sound_query, target_language_named
from audiogpt.core.engine.planner_router import VOICE_REF_RE

if TYPE_CHECKING:
    from audiogpt.core.engine.planner_build import Context

_DESCRIBE = re.compile(r"\b(describe|description|caption|summari[sz]e|explain|what kind)\b", re.I)
_TAGGING = re.compile(r"\b(when|times?|timeline|timestamps?|tag|label|list|detect\w*|events?|every|each|chart)\b", re.I)
_WHEN = re.compile(r"\b(when|what time|which time|timestamps?|at what|at which|how many seconds|moments?|occurr?\w*|find|locate|where)\b", re.I)
_EXTRACT = re.compile(r"\b(extract|isolate|pull|keep|only|just|remove|separate|strip|filter|own|by itself|alone|except|but the)\b", re.I)
_PEOPLE = re.compile(r"\b(speakers?|voices?|people|persons?|person's|hosts?|guests?|interview\w*|each other|talking|conversation|dialogue|who)\b", re.I)
_MUSIC = re.compile(r"\b(music\w*|song|melod\w*|beat|beats|tune|track|piece|instrumental|soundtrack|score|jingle|lullaby|symphony|orchestra\w*|genre|bpm|chords?)\b", re.I)
_VISUAL = re.compile(r"\b(picture|photo|image|face|portrait|avatar|video|selfie|pic|animate|lip[- ]?sync\w*|mouth)\b", re.I)
_TRANSLATE = re.compile(r"\btranslat\w*|\binterpret\w*|\bdub\w*", re.I)
_WORDS = re.compile(r"\b(words?|said|say|says|saying|spoken|speak\w*|transcri\w*|talk\w*|speech|text|written|dictat\w*|lyrics)\b", re.I)
_SCENE = re.compile(r"\b(sounds|noises?|background|describe|happening|going on|environment|scene|ambien\w*|atmosphere|kind of)\b", re.I)
_NOISE = re.compile(r"\b(nois\w*|hiss|hum|static|echo\w*|reverb\w*|clean\w*|clear\w*|denois\w*|muffled|crackl\w*|buzz\w*|quality|wind)\b", re.I)
_TALK = re.compile(r"\b(talk\w*|speak\w*|say\w*|lip|lips|mouth|video|avatar|animat\w*|sync\w*|voice)\b", re.I)
_ALL_SOUNDS = re.compile(r"\b(all|every|everything|each|list|which sounds|what sounds|events)\b", re.I)
_SPEAK = re.compile(r"\b(say|says|saying|read|speak|pronounce\w*|aloud|out loud|narrate|narrating|voice ?over|announce\w*|tts)\b", re.I)
_GAP = re.compile(r"\b(gap|gaps|missing|dropout|drop|silent|silence|hole|cuts? out|glitch\w*|lost|blank)\b", re.I)


def tie_break(pair: frozenset[str], text: str, ctx: Context) -> str | None:
    """The tool the cue picks for a confusable pair, or None when the cue is silent."""

    def pick(cond_a: bool, a: str, cond_b: bool, b: str) -> str | None:
        if cond_a and not cond_b:
            return a
        if cond_b and not cond_a:
            return b
        return None

    # Voice cloning needs a voice to copy (named anywhere in the message: "I recorded my dad's
    # voice. Make him say ..."); reading aloud needs words to read.
    voice_named = bool(VOICE_REF_RE.search(text) or VOICE_REF_RE.search(ctx.req.text))
    if "style_transfer" in pair and not voice_named:
        return next(iter(pair - {"style_transfer"}))
    if "text_to_speech" in pair and "something" not in text and not _SPEAK.search(text):
        return next(iter(pair - {"text_to_speech"}))
    if "talking_head" in pair and pair != {"text_to_speech", "talking_head"}:
        # A face to animate needs a picture: a visual word with a picture at hand decides it.
        visual = bool(_VISUAL.search(text))
        image = any(a.kind == "image" for a in ctx.attachments) or ctx.has("image")
        if visual and image:
            return "talking_head"
    if pair == {"audio_to_text", "sound_detection"}:
        return pick(bool(_DESCRIBE.search(text)), "audio_to_text", bool(_TAGGING.search(text)), "sound_detection")
    if pair == {"text_to_speech", "style_transfer"}:
        ref = voice_named and ctx.has("audio")
        return "style_transfer" if ref else "text_to_speech"
    if pair == {"text_to_speech", "talking_head"}:
        visual = bool(_VISUAL.search(text)) or any(a.kind == "image" for a in ctx.attachments)
        return "talking_head" if visual else "text_to_speech"
    if pair == {"sound_extraction", "target_sound_detection"}:
        return pick(bool(_EXTRACT.search(text)), "sound_extraction", bool(_WHEN.search(text)), "target_sound_detection")
    if pair == {"sound_extraction", "speech_separation"}:
        return "speech_separation" if _PEOPLE.search(text) else "sound_extraction"
    if pair == {"text_to_audio", "text_to_music"}:
        return "text_to_music" if _MUSIC.search(text) else "text_to_audio"
    if pair == {"speech_recognition", "speech_translation"}:
        return "speech_translation" if target_language_named(text) or _TRANSLATE.search(text) else "speech_recognition"
    if pair == {"speech_enhancement", "audio_inpainting"}:
        return "audio_inpainting" if _GAP.search(text) else "speech_enhancement"
    if pair == {"speech_recognition", "audio_to_text"}:
        return pick(bool(_WORDS.search(text)), "speech_recognition", bool(_SCENE.search(text)), "audio_to_text")
    if pair == {"speech_enhancement", "speech_separation"}:
        return pick(bool(_NOISE.search(text)), "speech_enhancement", bool(_PEOPLE.search(text)), "speech_separation")
    if pair == {"speech_enhancement", "sound_extraction"}:
        return "speech_enhancement" if _NOISE.search(text) else None
    if pair == {"mono_to_binaural", "style_transfer"}:
        return "style_transfer" if VOICE_REF_RE.search(text) and "something" in text else "mono_to_binaural"
    if pair == {"talking_head", "image_to_audio"}:
        return pick(bool(_TALK.search(text)), "talking_head", not _TALK.search(text), "image_to_audio")
    if pair == {"sound_detection", "target_sound_detection"}:
        q = sound_query(text, [])
        return "target_sound_detection" if q and not _ALL_SOUNDS.search(text) else "sound_detection"
    return None
