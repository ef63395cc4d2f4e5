"""Procedural sound design: one small generator per kind of sound, driven by parsed parameters.

Each generator models how the sound is physically made, coarsely but for real:
rain is thousands of short filtered drop impacts over a broadband wash; wind is
band noise whose centre and level drift with slow gusts; a siren is a swept
harmonic tone; an engine is a low harmonic series at the firing rate; knocks,
footsteps, bells and crashes are modal synthesis (decaying resonances struck by
a short excitation); a crowd is a babble of glottal pulse trains through
changing vowel formants; birds are FM chirps; a stream is a dense field of
resonating bubbles (Minnaert: a bubble rings at a frequency set by its size).

A generator gets a :class:`Scene` (length, rate, seeded RNG, intensity,
modifiers) and returns unnormalised float64 samples; :mod:`.prompt` decides
which generators run and how loud, and the backend mixes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from audiogpt.models.generation import dsp


@dataclass
class Scene:
    n: int  # samples
    sr: int  # Hertz
    rng: np.random.Generator
    intensity: float = 0.6  # 0 (light, gentle) .. 1 (heavy, violent)
    speed: float = 1.0  # event-rate multiplier: "slow" 0.6, "fast"/"running" 1.8
    surface: str = ""  # e.g. "metal", "wood", "gravel", "glass"
    extras: set[str] = field(default_factory=set)  # free modifiers such as "howling", "two-tone"

    @property
    def seconds(self) -> float:
        return self.n / self.sr


Generator = Callable[[Scene], np.ndarray]


def _poisson_times(s: Scene, rate: float) -> np.ndarray:
    """Event sample positions of a Poisson process with ``rate`` events a second."""
    count = s.rng.poisson(max(rate, 0.0) * s.seconds)
    return np.sort(s.rng.integers(0, max(s.n, 1), count))


def rain(s: Scene) -> np.ndarray:
    """A wash of broadband noise plus many drop impacts (short band-limited clicks and bubble plinks)."""
    g = s.intensity
    wash = dsp.shaped_noise(s.n, s.sr, lambda t, f: dsp.band(f, 400, 9000, 1.0), s.rng)
    out = 0.5 * wash / (np.std(wash) + 1e-12)
    drops_per_s = 300 + 2500 * g
    # drops fall into groups, each convolved with its own kernel: a few FFTs instead of one per drop
    for _ in range(6):
        times = _poisson_times(s, drops_per_s / 6)
        amps = np.minimum(s.rng.pareto(2.5, times.size), 4.0) * s.rng.choice([-1, 1], times.size)
        train = dsp.scatter(s.n, times, amps)
        length = int(s.rng.uniform(0.002, 0.006) * s.sr)
        centre = s.rng.uniform(2500, 7500)
        kern = s.rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 4))
        kern = dsp.bandpass(kern, s.sr, centre / 2, centre * 1.6)
        out += 6 * dsp.convolve(train, kern) / (np.std(kern) + 1e-12) / np.sqrt(drops_per_s)
    # a few drops land in puddles: rising bubble plinks
    plink_t = _poisson_times(s, 6 + 20 * g)
    for t0 in plink_t:
        dur = s.rng.uniform(0.01, 0.03)
        tt = np.arange(int(dur * s.sr)) / s.sr
        f0 = s.rng.uniform(1500, 4000)
        chirp = np.sin(2 * np.pi * (f0 * tt + 0.5 * f0 * 4 * tt**2)) * np.exp(-tt / (dur / 4))
        dsp.add_at(out, chirp, int(t0), 0.25 * s.rng.uniform(0.3, 1.0))
    if s.surface in ("metal", "tin"):  # drops ring a thin metal sheet: modal partials on every impact
        ring = dsp.decaying_modes(s.sr, [930, 1870, 2650, 3900, 5200], [0.08, 0.06, 0.05, 0.04, 0.03],
                                  [1, 0.7, 0.6, 0.4, 0.3], 0.12, s.rng)
        times = _poisson_times(s, 60 + 200 * g)
        hits = dsp.scatter(s.n, times, s.rng.uniform(0.2, 1.0, times.size))
        out += 0.15 * dsp.convolve(hits, ring)
    return out


def wind(s: Scene) -> np.ndarray:
    """Band noise whose centre frequency and level follow slow random gusts."""
    gust = dsp.slow_random(s.n, s.sr, 0.4 * s.speed, s.rng)
    level = np.clip(0.55 + 0.45 * gust, 0.08, 1.0)
    centre = 350 + 500 * s.intensity + 250 * gust
    howl = "howling" in s.extras or s.intensity > 0.8

    def env(t: np.ndarray, f: np.ndarray) -> np.ndarray:
        c = dsp.interp_frames(centre, t, s.sr)[:, None]
        a = dsp.interp_frames(level, t, s.sr)[:, None]
        body = np.exp(-0.5 * (np.log2(np.maximum(f[None, :], 20) / c) / 1.1) ** 2)
        if howl:  # a whistling resonance riding on the gust
            body = body + 0.8 * np.exp(-0.5 * (np.log2(np.maximum(f[None, :], 20) / (2.2 * c)) / 0.06) ** 2)
        return a * body

    return dsp.shaped_noise(s.n, s.sr, env, s.rng)


def siren(s: Scene) -> np.ndarray:
    """A harmonic tone swept up and down (wail), or alternating two pitches (hi-lo) with "two-tone"."""
    t = np.arange(s.n) / s.sr
    if "two-tone" in s.extras:
        f = np.where((t * 1.0) % 1.0 < 0.5, 660.0, 880.0)
        f = dsp.lowpass(f, s.sr, 40)  # no clicks at the steps
    else:
        period = 4.0 / s.speed
        f = 750 + 420 * np.sin(2 * np.pi * t / period - np.pi / 2)
    phase = 2 * np.pi * np.cumsum(f) / s.sr
    out = sum(np.sin(k * phase) / k**1.2 for k in range(1, 7))
    if "passing" in s.extras:  # Doppler and distance: a vehicle going by
        mid = s.seconds / 2
        out = out * (1 / (1 + ((t - mid) / (0.25 * s.seconds)) ** 2))
    return np.asarray(out)


def _engine_tone(s: Scene, f0: np.ndarray, rough: float = 0.3) -> np.ndarray:
    """A low harmonic series at the firing rate with cycle-to-cycle jitter and combustion noise."""
    jitter = 1 + 0.02 * dsp.slow_random(s.n, s.sr, 30, s.rng)
    phase = 2 * np.pi * np.cumsum(f0 * jitter) / s.sr
    out = np.zeros(s.n)
    for k in range(1, 24):
        out += np.sin(k * phase + s.rng.uniform(0, 6.28)) / k**0.9 * (1 + 0.5 * (k % 2 == 0))
    out = dsp.lowpass(out, s.sr, 900)
    noise = dsp.lowpass(s.rng.standard_normal(s.n), s.sr, 1200) * (1 + np.sin(phase)) * rough
    return out / (np.std(out) + 1e-12) + noise / (np.std(noise) + 1e-12) * rough


def engine(s: Scene) -> np.ndarray:
    """An idling or revving engine: firing-rate harmonics with slow throttle changes."""
    throttle = np.clip(0.5 + 0.5 * dsp.slow_random(s.n, s.sr, 0.3 * s.speed, s.rng), 0, 1)
    f0 = (28 + 40 * s.intensity) * (1 + 0.8 * throttle * s.intensity)
    return _engine_tone(s, f0)


def traffic(s: Scene) -> np.ndarray:
    """Road noise: a low rumble bed and cars passing (level swell and Doppler pitch drop)."""
    bed = dsp.shaped_noise(s.n, s.sr, lambda t, f: dsp.band(f, 40, 700, 1.5), s.rng)
    out = 0.6 * bed / (np.std(bed) + 1e-12)
    t = np.arange(s.n) / s.sr
    passes = max(1, int(s.seconds * (0.3 + 0.5 * s.intensity) * s.speed))
    for centre in np.sort(s.rng.uniform(0, s.seconds, passes)):
        v = s.rng.uniform(10, 25)  # m/s
        d = s.rng.uniform(4, 12)  # closest distance, m
        x = v * (t - centre)
        r = np.sqrt(x**2 + d**2)
        radial = v * x / r  # speed away from the listener
        f0 = s.rng.uniform(35, 55) * 343 / (343 + radial)
        tyre = dsp.bandpass(s.rng.standard_normal(s.n), s.sr, 300, 3000)
        car = _engine_tone(s, f0, 0.2) + 0.8 * tyre / (np.std(tyre) + 1e-12)
        out += 3.0 * car * (d / r) ** 1.5
    return out


def _impact(s: Scene, freqs: list[float], decays: list[float], amps: list[float], noise_ms: float,
            bright: float) -> np.ndarray:
    """One struck body: modal resonances plus a short contact-noise burst."""
    jitter = s.rng.uniform(0.95, 1.05, len(freqs))
    body = dsp.decaying_modes(s.sr, list(np.array(freqs) * jitter), decays, amps, max(decays) * 1.2, s.rng)
    k = max(8, int(noise_ms / 1000 * s.sr))
    click = s.rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 5))
    click = dsp.lowpass(click, s.sr, bright)
    out = body / (np.max(np.abs(body)) + 1e-12)
    out[:k] += 0.8 * click / (np.max(np.abs(click)) + 1e-12)
    return out


SURFACE_MODES = {  # (mode frequencies Hz, 60 dB decays s, amplitudes, contact-noise ms, brightness Hz)
    "wood": ([190, 440, 760, 1150], [0.09, 0.06, 0.04, 0.03], [1, 0.6, 0.4, 0.2], 4, 3000),
    "metal": ([420, 1130, 2180, 3570, 5100], [1.2, 0.9, 0.7, 0.5, 0.3], [1, 0.8, 0.6, 0.4, 0.3], 2, 9000),
    "glass": ([1830, 3120, 4790, 6900, 9100], [0.6, 0.45, 0.35, 0.25, 0.2], [1, 0.8, 0.7, 0.5, 0.3], 1, 12000),
    "stone": ([120, 310, 620], [0.05, 0.04, 0.03], [1, 0.5, 0.3], 6, 2500),
}


def knock(s: Scene) -> np.ndarray:
    """Knocks on a door: groups of two or three wooden impacts."""
    out = np.zeros(s.n)
    modes = SURFACE_MODES.get(s.surface, SURFACE_MODES["wood"])
    pos = 0.2
    while pos < s.seconds - 0.3:
        for _ in range(int(s.rng.integers(2, 4))):
            hit = _impact(s, *modes)
            dsp.add_at(out, hit, int(pos * s.sr), s.rng.uniform(0.7, 1.0) * (0.5 + 0.5 * s.intensity))
            pos += s.rng.uniform(0.16, 0.24) / s.speed
        pos += s.rng.uniform(0.9, 1.8) / s.speed
    return out


def impact(s: Scene) -> np.ndarray:
    """Crashes and bangs: a big struck body (metal by default, glass with shatter debris)."""
    out = np.zeros(s.n)
    surface = s.surface if s.surface in SURFACE_MODES else "metal"
    count = max(1, int(s.seconds / 2.5 * s.speed))
    for t0 in np.sort(s.rng.uniform(0.05, max(0.1, s.seconds - 1.0), count)):
        hit = _impact(s, *SURFACE_MODES[surface])
        dsp.add_at(out, hit, int(t0 * s.sr))
        if surface == "glass":  # shards: a scatter of tiny bright impacts after the break
            for dt in s.rng.exponential(0.12, 25):
                shard = _impact(s, list(np.array(SURFACE_MODES["glass"][0]) * s.rng.uniform(1.2, 2.0)),
                                [0.08] * 5, [1, 0.7, 0.5, 0.4, 0.3], 0.5, 14000)
                dsp.add_at(out, shard, int((t0 + 0.02 + dt) * s.sr), s.rng.uniform(0.05, 0.3))
    return out


def footsteps(s: Scene) -> np.ndarray:
    """Steps at walking (about 1.9 a second) or running pace: heel thump, then grit for gravel or snow."""
    out = np.zeros(s.n)
    rate = 1.9 * s.speed
    modes = SURFACE_MODES["wood"] if s.surface == "wood" else ([90, 210, 400], [0.05, 0.04, 0.03], [1, 0.5, 0.3], 8, 2000)
    pos = 0.15
    while pos < s.seconds - 0.1:
        step = _impact(s, *modes) * s.rng.uniform(0.7, 1.0)
        if s.surface in ("gravel", "snow", "leaves"):
            k = int(0.12 * s.sr)
            grit = dsp.scatter(k, s.rng.integers(0, k, 120), s.rng.uniform(-1, 1, 120))
            grit = dsp.bandpass(grit, s.sr, 1500 if s.surface == "gravel" else 800, 8000)
            step[: min(k, step.size)] += 1.5 * grit[: step.size] / (np.max(np.abs(grit)) + 1e-12)
        dsp.add_at(out, step, int(pos * s.sr))
        pos += (1.0 / rate) * s.rng.uniform(0.93, 1.07)
    return out


VOWELS = np.array([  # F1, F2, F3 (Hz) of a, e, i, o, u, schwa
    [730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410], [300, 870, 2240], [500, 1500, 2500],
])


def _talker(s: Scene, f0_mean: float) -> tuple[np.ndarray, np.ndarray]:
    """One talker's glottal pulse train (with intonation and a syllable-rate envelope), and which
    vowel each sample belongs to (a new vowel every syllable)."""
    syll = max(2, int(s.seconds * s.rng.uniform(3.5, 5.5)))
    bounds = np.sort(s.rng.uniform(0, s.n, syll)).astype(int)
    vowel_idx = s.rng.integers(0, len(VOWELS), syll + 1)
    f0 = f0_mean * (1 + 0.12 * dsp.slow_random(s.n, s.sr, 2.0, s.rng))
    saw = ((np.cumsum(f0) / s.sr) % 1.0) * 2 - 1
    env = np.clip(0.6 + 0.6 * np.sin(np.pi * np.arange(s.n) / (s.n / syll)), 0, 1) ** 2
    env *= dsp.slow_random(s.n, s.sr, 0.5, s.rng) > -0.4  # pauses between phrases
    return saw * env, vowel_idx[np.searchsorted(bounds, np.arange(s.n))]


def _formants(vowel: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A vowel's vocal-tract response: three formant peaks (bandwidths widening upwards) over a low floor."""
    return lambda f: 0.03 * dsp.band(f, 100, 4000) + sum(
        np.exp(-0.5 * ((f - vowel[k]) / (90 + 60 * k)) ** 2) / (k + 1) for k in range(3))


