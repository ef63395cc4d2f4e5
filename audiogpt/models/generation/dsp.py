"""Signal building blocks for the procedural generators, in numpy only (no scipy on the base install).

Filtering is done in the frequency domain: a whole-signal FFT for fixed
responses, and an STFT noise shaper for responses that change over time
(wind gusts, formants of a babbling crowd, the surge of a wave). That one
shaper replaces a bank of time-varying IIR filters, which would need a Python
loop per sample.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SR = 32_000  # Hertz: what the sound and music generators render at (MusicGen's rate too)
PEAK = 0.89  # final peak level: headroom for lossy encoders, never clipped
FRAME = 1024  # STFT frame of the noise shaper (32 ms)
HOP = 256

Envelope = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (frame times s, freqs Hz) -> magnitude (T, F)


def shaped_noise(n: int, sr: int, envelope: Envelope, rng: np.random.Generator) -> np.ndarray:
    """Noise whose short-time magnitude spectrum is ``envelope(times, freqs)``.

    Random-phase complex Gaussian frames are scaled by the envelope and
    overlap-added with a Hann synthesis window (hop a quarter frame, so the
    windows sum to a constant).
    """
    frames = n // HOP + 4
    times = (np.arange(frames) * HOP - FRAME // 2) / sr
    freqs = np.fft.rfftfreq(FRAME, 1.0 / sr)
    mag = np.asarray(envelope(np.clip(times, 0, None), freqs), dtype=np.float64)
    mag = np.broadcast_to(mag, (frames, freqs.size))
    spec = (rng.standard_normal((frames, freqs.size)) + 1j * rng.standard_normal((frames, freqs.size))) * mag
    chunks = np.fft.irfft(spec, FRAME, axis=1) * np.hanning(FRAME)[None, :]
    out = np.zeros(frames * HOP + FRAME)
    for i in range(FRAME // HOP):  # overlap-add in FRAME/HOP strided passes (no per-frame Python loop)
        part = chunks[i :: FRAME // HOP].reshape(-1)
        start = i * HOP
        out[start : start + part.size] += part
    return out[FRAME // 2 : FRAME // 2 + n].astype(np.float64)


def fft_filter(x: np.ndarray, sr: int, response: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Zero-phase filtering of the whole signal by a magnitude ``response(freqs)``."""
    if x.size == 0:
        return x
    n = 1 << int(np.ceil(np.log2(x.size + 1)))
    spec = np.fft.rfft(x, n)
    spec *= response(np.fft.rfftfreq(n, 1.0 / sr))
    return np.fft.irfft(spec, n)[: x.size]


def band(freqs: np.ndarray, lo: float, hi: float, slope: float = 2.0) -> np.ndarray:
    """Smooth band-pass magnitude: flat between ``lo`` and ``hi``, ``slope`` orders of roll-off outside."""
    f = np.maximum(freqs, 1.0)
    low = 1.0 / (1.0 + (lo / f) ** (2 * slope)) if lo > 0 else np.ones_like(f)
    high = 1.0 / (1.0 + (f / hi) ** (2 * slope)) if hi > 0 else np.ones_like(f)
    return np.sqrt(low * high)


