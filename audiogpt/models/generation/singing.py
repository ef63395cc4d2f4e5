"""Singing from speech: each syllable is spoken, then WORLD sets its pitch and length to the melody.

1. The melody: note names ("C4 D4 E4", "F#3:2" for two beats, "r" for a rest) or the name of
   a tune the bot knows ("twinkle twinkle"); notes out of the singing range are moved by whole
   octaves into it, and the answer says so.
2. The lyrics are cut into syllables (vowel groups with the usual consonant split) and given one
   note each: the melody repeats when the lyrics are longer, extra notes are left out when shorter.
3. Each syllable is spoken by the project's TTS (Piper) or, without it, by a small formant
   synthesiser (glottal pulses through vowel formants, consonants as noise bursts).
4. WORLD (DIO + StoneMask, CheapTrick, D4C) analyses every syllable; its onset consonant keeps its
   natural length, its voiced part is stretched to fill the note, and F0 is replaced by the note's
   frequency (a short glide from the previous note and light vibrato). All frames go through one
   WORLD synthesis so syllables join without clicks.
5. The result's F0 is measured (DIO), and the share of voiced frames within a
   semitone of the written note is reported (``pitch_accuracy``): a measurement, not a promise.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from audiogpt.models.base import BadInput

FRAME_MS = 5.0
RATE = 22_050  # Piper's rate; the formant voice uses the same
LOW_MIDI, HIGH_MIDI = 36, 84  # C2 .. C6: what WORLD re-pitching of one voice still sings
DEFAULT_TEMPO = 100.0
MAX_SYLLABLES = 200
VIBRATO_CENTS = 25.0  # well inside the semitone a listener (and the test) allows
GLIDE_S = 0.04
NOTE_NAMES = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_TOKEN = re.compile(r"^([a-g])(#|b|♯|♭|s)?(-?\d+)?(?:[:/](\d+(?:\.\d+)?))?$")
TUNES: dict[str, tuple[str, str, float]] = {  # key -> (title, notes, tempo)
    "twinkle": ("Twinkle, Twinkle, Little Star",
                "C4 C4 G4 G4 A4 A4 G4:2 F4 F4 E4 E4 D4 D4 C4:2", 100.0),
    "happy birthday": ("Happy Birthday", "G4:0.75 G4:0.25 A4 G4 C5 B4:2 G4:0.75 G4:0.25 A4 G4 D5 C5:2", 96.0),
    "ode to joy": ("Ode to Joy", "E4 E4 F4 G4 G4 F4 E4 D4 C4 C4 D4 E4 E4:1.5 D4:0.5 D4:2", 110.0),
    "frere jacques": ("Frere Jacques", "C4 D4 E4 C4 C4 D4 E4 C4 E4 F4 G4:2 E4 F4 G4:2", 110.0),
    "mary had a little lamb": ("Mary Had a Little Lamb", "E4 D4 C4 D4 E4 E4 E4:2 D4 D4 D4:2 E4 G4 G4:2", 110.0),
}
TUNE_ALIASES = {"twinkle twinkle": "twinkle", "twinkle twinkle little star": "twinkle", "birthday": "happy birthday",
                "beethoven": "ode to joy", "brother john": "frere jacques", "frère jacques": "frere jacques",
                "mary": "mary had a little lamb", "little lamb": "mary had a little lamb"}
DEFAULT_TUNE = "twinkle"


@dataclass
class NoteSpec:
    midi: int | None  # None: a rest
    beats: float = 1.0

    @property
    def name(self) -> str:
        return "rest" if self.midi is None else midi_name(self.midi)


@dataclass
class Melody:
    notes: list[NoteSpec]
    tempo: float
    title: str = ""  # set when a known tune (or the default one) was used
    messages: list[str] = field(default_factory=list)


def midi_name(m: int) -> str:
    return f"{NAMES[m % 12]}{m // 12 - 1}"


def midi_hz(m: float) -> float:
    return float(440.0 * 2 ** ((m - 69) / 12))


def parse_notes(text: str) -> list[NoteSpec]:
    """Note names ("C4", "F#3", "Bb4:2", "r") -> notes; BadInput naming the first token it cannot read."""
    out: list[NoteSpec] = []
    for tok in re.split(r"[\s,;|]+", text.strip()):
        if not tok:
            continue
        low = tok.lower()
        if low in ("r", "rest", "-", "_") or low.startswith(("r:", "rest:")):
            beats = float(low.split(":")[1]) if ":" in low else 1.0
            out.append(NoteSpec(None, beats))
            continue
        m = _TOKEN.match(low)
        if not m:
            raise BadInput(f"I cannot read the note '{tok}'; write notes like 'C4 D4 E4' (optionally 'F#4:2' for "
                           "two beats, 'r' for a rest).")
        letter, acc, octave, beats = m.groups()
        pc = NOTE_NAMES[letter] + (1 if acc in ("#", "♯", "s") else -1 if acc in ("b", "♭") else 0)
        midi = 12 * (int(octave if octave is not None else 4) + 1) + pc
        b = float(beats) if beats else 1.0
        if not 0.05 <= b <= 16:
            raise BadInput(f"The note '{tok}' lasts {b:g} beats; use 0.05 to 16 beats.")
        out.append(NoteSpec(midi, b))
    if not any(n.midi is not None for n in out):
        raise BadInput("The melody has no notes; write notes like 'C4 D4 E4', one per syllable.")
    return out


def fit_range(notes: list[NoteSpec]) -> tuple[list[NoteSpec], list[str]]:
    """Move the melody (then any single note) by whole octaves into C2-C6, saying what moved."""
    pitched = [n.midi for n in notes if n.midi is not None]
    messages: list[str] = []
    shift = 0
    lo, hi = min(pitched), max(pitched)
    while hi + shift > HIGH_MIDI and lo + shift - 12 >= LOW_MIDI:
        shift -= 12
    while lo + shift < LOW_MIDI and hi + shift + 12 <= HIGH_MIDI:
        shift += 12
    if shift:
        messages.append(f"The melody ({midi_name(lo)}-{midi_name(hi)}) is outside the singing range "
                        f"{midi_name(LOW_MIDI)}-{midi_name(HIGH_MIDI)}, so it is sung "
                        f"{abs(shift) // 12} octave{'s' if abs(shift) > 12 else ''} {'lower' if shift < 0 else 'higher'}.")
    out: list[NoteSpec] = []
    moved: list[str] = []
    for n in notes:
        if n.midi is None:
            out.append(n)
            continue
        m = n.midi + shift
        before = m
        while m > HIGH_MIDI:
            m -= 12
        while m < LOW_MIDI:
            m += 12
        if m != before:
            moved.append(f"{midi_name(before)}->{midi_name(m)}")
        out.append(NoteSpec(m, n.beats))
    if moved:
        messages.append(f"Notes outside {midi_name(LOW_MIDI)}-{midi_name(HIGH_MIDI)} were moved by octaves: "
                        f"{', '.join(moved[:6])}{'...' if len(moved) > 6 else ''}.")
    return out, messages


def choose_melody(notes: str | None, tempo: float | None) -> Melody:
    """The melody to sing: the notes given, a known tune named in ``notes``, or the default tune."""
    messages: list[str] = []
    title = ""
    key = " ".join(re.findall(r"[a-zè]+", (notes or "").lower()))
    key = TUNE_ALIASES.get(key, key)
    if notes is None or not notes.strip():
        title, written, tune_tempo = TUNES[DEFAULT_TUNE]
        messages.append(f"No melody was given, so I sang it to the tune of '{title}'.")
    elif key in TUNES:
        title, written, tune_tempo = TUNES[key]
    else:
        written, tune_tempo = notes, DEFAULT_TEMPO
    parsed, moved = fit_range(parse_notes(written))
    return Melody(parsed, float(tempo or tune_tempo), title, messages + moved)


# --- lyrics ------------------------------------------------------------------------------------

_VOWELS = "aeiouy"


def syllables(word: str) -> list[str]:
    """A written word cut into syllables: vowel groups, one consonant to the next syllable, clusters split."""
    w = word.lower().strip("'")
    groups = [(m.start(), m.end()) for m in re.finditer(r"[aeiouy]+", w)]
    if len(groups) > 1 and w.endswith("e") and not w.endswith(("le", "ee", "ye")) and groups[-1] == (len(w) - 1, len(w)):
        groups = groups[:-1]  # silent final e: "make", "time"
    if len(groups) <= 1:
        return [word]
    cuts = []
    for (_, end), (start, _) in itertools.pairwise(groups):
        between = start - end
        cuts.append(end if between <= 1 else end + between // 2 if w[end:start] not in ("ck", "th", "sh", "ch", "ng")
                    else start)
    if w.endswith("le") and len(w) > 3 and w[-3] not in _VOWELS:  # "lit-tle", "twin-kle"
        cuts[-1] = len(w) - 3
    pieces, last = [], 0
    for c in cuts:
        if c > last:
            pieces.append(word[last:c])
            last = c
    pieces.append(word[last:])
    return [p for p in pieces if p]


def lyric_syllables(lyrics: str) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z']*", lyrics)
    out = [s for w in words for s in syllables(w)]
    if not out:
        raise BadInput("The lyrics have no words I can sing; write them in Latin letters, e.g. 'la la la'.")
    if len(out) > MAX_SYLLABLES:
        raise BadInput(f"The lyrics have {len(out)} syllables; the limit is {MAX_SYLLABLES}.")
    return out


def assign(sylls: list[str], melody: Melody) -> tuple[list[tuple[str | None, NoteSpec]], list[str]]:
    """One note per syllable (rests pass through); the melody repeats or is cut, and we say which."""
    pitched = sum(1 for n in melody.notes if n.midi is not None)
    out: list[tuple[str | None, NoteSpec]] = []
    messages: list[str] = []
    i = 0
    k = 0
    while k < len(sylls):
        n = melody.notes[i % len(melody.notes)]
        if n.midi is None:
            out.append((None, n))
        else:
            out.append((sylls[k], n))
            k += 1
        i += 1
    if len(sylls) > pitched:
        messages.append(f"The lyrics have {len(sylls)} syllables and the melody {pitched} "
                        f"note{'s' if pitched != 1 else ''}, so the melody repeats.")
    elif len(sylls) < pitched:
        messages.append(f"The lyrics have {len(sylls)} syllables and the melody {pitched} notes; the last "
                        f"{pitched - len(sylls)} notes were not sung.")
    return out, messages


# --- voices ------------------------------------------------------------------------------------

Speaker = Callable[[str], tuple[np.ndarray, int]]  # syllable -> (samples, rate)

VOWEL_FORMANTS = {"a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (300, 2200, 3000), "o": (570, 840, 2410),
                  "u": (320, 900, 2240), "y": (300, 2200, 3000)}


def formant_syllable(syl: str, rate: int = RATE, f0: float = 130.0) -> tuple[np.ndarray, int]:
    """A sung-vowel stand-in when no TTS is installed: consonant noise, then pulses through the vowel's formants."""
    from audiogpt.models.generation import dsp

    s = syl.lower()
    vowel = next((c for c in s if c in VOWEL_FORMANTS), "a")
    onset = s[: s.find(vowel)] if vowel in s else ""
    rng = np.random.default_rng(sum(map(ord, s)))
    parts: list[np.ndarray] = []
    if onset:
        k = int(0.06 * rate)
        noise = rng.standard_normal(k) * np.hanning(k)
        bright = 5000 if any(c in onset for c in "sczf") else 2500
        parts.append(0.15 * dsp.bandpass(noise, rate, bright / 3, bright))
    n = int(0.3 * rate)
    t = np.arange(n) / rate
    saw = 2 * ((f0 * t) % 1.0) - 1
    f1, f2, f3 = VOWEL_FORMANTS[vowel]
    # formant peaks over a gentle low-frequency floor: the fundamental must survive (trackers need it)
    voiced = dsp.fft_filter(saw, rate, lambda f: 0.25 * dsp.band(f, 80, 900, 1.0) + dsp.peak(f, f1, 0.25)
                            + 0.6 * dsp.peak(f, f2, 0.15) + 0.3 * dsp.peak(f, f3, 0.12))
    voiced *= np.minimum(1, t / 0.02) * np.minimum(1, (t[::-1]) / 0.04)
    parts.append(voiced / (np.max(np.abs(voiced)) + 1e-12) * 0.8)
    return np.concatenate(parts), rate