def crowd(s: Scene) -> np.ndarray:
    """Babble: a dozen or more talkers at random pitches, in a reverberant space.

    Each talker's pulse train is split by the vowel it is saying; all talkers' parts for one
    vowel go through that vowel's formant filter together, so a crowd costs six filters, not
    one time-varying filter per talker (switching the filter at syllable edges is what the
    per-talker version did too).
    """
    talkers = int(8 + 16 * s.intensity)
    by_vowel = np.zeros((len(VOWELS), s.n))
    for _ in range(talkers):
        f0 = s.rng.choice([s.rng.uniform(95, 140), s.rng.uniform(170, 240)])
        pulses, vowel = _talker(s, float(f0))
        gain = s.rng.uniform(0.3, 1.0) / (np.std(pulses) + 1e-12)
        for v in range(len(VOWELS)):
            by_vowel[v] += np.where(vowel == v, pulses * gain, 0.0)
    out = sum(dsp.fft_filter(by_vowel[v], s.sr, _formants(VOWELS[v])) for v in range(len(VOWELS)))
    out = dsp.lowpass(np.asarray(out), s.sr, 3500)
    return dsp.reverb(out, s.sr, 1.2, 0.45, s.rng)


def birds(s: Scene) -> np.ndarray:
    """Songbirds: phrases of short FM chirps from a few birds with their own pitch, over a faint breeze."""
    out = np.zeros(s.n)
    for _bird in range(int(2 + 3 * s.intensity)):
        base = s.rng.uniform(2500, 5500)
        sweep = s.rng.uniform(-0.5, 0.5)
        pos = s.rng.uniform(0, 1.5)
        while pos < s.seconds:
            for _ in range(int(s.rng.integers(2, 7))):
                dur = s.rng.uniform(0.04, 0.14)
                tt = np.arange(int(dur * s.sr)) / s.sr
                f = base * (1 + sweep * tt / dur) * (1 + 0.12 * np.sin(2 * np.pi * s.rng.uniform(20, 60) * tt))
                chirp = np.sin(2 * np.pi * np.cumsum(f) / s.sr) * np.sin(np.pi * tt / dur) ** 2
                dsp.add_at(out, chirp, int(pos * s.sr), s.rng.uniform(0.4, 1.0))
                pos += dur + s.rng.uniform(0.02, 0.08)
            pos += s.rng.uniform(0.6, 2.5) / s.speed
    breeze = dsp.shaped_noise(s.n, s.sr, lambda t, f: dsp.band(f, 200, 1500, 1.5), s.rng)
    return out + 0.08 * breeze / (np.std(breeze) + 1e-12)


