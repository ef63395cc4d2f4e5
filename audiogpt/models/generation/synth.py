"""The composer's instruments: additive, FM and Karplus-Strong synthesis of single notes, and drum hits.

* piano: additive partials with piano-string inharmonicity (f_k = k f sqrt(1 + B k^2)), higher partials
  dying faster, and a felt-hammer thump;
* epiano / bells: two-operator FM (a Rhodes-like tine; a bell with an inharmonic ratio);
* guitar: Karplus-Strong plucked string (a noise burst circulating in a delay line with a damping
  average), computed a period at a time so numpy does the loop;
* pad / strings / synth / brass / chip: band-limited saw or square stacks with detune, vibrato and
  envelopes; bass: a rounded sine-plus-harmonics pluck;
* drums: kick (sine with a falling pitch), snare (tone + band noise), hats, clap, ride, toms.

Every function returns float64 samples at the given rate for one note; the composer places them.
"""

from __future__ import annotations

import numpy as np

from audiogpt.models.generation import dsp


def midi_hz(m: float) -> float:
    return float(440.0 * 2 ** ((m - 69) / 12))


def _env(n: int, sr: int, attack: float, release: float, hold: int) -> np.ndarray:
    """Attack ramp, sustain until ``hold`` samples, then an exponential release."""
    t = np.arange(n)
    a = max(1, int(attack * sr))
    env = np.minimum(1.0, t / a)
    rel = t >= hold
    env[rel] *= np.exp(-(t[rel] - hold) / max(1.0, release * sr / 6.9))
    return env


def _saw(phase: np.ndarray, f: float, sr: int, bright: float = 1.0) -> np.ndarray:
    """A band-limited sawtooth by its harmonic series (no aliasing)."""
    top = max(1, min(40, int(sr / 2 / max(f, 1) * bright)))
    return sum(np.sin(k * phase) / k for k in range(1, top + 1))


def piano(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    sustain = 3.5 * (110.0 / max(f, 110.0)) ** 0.5 + 0.6
    n = int((min(dur, sustain) + 0.35) * sr)
    t = np.arange(n) / sr
    out = np.zeros(n)
    b = 0.0004
    for k in range(1, 13):
        fk = k * f * np.sqrt(1 + b * k * k)
        if fk > sr / 2.2:
            break
        amp = (1.0 / k**1.1) * (0.5 + 0.5 * vel) ** (k / 4)
        out += amp * np.exp(-t * (1.2 + 0.9 * k) / sustain) * np.sin(2 * np.pi * fk * t + rng.uniform(0, 6.28))
    thump = rng.standard_normal(min(n, int(0.01 * sr))) * np.exp(-np.arange(min(n, int(0.01 * sr))) / (0.002 * sr))
    out[: thump.size] += 0.05 * thump
    hold = int(min(dur, sustain) * sr)
    return vel * out * _env(n, sr, 0.002, 0.25, hold)


def epiano(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int((dur + 0.4) * sr)
    t = np.arange(n) / sr
    index = (1.5 + 2.0 * vel) * np.exp(-t / 0.25)
    out = np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * f * t)) * np.exp(-t / 1.6)
    out += 0.3 * np.sin(2 * np.pi * 2 * f * t) * np.exp(-t / 0.6)
    return vel * out * _env(n, sr, 0.003, 0.3, int(dur * sr))


