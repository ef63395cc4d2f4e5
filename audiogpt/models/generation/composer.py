"""An algorithmic composer: a :class:`MusicPlan` becomes a score (chords, melody, bass, drums), then audio.

The score follows common-practice rules, kept small:

* a diatonic progression per mode (I-V-vi-IV, vi-IV-I-V... in major; i-VI-III-VII, i-iv-v-i... in
  minor; ii-V-I-vi with sevenths for jazz), one chord a bar;
* a two-bar melodic motif whose rhythm density follows the energy (half and quarter notes when
  calm, eighths when driving), stepping through the scale and landing on chord tones on strong
  beats, repeated over the progression with variation (phrases, not random notes);
* a bass line on the roots (eighths for rock, octaves for dance music, a walk for jazz);
* accompaniment: sustained chords for pads and strings, broken-chord arpeggios when calm,
  rhythmic stabs or strums when energetic;
* drums from a per-genre 16-step pattern, swung where the genre swings.

Notes are rendered by :mod:`.synth` and mixed with a light room reverb on everything but the drums.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audiogpt.models.generation import dsp, synth
from audiogpt.models.generation.prompt import MusicPlan

SCALES = {"major": [0, 2, 4, 5, 7, 9, 11], "minor": [0, 2, 3, 5, 7, 8, 10]}
PROGRESSIONS = {  # scale degrees, 0-based
    "major": [[0, 4, 5, 3], [0, 5, 3, 4], [0, 3, 4, 0], [5, 3, 0, 4], [0, 3, 5, 4]],
    "minor": [[0, 5, 2, 6], [0, 3, 4, 0], [0, 6, 5, 6], [0, 5, 3, 4], [0, 3, 6, 2]],
    "jazz": [[1, 4, 0, 5], [0, 5, 1, 4]],
}
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII"]
# 16 steps a 4/4 bar (12 for 3/4); drum -> steps
DRUM_PATTERNS: dict[str, dict[str, list[int]]] = {
    "pop": {"kick": [0, 8, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "rock": {"kick": [0, 3, 8, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "house": {"kick": [0, 4, 8, 12], "clap": [4, 12], "open_hat": [2, 6, 10, 14], "hat": [0, 4, 8, 12]},
    "hiphop": {"kick": [0, 7, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "jazz": {"ride": [0, 4, 6, 8, 12, 14], "hat": [4, 12], "kick": [0]},
    "funk": {"kick": [0, 3, 10], "snare": [4, 12], "hat": list(range(16))},
    "reggae": {"kick": [8], "snare": [8], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "dnb": {"kick": [0, 10], "snare": [4, 12], "hat": [0, 2, 4, 6, 8, 10, 12, 14]},
    "march": {"snare": [0, 2, 4, 6, 8, 10, 12, 13, 14, 15], "kick": [0, 8]},
    "toms": {"tom": [0, 6, 8, 12], "kick": [0, 8]},
}
WALTZ = {"kick": [0], "snare": [4, 8], "hat": [0, 2, 4, 6, 8, 10]}
DRUM_GAIN = {"kick": 1.0, "snare": 0.7, "hat": 0.5, "open_hat": 0.4, "clap": 0.6, "ride": 0.35, "tom": 0.8}
INST_GAIN = {"piano": 0.55, "epiano": 0.5, "guitar": 0.6, "bass": 0.75, "pad": 0.35, "strings": 0.4, "synth": 0.35,
             "brass": 0.4, "organ": 0.4, "flute": 0.45, "bells": 0.35, "chip": 0.3}
SUSTAINED = ("pad", "strings", "organ")
LEADS = ("flute", "brass", "synth", "bells", "chip", "piano", "epiano", "guitar", "strings")


@dataclass
class Note:
    start: float  # seconds
    dur: float  # seconds
    midi: float
    vel: float
    inst: str


@dataclass
class Score:
    notes: list[Note]
    hits: list[tuple[float, str, float]]  # (seconds, drum, velocity)
    progression: list[str]
    bars: int
    seconds_per_beat: float


def _chord(degree: int, mode: str, root: int, base: int, sevenths: bool) -> list[int]:
    scale = SCALES[mode]
    tones = [degree, degree + 2, degree + 4] + ([degree + 6] if sevenths else [])
    return [base + root + scale[d % 7] + 12 * (d // 7) for d in tones]


def _roman(degree: int, mode: str) -> str:
    chord = _chord(degree, mode, 0, 0, False)
    minor = (chord[1] - chord[0]) % 12 == 3
    name = ROMAN[degree]
    return name.lower() if minor else name


def compose(plan: MusicPlan, seconds: float, rng: np.random.Generator) -> Score:
    """The score for ``seconds`` of music (whole bars, cut to length when rendered)."""
    beat = 60.0 / plan.tempo
    bpb = plan.beats_per_bar
    bars = max(1, math.ceil(seconds / (beat * bpb)))
    jazz = plan.genre == "jazz"
    progs = PROGRESSIONS["jazz" if jazz else plan.mode]
    prog = progs[int(rng.integers(0, len(progs)))]
    scale = SCALES[plan.mode]
    notes: list[Note] = []
    hits: list[tuple[float, str, float]] = []
    melodic = [i for i in plan.instruments if i not in ("drums", "bass")]
    lead = next((i for i in LEADS if i in melodic), melodic[0] if melodic else None)
    comp = [i for i in melodic if i != lead or len(melodic) == 1]
    e = plan.energy
    step = beat / 4  # a sixteenth

    def swung(t_steps: float) -> float:
        """Seconds of a step position inside a bar, with the off-beat eighths delayed by the swing."""
        if plan.swing and int(t_steps) % 4 == 2:
            return (t_steps + plan.swing * 2) * step
        return t_steps * step

    # melody motif: (beat offset, duration in beats, scale step) over two bars
    if e < 0.4:
        durations = [2.0, 1.0, 1.0, 2.0, 1.5, 0.5]
    elif e < 0.7:
        durations = [1.0, 1.0, 0.5, 0.5, 1.0, 2.0]
    else:
        durations = [0.5, 0.5, 0.5, 1.0, 0.5, 0.25, 0.25]
    motif: list[tuple[float, float, int]] = []
    pos, degree = 0.0, int(rng.choice([0, 2, 4]))
    while pos < 2 * bpb - 1e-6:
        d = float(rng.choice(durations))
        d = min(d, 2 * bpb - pos)
        motif.append((pos, d, degree))
        degree = int(np.clip(degree + rng.choice([-2, -1, -1, 1, 1, 2, 3, -3]), -2, 9))
        pos += d
    top = 60 + plan.root + (12 if lead in ("bass",) else 0)

    for bar in range(bars):
        t0 = bar * bpb * beat
        deg = prog[bar % len(prog)]
        chord = _chord(deg, plan.mode, plan.root, 48, jazz)
        chord_pcs = {c % 12 for c in chord}
        last = bar == bars - 1
        if last:
            deg, chord = 0, _chord(0, plan.mode, plan.root, 48, jazz)
            chord_pcs = {c % 12 for c in chord}
        # accompaniment
        for inst in comp:
            if inst in SUSTAINED:
                for m in chord:
                    notes.append(Note(t0, bpb * beat * 0.98, m + 12 * (inst == "strings"), 0.5 + 0.2 * e, inst))
            elif e < 0.45 or last:  # broken chord, one note a beat (arpeggio up and down)
                order = [chord[0], chord[2], chord[1] + 12, chord[2]] if len(chord) >= 3 else chord
                for b in range(bpb):
                    notes.append(Note(t0 + b * beat, beat * 1.6, order[b % len(order)], 0.45 + 0.2 * e, inst))
            else:  # rhythmic chord stabs / strums on beats and off-beats
                pattern = [0, 2, 4, 6, 8, 10, 12, 14] if e > 0.75 else [0, 4, 6, 8, 12]
                for s in [p for p in pattern if p < bpb * 4]:
                    for k, m in enumerate(chord):
                        strum = 0.012 * k if inst == "guitar" else 0.0
                        notes.append(Note(t0 + swung(s) + strum, step * 1.8, m + 12, 0.5 + 0.3 * e, inst))
        # bass
        if "bass" in plan.instruments:
            r = 36 + plan.root + scale[deg % 7]
            if jazz:
                walk = [r, r + scale[2] - scale[0] if deg == 0 else r + 4, r + 7, r + 5][:bpb]
                for b, m in enumerate(walk):
                    notes.append(Note(t0 + b * beat, beat * 0.9, m, 0.8, "bass"))
            elif plan.drums in ("house", "dnb") or e > 0.8:
                for s in range(0, bpb * 4, 2):
                    notes.append(Note(t0 + swung(s), step * 1.7, r + (12 if s % 4 == 2 else 0), 0.75, "bass"))
            elif e > 0.5:
                for s in (0, 6, 8, 14):
                    if s < bpb * 4:
                        notes.append(Note(t0 + swung(s), step * 1.8, r, 0.8, "bass"))
            else:
                notes.append(Note(t0, bpb * beat * 0.9, r, 0.75, "bass"))
        # melody: the motif's half for this bar, shifted so strong beats sit on chord tones
        if lead is not None:
            half = bar % 2
            variation = int(rng.integers(-1, 2)) if bar >= 4 and bar % 4 >= 2 else 0
            for off, d, sd in motif:
                if not (half * bpb <= off < (half + 1) * bpb):
                    continue
                sd = sd + variation
                m = top + scale[sd % 7] + 12 * (sd // 7)
                strong = abs((off % bpb) - round(off % bpb)) < 1e-6 and round(off) % 2 == 0
                if strong and m % 12 not in chord_pcs:
                    m = min((c for c in range(m - 2, m + 3) if c % 12 in chord_pcs), key=lambda c: abs(c - m), default=m)
                if last and off % bpb == 0:
                    m, d = top, float(bpb)
                start = t0 + (off - half * bpb) * beat
                notes.append(Note(start, d * beat * 0.95, m, 0.6 + 0.3 * e, lead))
                if last:
                    break
        # drums
        if plan.drums and not last:
            pattern = WALTZ if bpb == 3 else DRUM_PATTERNS.get(plan.drums, DRUM_PATTERNS["pop"])
            for drum, steps in pattern.items():
                use = steps
                if drum == "hat" and e > 0.8 and plan.drums in ("pop", "rock", "hiphop", "dnb"):
                    use = list(range(bpb * 4))  # driving sixteenths
                for s in use:
                    if s < bpb * 4:
                        accent = 1.0 if s % 4 == 0 else 0.75
                        hits.append((t0 + swung(s), drum, accent * (0.7 + 0.3 * e)))
        elif plan.drums and last:
            hits.append((t0, "kick", 1.0))
    return Score(notes=notes, hits=hits, progression=[_roman(d, plan.mode) for d in prog], bars=bars,
                 seconds_per_beat=beat)


def render(score: Score, seconds: float, sr: int, rng: np.random.Generator,
           progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Every note and drum hit synthesised and mixed; cut to ``seconds`` with a fade-out."""
    n = int(seconds * sr)
    tail = int(2.5 * sr)
    music = np.zeros(n + tail)
    drums = np.zeros(n + tail)
    cache: dict[tuple[str, float, float, float], np.ndarray] = {}
    total = len(score.notes) or 1
    for i, note in enumerate(score.notes):
        key = (note.inst, note.midi, round(note.dur, 2), round(note.vel, 1))
        wave = cache.get(key)
        if wave is None:
            wave = synth.INSTRUMENTS[note.inst](synth.midi_hz(note.midi), note.dur, note.vel, sr, rng)
            cache[key] = wave
        dsp.add_at(music, wave, int(note.start * sr), INST_GAIN.get(note.inst, 0.4))
        if progress is not None and i % 64 == 0:
            progress(0.9 * i / total)
    kit = {name: make(sr, rng) for name, make in synth.DRUMS.items()}
    for t, drum, vel in score.hits:
        jitter = rng.normal(0, 0.002)  # a human drummer is never on the grid to the sample
        dsp.add_at(drums, kit[drum], int(max(0.0, t + jitter) * sr), DRUM_GAIN[drum] * vel)
    if np.any(music):
        music = dsp.reverb(music, sr, 1.4, 0.22, rng, brightness=5000)
    mix = music + drums
    out = mix[:n]
    k = min(int(1.0 * sr), n // 3)
    if k > 0:
        out[-k:] *= np.linspace(1.0, 0.0, k) ** 1.5
    return out