def _bubbles(s: Scene, rate: float, lo: float, hi: float) -> np.ndarray:
    """Minnaert bubbles: each rings at a size-dependent pitch that rises as it reaches the surface."""
    out = np.zeros(s.n)
    times = _poisson_times(s, rate)
    # bubbles share a handful of kernels (one per size band) to keep it to a few FFTs
    bands = np.exp(np.linspace(np.log(lo), np.log(hi), 10))
    groups = s.rng.integers(0, bands.size, times.size)
    for gi, f0 in enumerate(bands):
        sel = times[groups == gi]
        if sel.size == 0:
            continue
        dur = 0.012 + 8.0 / f0
        tt = np.arange(int(dur * s.sr)) / s.sr
        kern = np.sin(2 * np.pi * f0 * (tt + 0.5 * 3.0 * tt**2 / dur)) * np.exp(-tt / (dur / 5))
        out += dsp.convolve(dsp.scatter(s.n, sel, s.rng.uniform(0.2, 1.0, sel.size)), kern)
    return out


def water(s: Scene) -> np.ndarray:
    """A stream or river: a dense field of bubbles over a low broadband rush."""
    rush = dsp.shaped_noise(s.n, s.sr, lambda t, f: dsp.band(f, 100, 2500, 1.2), s.rng)
    bub = _bubbles(s, 150 + 600 * s.intensity, 400, 3500)
    return 0.5 * rush / (np.std(rush) + 1e-12) + bub / (np.std(bub) + 1e-12)