def bells(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    f = f * 2  # music-box register
    n = int((max(dur, 0.5) + 1.2) * sr)
    t = np.arange(n) / sr
    index = 3.0 * np.exp(-t / 0.6)
    return vel * np.sin(2 * np.pi * f * t + index * np.sin(2 * np.pi * 3.5 * f * t)) * np.exp(-t / 0.7)


def guitar(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Karplus-Strong: y[n] = d * (y[n-N] + y[n-N-1]) / 2, one period per numpy step."""
    period = max(2, round(sr / f))
    n = int((dur + 0.3) * sr)
    total = ((n // period) + 2) * period
    y = np.zeros(total + 1)
    burst = rng.uniform(-1, 1, period)
    burst = np.convolve(burst, np.ones(3) / 3, mode="same") if vel < 0.7 else burst  # soft pluck: duller
    y[1 : period + 1] = burst
    decay = 0.996 if f < 300 else 0.993
    for start in range(period + 1, total + 1, period):
        prev = y[start - period : start]
        prev2 = y[start - period - 1 : start - 1]
        y[start : start + period] = decay * 0.5 * (prev + prev2)[: min(period, total + 1 - start)]
    out = y[1 : n + 1]
    return vel * out * _env(n, sr, 0.001, 0.15, int(dur * sr))


def bass(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int((dur + 0.12) * sr)
    t = np.arange(n) / sr
    ph = 2 * np.pi * f * t
    tone = np.sin(ph) + 0.35 * np.sin(2 * ph) * np.exp(-t / 0.15) + 0.15 * np.sin(3 * ph) * np.exp(-t / 0.08)
    return vel * tone * np.exp(-t / 1.5) * _env(n, sr, 0.004, 0.08, int(dur * sr))


def _stack(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator, attack: float, release: float,
           detune: float, voices: int, bright: float, vibrato: float = 0.0, square: bool = False) -> np.ndarray:
    n = int((dur + release) * sr)
    t = np.arange(n) / sr
    out = np.zeros(n)
    vib = 1 + vibrato * np.sin(2 * np.pi * 5.2 * t) * np.minimum(1, t / 0.4)
    for v in range(voices):
        cents = detune * (v - (voices - 1) / 2)
        fv = f * 2 ** (cents / 1200)
        phase = 2 * np.pi * np.cumsum(fv * vib) / sr + rng.uniform(0, 6.28)
        if square:
            top = max(1, min(25, int(sr / 2 / fv)))
            out += sum(np.sin(k * phase) / k for k in range(1, top + 1, 2))
        else:
            out += _saw(phase, fv, sr, bright)
    out /= voices
    return vel * out * _env(n, sr, attack, release, int(dur * sr))


def pad(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    return 0.5 * _stack(f, dur, vel, sr, rng, 0.4, 0.8, 12, 3, 0.15)


def strings(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    return 0.55 * _stack(f, dur, vel, sr, rng, 0.18, 0.4, 8, 3, 0.3, vibrato=0.004)


def synth(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    return 0.5 * _stack(f, dur, vel, sr, rng, 0.005, 0.12, 10, 2, 0.5)


def brass(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    return 0.55 * _stack(f, dur, vel, sr, rng, 0.04, 0.12, 4, 2, 0.35, vibrato=0.003)


def organ(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int((dur + 0.08) * sr)
    t = np.arange(n) / sr
    tone = sum(a * np.sin(2 * np.pi * f * r * t) for r, a in ((0.5, 0.5), (1, 1), (2, 0.6), (3, 0.3), (4, 0.25)))
    return vel * 0.45 * tone * _env(n, sr, 0.01, 0.06, int(dur * sr))


def flute(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int((dur + 0.1) * sr)
    t = np.arange(n) / sr
    ph = 2 * np.pi * np.cumsum(f * (1 + 0.004 * np.sin(2 * np.pi * 5 * t))) / sr
    breath = dsp.bandpass(rng.standard_normal(n), sr, f, f * 3) * 0.05
    return vel * (np.sin(ph) + 0.2 * np.sin(2 * ph) + breath) * _env(n, sr, 0.05, 0.08, int(dur * sr))


def chip(f: float, dur: float, vel: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    return 0.4 * _stack(f, dur, vel, sr, rng, 0.002, 0.03, 0, 1, 1.0, square=True)


INSTRUMENTS = {"piano": piano, "epiano": epiano, "bells": bells, "guitar": guitar, "bass": bass, "pad": pad,
               "strings": strings, "synth": synth, "brass": brass, "organ": organ, "flute": flute, "chip": chip}


# --- drums --------------------------------------------------------------------------------


def kick(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.35 * sr)) / sr
    f = 48 + 110 * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.12)
    click = rng.standard_normal(t.size) * np.exp(-t / 0.002) * 0.3
    return body + click


def snare(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * sr)) / sr
    tone = np.sin(2 * np.pi * 185 * t) * np.exp(-t / 0.05)
    rattle = dsp.bandpass(rng.standard_normal(t.size), sr, 1500, 9000) * np.exp(-t / 0.07)
    return 0.6 * tone + 0.9 * rattle / (np.max(np.abs(rattle)) + 1e-12)


def hat(sr: int, rng: np.random.Generator, open_: bool = False) -> np.ndarray:
    t = np.arange(int((0.35 if open_ else 0.06) * sr)) / sr
    noise = dsp.highpass(rng.standard_normal(t.size), sr, 7000)
    return 0.5 * noise / (np.max(np.abs(noise)) + 1e-12) * np.exp(-t / (0.12 if open_ else 0.015))


def clap(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * sr)) / sr
    bursts = sum(np.exp(-np.maximum(t - d, 0) / 0.006) * (t >= d) for d in (0.0, 0.011, 0.022))
    noise = dsp.bandpass(rng.standard_normal(t.size), sr, 900, 5000)
    return noise / (np.max(np.abs(noise)) + 1e-12) * (bursts + np.exp(-t / 0.06))


def ride(sr: int, rng: np.random.Generator) -> np.ndarray:
    body = dsp.decaying_modes(sr, [3100, 4570, 5930, 7400], [0.9, 0.8, 0.7, 0.6], [1, 0.8, 0.6, 0.5], 0.9, rng)
    t = np.arange(body.size) / sr
    return 0.4 * body / (np.max(np.abs(body)) + 1e-12) + 0.2 * dsp.highpass(rng.standard_normal(t.size), sr, 5000) * np.exp(-t / 0.05)


def tom(sr: int, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.5 * sr)) / sr
    f = 90 + 40 * np.exp(-t / 0.05)
    return np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / 0.2)


DRUMS = {"kick": kick, "snare": snare, "hat": hat, "open_hat": lambda sr, rng: hat(sr, rng, True), "clap": clap,
         "ride": ride, "tom": tom}