def peak(freqs: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A resonance: Gaussian bump on a log-frequency axis, ``width`` in octaves."""
    f = np.maximum(freqs, 1.0)
    return np.exp(-0.5 * (np.log2(f / centre) / width) ** 2)


def pink(freqs: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(np.maximum(freqs, 20.0) / 20.0)


def lowpass(x: np.ndarray, sr: int, cutoff: float, slope: float = 2.0) -> np.ndarray:
    return fft_filter(x, sr, lambda f: band(f, 0, cutoff, slope))


def highpass(x: np.ndarray, sr: int, cutoff: float, slope: float = 2.0) -> np.ndarray:
    return fft_filter(x, sr, lambda f: band(f, cutoff, 0, slope))


def bandpass(x: np.ndarray, sr: int, lo: float, hi: float, slope: float = 2.0) -> np.ndarray:
    return fft_filter(x, sr, lambda f: band(f, lo, hi, slope))


def convolve(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """FFT convolution, output as long as ``x``."""
    if x.size == 0 or kernel.size == 0:
        return np.zeros_like(x)
    n = 1 << int(np.ceil(np.log2(x.size + kernel.size)))
    return np.fft.irfft(np.fft.rfft(x, n) * np.fft.rfft(kernel, n), n)[: x.size]


def slow_random(n: int, sr: int, rate_hz: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random curve in about [-1, 1] that changes ``rate_hz`` times a second.

    Catmull-Rom through random knots, evaluated on a grid 32 points a knot and linearly
    interpolated to every sample (a curve this slow has nothing between grid points).
    """
    points = max(4, int(n / sr * rate_hz) + 4)
    knots = rng.uniform(-1.0, 1.0, points)
    grid = min(n, (points - 3) * 32 + 1)
    pos = np.linspace(0, points - 3, max(grid, 2))
    i = np.minimum(pos.astype(int), points - 4)
    t = pos - i
    p0, p1, p2, p3 = knots[i], knots[i + 1], knots[i + 2], knots[i + 3]
    curve = 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                   + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
    return np.interp(np.linspace(0, pos[-1], n), pos, curve)


def interp_frames(curve: np.ndarray, times: np.ndarray, sr: int) -> np.ndarray:
    """A per-sample curve read at STFT frame ``times``."""
    idx = np.clip((times * sr).astype(int), 0, curve.size - 1)
    return curve[idx]


def decaying_modes(sr: int, freqs: list[float] | np.ndarray, decays: list[float] | np.ndarray,
                   amps: list[float] | np.ndarray, seconds: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """Modal synthesis: a sum of exponentially decaying sinusoids (an impulse response of a struck body).

    ``decays`` are 60 dB decay times in seconds.
    """
    t = np.arange(int(seconds * sr)) / sr
    out = np.zeros_like(t)
    for f, d, a in zip(freqs, decays, amps, strict=True):
        if f >= sr / 2:
            continue
        phase = rng.uniform(0, 2 * np.pi) if rng is not None else 0.0
        out += a * np.exp(-6.9 * t / max(d, 1e-3)) * np.sin(2 * np.pi * f * t + phase)
    return out


def scatter(n: int, events: np.ndarray, amps: np.ndarray) -> np.ndarray:
    """An impulse train: ``amps`` at sample positions ``events`` (out-of-range ones dropped)."""
    out = np.zeros(n)
    keep = (events >= 0) & (events < n)
    np.add.at(out, events[keep].astype(int), amps[keep])
    return out


def add_at(out: np.ndarray, x: np.ndarray, start: int, gain: float = 1.0) -> None:
    """Mix ``x`` into ``out`` from sample ``start`` (clipped at both ends)."""
    if start >= out.size or start + x.size <= 0:
        return
    a, b = max(0, start), min(out.size, start + x.size)
    out[a:b] += gain * x[a - start : b - start]


def reverb(x: np.ndarray, sr: int, seconds: float, mix: float, rng: np.random.Generator,
           brightness: float = 4000.0) -> np.ndarray:
    """A diffuse tail: convolution with exponentially decaying, low-passed noise (a small room to a hall)."""
    if mix <= 0 or seconds <= 0:
        return x
    t = np.arange(int(seconds * sr)) / sr
    ir = rng.standard_normal(t.size) * np.exp(-6.9 * t / seconds)
    ir = lowpass(ir, sr, brightness)
    ir /= np.sqrt(np.sum(ir**2)) + 1e-12
    wet = convolve(x, ir)
    return (1 - mix) * x + mix * wet * (np.sqrt(np.mean(x**2)) / (np.sqrt(np.mean(wet**2)) + 1e-12))


def fade(x: np.ndarray, sr: int, seconds: float = 0.02) -> np.ndarray:
    k = min(int(seconds * sr), x.size // 2)
    if k > 0:
        ramp = np.linspace(0.0, 1.0, k)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def finish(x: np.ndarray, sr: int, level: float = PEAK) -> np.ndarray:
    """Finite, DC-free, faded, peak-normalised float32: never clipped, never silent by accident."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size:
        x = x - x.mean()
    x = fade(x, sr)
    top = float(np.max(np.abs(x))) if x.size else 0.0
    if top > 0:
        x = x * (level / top)
    return x.astype(np.float32)


def rms_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12))