def waves(s: Scene) -> np.ndarray:
    """Surf: noise swelling every ~8 s, brighter as each wave breaks, then a hiss as it drains."""
    t = np.arange(s.n) / s.sr
    period = s.rng.uniform(6.5, 9.5) / s.speed
    phase = (t / period + s.rng.uniform()) % 1.0
    swell = np.where(phase < 0.35, (phase / 0.35) ** 2, np.exp(-(phase - 0.35) * 5))

    def env(tf: np.ndarray, f: np.ndarray) -> np.ndarray:
        a = dsp.interp_frames(swell, tf, s.sr)[:, None]
        cut = 300 + 4000 * a
        return (0.1 + a) * (1 / (1 + (f[None, :] / cut) ** 2)) * dsp.band(f, 60, 0)[None, :]

    return dsp.shaped_noise(s.n, s.sr, env, s.rng)


def fire(s: Scene) -> np.ndarray:
    """A fire: a low roaring flutter plus bursts of crackles (sharp clicks) and the odd pop."""
    roar = dsp.shaped_noise(s.n, s.sr, lambda t, f: dsp.band(f, 30, 400, 1.5), s.rng)
    roar *= 1 + 0.4 * dsp.slow_random(s.n, s.sr, 6, s.rng)
    crack_t = _poisson_times(s, 15 + 60 * s.intensity)
    # crackles come in bursts: each event spawns a few clicks close together
    burst = np.concatenate([crack_t + s.rng.exponential(0.01 * s.sr, crack_t.size) * k for k in range(3)]).astype(int)
    clicks = dsp.scatter(s.n, burst, np.minimum(s.rng.pareto(1.5, burst.size), 6.0) * s.rng.choice([-1, 1], burst.size))
    clicks = dsp.highpass(clicks, s.sr, 1500)
    out = 0.6 * roar / (np.std(roar) + 1e-12) + 2.0 * clicks / (np.max(np.abs(clicks)) + 1e-12)
    for t0 in _poisson_times(s, 0.5 + s.intensity):  # resin pockets bursting: a louder low pop
        pop = _impact(s, [180, 420], [0.04, 0.03], [1, 0.5], 2, 4000)
        dsp.add_at(out, pop, int(t0), s.rng.uniform(1.0, 3.0))
    return out