@dataclass
class SungResult:
    samples: np.ndarray
    rate: int
    target_f0: np.ndarray  # per 5 ms frame, 0 where nothing is sung
    pitch_accuracy: float  # share of voiced output frames within a semitone of the target
    voiced_frames: int
    layout: list[tuple[str | None, str, float]]  # (syllable, note name, seconds)


def _dio(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """DIO + StoneMask F0 (5 ms frames): ~25x faster than Harvest and reliable on clean single syllables."""
    import pyworld as pw

    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.dio(x, rate, f0_floor=60.0, f0_ceil=1200.0, frame_period=FRAME_MS)
    return pw.stonemask(x, f0, t, rate), t


def _analyse(x: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import pyworld as pw

    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = _dio(x, rate)
    sp = pw.cheaptrick(x, f0, t, rate)
    ap = pw.d4c(x, f0, t, rate)
    return f0, sp, ap


def measure_f0(x: np.ndarray, rate: int, tracker: str = "harvest") -> np.ndarray:
    """F0 every 5 ms (0 = unvoiced) by Harvest (slow, robust: what tests use) or DIO ("dio", what
    the singer measures itself with, so the check in the tests is by an independent tracker)."""
    import pyworld as pw

    x = np.ascontiguousarray(x, dtype=np.float64)
    if tracker == "dio":
        return _dio(x, rate)[0]
    f0, _t = pw.harvest(x, rate, f0_floor=60.0, f0_ceil=1200.0, frame_period=FRAME_MS)
    return f0


def pitch_accuracy(measured: np.ndarray, target: np.ndarray) -> tuple[float, int]:
    """Share of frames voiced in both, whose F0 is within a semitone of the target; and how many counted."""
    n = min(measured.size, target.size)
    m, t = measured[:n], target[:n]
    both = (m > 0) & (t > 0)
    if not both.any():
        return 0.0, 0
    cents = 1200 * np.abs(np.log2(m[both] / t[both]))
    return float(np.mean(cents <= 100.0)), int(both.sum())


def sing(pairs: list[tuple[str | None, NoteSpec]], tempo: float, speak: Speaker,
         progress: Callable[[float], None] | None = None) -> SungResult:
    """Speak every syllable, fit it to its note with WORLD, and synthesise the whole line once."""
    import pyworld as pw

    from audiogpt.models.speech.full_common import trim_silence

    beat = 60.0 / tempo
    frame = FRAME_MS / 1000.0
    f0_parts: list[np.ndarray] = []
    sp_parts: list[np.ndarray] = []
    ap_parts: list[np.ndarray] = []
    target_parts: list[np.ndarray] = []
    layout: list[tuple[str | None, str, float]] = []
    rate = 0
    prev_hz = 0.0
    silent_sp: np.ndarray | None = None
    pending_rests = 0
    for i, (syl, note) in enumerate(pairs):
        frames = max(4, round(note.beats * beat / frame))
        layout.append((syl, note.name, round(frames * frame, 3)))
        if syl is None or note.midi is None:
            pending_rests += frames
            prev_hz = 0.0
            continue
        x, r = speak(syl)
        if rate == 0:
            rate = r
        elif r != rate:
            raise RuntimeError("the voice changed sample rate between syllables")
        x = trim_silence(np.asarray(x, dtype=np.float64), r, floor_db=-35.0)
        if x.size < int(0.03 * r):
            x, r = formant_syllable(syl, r)
        f0, sp, ap = _analyse(x, r)
        if silent_sp is None:
            silent_sp = np.full(sp.shape[1], 1e-12)
        if pending_rests:
            f0_parts.append(np.zeros(pending_rests))
            sp_parts.append(np.tile(silent_sp, (pending_rests, 1)))
            ap_parts.append(np.ones((pending_rests, sp.shape[1])))
            target_parts.append(np.zeros(pending_rests))
            pending_rests = 0
        voiced = np.flatnonzero(f0 > 0)
        src = np.arange(f0.size)
        if voiced.size:
            first, last = int(voiced[0]), int(voiced[-1])
        else:  # nothing voiced ("sh"): stretch it all, sung on no pitch
            first, last = 0, f0.size - 1
        onset = min(first, int(0.35 * frames))
        coda = min(f0.size - 1 - last, int(0.2 * frames))
        body = max(1, frames - onset - coda)
        idx = np.concatenate([
            src[first - onset : first] if onset else np.zeros(0, int),
            np.round(np.linspace(first, last, body)).astype(int),
            src[last + 1 : last + 1 + coda] if coda else np.zeros(0, int),
        ])
        new_sp, new_ap = sp[idx], ap[idx]
        hz = midi_hz(note.midi)
        new_f0 = np.zeros(idx.size)
        target = np.zeros(idx.size)
        if voiced.size:
            seg = slice(onset, onset + body)
            t = np.arange(body) * frame
            vib = VIBRATO_CENTS * np.sin(2 * np.pi * 5.5 * t) * np.clip((t - 0.15) / 0.2, 0, 1)
            contour = hz * 2 ** (vib / 1200)
            if prev_hz > 0:  # glide in from the previous note
                g = min(body, int(GLIDE_S / frame))
                contour[:g] = np.exp(np.linspace(np.log(prev_hz), np.log(hz), g)) * 2 ** (vib[:g] / 1200)
            new_f0[seg] = contour
            target[seg] = hz
            # voiced body frames get the voiced aperiodicity of the source's voiced frames
            new_ap[seg] = np.minimum(new_ap[seg], np.median(ap[voiced], axis=0)[None, :])
        f0_parts.append(new_f0)
        sp_parts.append(new_sp)
        ap_parts.append(new_ap)
        target_parts.append(target)
        prev_hz = hz
        if progress is not None:
            progress((i + 1) / len(pairs))
    if not f0_parts:
        raise BadInput("There was nothing to sing: every note was a rest.")
    if pending_rests and silent_sp is not None:
        f0_parts.append(np.zeros(pending_rests))
        sp_parts.append(np.tile(silent_sp, (pending_rests, 1)))
        ap_parts.append(np.ones((pending_rests, silent_sp.size)))
        target_parts.append(np.zeros(pending_rests))
    f0_all = np.ascontiguousarray(np.concatenate(f0_parts))
    sp_all = np.ascontiguousarray(np.concatenate(sp_parts))
    ap_all = np.ascontiguousarray(np.clip(np.concatenate(ap_parts), 0.0, 1.0))
    # smooth the joins of the spectral envelope over three frames (no clicks between syllables)
    kernel = np.array([0.25, 0.5, 0.25])
    log_sp = np.log(np.maximum(sp_all, 1e-16))
    padded = np.concatenate([log_sp[:1], log_sp, log_sp[-1:]])
    log_sp = kernel[0] * padded[:-2] + kernel[1] * padded[1:-1] + kernel[2] * padded[2:]
    sp_all = np.ascontiguousarray(np.exp(log_sp))
    y = np.nan_to_num(pw.synthesize(f0_all, sp_all, ap_all, rate, FRAME_MS))
    target_all = np.concatenate(target_parts)
    acc, counted = pitch_accuracy(measure_f0(y, rate, "dio"), target_all)
    return SungResult(y, rate, target_all, acc, counted, layout)