def thunder(s: Scene) -> np.ndarray:
    """Thunder: a sharp crack (near strikes) then a long rolling low rumble made of many delayed arrivals."""
    out = np.zeros(s.n)
    strikes = max(1, int(s.seconds / 8))
    for t0 in np.sort(s.rng.uniform(0.1, max(0.2, s.seconds * 0.6), strikes)):
        dur = min(s.seconds - t0, s.rng.uniform(4, 8))
        k = int(dur * s.sr)
        if k <= 0:
            continue
        tt = np.arange(k) / s.sr
        rolls = np.zeros(k)
        for _ in range(12):  # sound from different parts of the channel arriving late
            c = s.rng.exponential(dur / 4)
            rolls += s.rng.uniform(0.3, 1) * np.exp(-0.5 * ((tt - c) / s.rng.uniform(0.2, 0.8)) ** 2)
        rumble = dsp.lowpass(s.rng.standard_normal(k), s.sr, 180, 3) * (rolls + 0.2) * np.exp(-tt / (dur / 2))
        crack = dsp.highpass(s.rng.standard_normal(k), s.sr, 600) * np.exp(-tt / 0.08) * (0.3 + s.intensity)
        piece = rumble / (np.std(rumble) + 1e-12) + 0.6 * crack / (np.std(crack[: int(0.1 * s.sr)]) + 1e-12)
        dsp.add_at(out, piece, int(t0 * s.sr))
    return out


def dog(s: Scene) -> np.ndarray:
    """Barks: a harsh harmonic burst with a falling pitch through two formants, in groups of one to three."""
    out = np.zeros(s.n)
    pos = 0.2
    size = 0.7 if "small" in s.extras else 1.0
    while pos < s.seconds - 0.3:
        for _ in range(int(s.rng.integers(1, 4))):
            dur = s.rng.uniform(0.12, 0.2)
            tt = np.arange(int(dur * s.sr)) / s.sr
            f0 = (480 / size) * (1.15 - 0.4 * tt / dur)
            phase = 2 * np.pi * np.cumsum(f0) / s.sr
            src = sum(np.sin(k * phase) / k for k in range(1, 14)) + 0.5 * s.rng.standard_normal(tt.size)
            src = dsp.fft_filter(src, s.sr, lambda f: dsp.peak(f, 900 / size, 0.5) + 0.7 * dsp.peak(f, 2100 / size, 0.4))
            env = np.minimum(1, tt / 0.01) * np.exp(-tt / (dur / 2.5))
            dsp.add_at(out, src * env, int(pos * s.sr), s.rng.uniform(0.7, 1.0))
            pos += dur + s.rng.uniform(0.1, 0.2)
        pos += s.rng.uniform(0.8, 2.0) / s.speed
    return dsp.reverb(out, s.sr, 0.6, 0.25, s.rng)


def bell(s: Scene) -> np.ndarray:
    """A church bell (minor-third bell partials, long decay) or, with "small", a bright chime."""
    small = "small" in s.extras
    base = s.rng.uniform(600, 900) if small else s.rng.uniform(180, 260)
    ratios = [0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.2]
    decays = [6, 4.5, 3.5, 3, 2.2, 1.6, 1.2, 0.8] if not small else [2, 1.6, 1.3, 1.1, 0.9, 0.7, 0.5, 0.4]
    strike = dsp.decaying_modes(s.sr, [base * r for r in ratios], decays, [0.7, 1, 0.8, 0.5, 0.6, 0.4, 0.3, 0.2],
                                min(max(decays), s.seconds), s.rng)
    out = np.zeros(s.n)
    interval = (2.2 if not small else 0.9) / s.speed
    for t0 in np.arange(0.05, max(0.1, s.seconds - 0.3), interval):
        dsp.add_at(out, strike, int(t0 * s.sr))
    return out


def clock(s: Scene) -> np.ndarray:
    """Tick-tock: alternating small wooden and metallic clicks once a second."""
    out = np.zeros(s.n)
    for i, t0 in enumerate(np.arange(0.1, s.seconds, 1.0 / s.speed)):
        hit = _impact(s, [2600 if i % 2 else 2100, 4300, 6100], [0.03, 0.02, 0.015], [1, 0.5, 0.3], 0.5, 9000)
        dsp.add_at(out, hit, int(t0 * s.sr))
    return out


def beep(s: Scene) -> np.ndarray:
    """An alarm or phone: square-ish tone pulses (ringing bursts with "ring")."""
    t = np.arange(s.n) / s.sr
    f = 2000.0 if "ring" not in s.extras else 440.0
    tone = np.sign(np.sin(2 * np.pi * f * t)) * 0.5 + 0.5 * np.sin(2 * np.pi * f * 1.25 * t)
    tone = dsp.lowpass(tone, s.sr, 6000)
    ringing = ((t % 6) < 2) & ((t * 20) % 1 < 0.5)  # two seconds ringing, four off (a telephone cadence)
    gate = ringing if "ring" in s.extras else (t * 2 * s.speed) % 1 < 0.5
    return tone * dsp.lowpass(gate.astype(float), s.sr, 200)


def crickets(s: Scene) -> np.ndarray:
    """Night insects: trains of 4-5 kHz pulses (each cricket chirps at its own rate)."""
    out = np.zeros(s.n)
    t = np.arange(s.n) / s.sr
    for _ in range(int(3 + 5 * s.intensity)):
        carrier = np.sin(2 * np.pi * s.rng.uniform(3800, 5200) * t)
        chirp_rate = s.rng.uniform(1.2, 3.0)
        pulse = ((t * 30) % 1 < 0.5) & (((t + s.rng.uniform(0, 1)) * chirp_rate) % 1 < 0.3)
        out += carrier * dsp.lowpass(pulse.astype(float), s.sr, 300) * s.rng.uniform(0.2, 1.0)
    return out


def applause(s: Scene) -> np.ndarray:
    """Clapping hands: many short band-limited noise bursts with each clapper at their own rate."""
    out = np.zeros(s.n)
    k = int(0.012 * s.sr)
    kern = s.rng.standard_normal(k) * np.exp(-np.arange(k) / (k / 4))
    kern = dsp.bandpass(kern, s.sr, 800, 4000)
    for _ in range(int(10 + 30 * s.intensity)):
        rate = s.rng.uniform(3.5, 6)
        times = (np.arange(0, s.seconds, 1 / rate) + s.rng.uniform(0, 1 / rate)) * s.sr
        times = times + s.rng.normal(0, 0.01 * s.sr, times.size)
        out += dsp.convolve(dsp.scatter(s.n, times.astype(int), s.rng.uniform(0.5, 1, times.size)), kern)
    return dsp.reverb(out, s.sr, 0.9, 0.3, s.rng)


def typing(s: Scene) -> np.ndarray:
    """A keyboard: bursts of plastic key clicks at typing speed, spacebar thuds between words."""
    out = np.zeros(s.n)
    pos = 0.1
    while pos < s.seconds - 0.05:
        space = s.rng.random() < 0.18
        hit = _impact(s, [1800, 3300, 5200] if not space else [600, 1400], [0.02, 0.015, 0.01][: 2 if space else 3],
                      [1, 0.6, 0.3][: 2 if space else 3], 0.7, 10000)
        dsp.add_at(out, hit, int(pos * s.sr), s.rng.uniform(0.5, 1.0))
        pos += s.rng.gamma(4, 0.035) / s.speed + (s.rng.uniform(0.3, 1.2) if s.rng.random() < 0.04 else 0)
    return out


def hum(s: Scene) -> np.ndarray:
    """Mains hum: 50 Hz and its harmonics (odd ones strong, like a transformer), slightly unsteady."""
    t = np.arange(s.n) / s.sr
    base = 60.0 if "60" in s.extras else 50.0
    out = sum(np.sin(2 * np.pi * base * k * t) / (k if k % 2 else 2 * k) for k in range(1, 12))
    return np.asarray(out) * (1 + 0.05 * dsp.slow_random(s.n, s.sr, 1, s.rng))


def explosion(s: Scene) -> np.ndarray:
    """A blast: a broadband crack, a deep low-passed boom with a long tail, and falling debris."""
    out = np.zeros(s.n)
    t0 = 0.1
    k = s.n - int(t0 * s.sr)
    tt = np.arange(k) / s.sr
    boom = dsp.lowpass(s.rng.standard_normal(k), s.sr, 120, 3) * np.exp(-tt / 1.2)
    crack = dsp.highpass(s.rng.standard_normal(k), s.sr, 300) * np.exp(-tt / 0.15)
    piece = boom / (np.std(boom[: s.sr]) + 1e-12) + 0.7 * crack / (np.std(crack[: int(0.2 * s.sr)]) + 1e-12)
    dsp.add_at(out, piece, int(t0 * s.sr))
    for dt in s.rng.exponential(0.7, 30):
        bit = _impact(s, *SURFACE_MODES["stone"])
        dsp.add_at(out, bit, int((t0 + 0.3 + dt) * s.sr), s.rng.uniform(0.05, 0.3))
    return dsp.reverb(out, s.sr, 2.0, 0.4, s.rng, brightness=2000)


def helicopter(s: Scene) -> np.ndarray:
    """Rotor blade slaps at ~20 Hz over a turbine whine."""
    t = np.arange(s.n) / s.sr
    slap = np.maximum(0, np.sin(2 * np.pi * 19 * t)) ** 12
    noise = dsp.bandpass(s.rng.standard_normal(s.n), s.sr, 80, 1500)
    whine = np.sin(2 * np.pi * 1400 * t + 3 * np.sin(2 * np.pi * 0.3 * t))
    return slap * noise / (np.std(noise) + 1e-12) * 2 + 0.1 * whine


def train(s: Scene) -> np.ndarray:
    """A train: rumble, wheels clacking over rail joints in pairs, and a horn for "horn"/"whistle"."""
    rumble = dsp.shaped_noise(s.n, s.sr, lambda t, f: dsp.band(f, 30, 500, 1.5), s.rng)
    out = rumble / (np.std(rumble) + 1e-12)
    clack = _impact(s, [300, 800, 1900], [0.05, 0.04, 0.03], [1, 0.6, 0.3], 3, 5000)
    period = 1.0 / (1.2 * s.speed + 0.5 * s.intensity)
    for t0 in np.arange(0.1, s.seconds, period):
        dsp.add_at(out, clack, int(t0 * s.sr), 1.5)
        dsp.add_at(out, clack, int((t0 + 0.12) * s.sr), 1.2)
    if "horn" in s.extras:
        t = np.arange(s.n) / s.sr
        gate = dsp.lowpass(((t > 0.5) & (t < 2.0)).astype(float), s.sr, 30)
        chord = sum(np.sin(2 * np.pi * f * t) + 0.3 * np.sin(4 * np.pi * f * t) for f in (311, 370, 466))
        out += 1.5 * gate * chord
    return out


GENERATORS: dict[str, Generator] = {
    "rain": rain, "wind": wind, "siren": siren, "engine": engine, "traffic": traffic, "knock": knock,
    "impact": impact, "footsteps": footsteps, "crowd": crowd, "birds": birds, "water": water, "waves": waves,
    "fire": fire, "thunder": thunder, "dog": dog, "bell": bell, "clock": clock, "beep": beep,
    "crickets": crickets, "applause": applause, "typing": typing, "hum": hum, "explosion": explosion,
    "helicopter": helicopter, "train": train,
}
