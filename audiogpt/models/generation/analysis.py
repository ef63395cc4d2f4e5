"""Listen-proxy measurements of generated audio: spectral shape, onsets, tempo, silence and clipping.

Used by the tests and the benchmark to check that outputs follow their prompts
(rain is broadband and flat, a siren narrow and sweeping, "fast" has more onsets
than "slow", the tempo is the one asked for) without anyone listening.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRAME = 2048
HOP = 512


def _stft_mag(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.size < FRAME:
        x = np.pad(x, (0, FRAME - x.size))
    n = 1 + (x.size - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(x[idx] * np.hanning(FRAME), axis=1))


@dataclass
class Shape:
    flatness: float  # geometric / arithmetic mean of the power spectrum, median over frames (1 = white)
    centroid_hz: float
    bandwidth_90_hz: float  # width holding 90 % of the power, median over frames
    peak_hz_spread: float  # std of the per-frame dominant frequency in octaves (a sweep moves it)
    rms_db: float
    peak: float


def spectral_shape(x: np.ndarray, sr: int) -> Shape:
    mag = _stft_mag(x)
    power = mag**2 + 1e-18
    freqs = np.fft.rfftfreq(FRAME, 1.0 / sr)
    loud = power.sum(axis=1) > 1e-6 * power.sum(axis=1).max()
    p = power[loud] if loud.any() else power
    flat = np.exp(np.mean(np.log(p), axis=1)) / np.mean(p, axis=1)
    centroid = (p * freqs).sum(axis=1) / p.sum(axis=1)
    cum = np.cumsum(p, axis=1) / p.sum(axis=1, keepdims=True)
    lo = freqs[np.argmax(cum >= 0.05, axis=1)]
    hi = freqs[np.argmax(cum >= 0.95, axis=1)]
    dom = freqs[np.argmax(p[:, 1:], axis=1) + 1]
    return Shape(flatness=float(np.median(flat)), centroid_hz=float(np.median(centroid)),
                 bandwidth_90_hz=float(np.median(hi - lo)), peak_hz_spread=float(np.std(np.log2(dom))),
                 rms_db=float(20 * np.log10(np.sqrt(np.mean(np.square(x, dtype=np.float64))) + 1e-12)),
                 peak=float(np.max(np.abs(x))) if x.size else 0.0)


def onset_envelope(x: np.ndarray, sr: int) -> tuple[np.ndarray, float]:
    """Half-wave rectified log-spectral flux per frame, and the frame rate (frames a second)."""
    mag = _stft_mag(x)
    logm = np.log1p(100 * mag / (mag.max() + 1e-12))
    flux = np.maximum(0.0, np.diff(logm, axis=0)).sum(axis=1)
    flux = np.concatenate([[0.0], flux])
    return flux, sr / HOP


def onsets(x: np.ndarray, sr: int, threshold: float = 0.3) -> np.ndarray:
    """Onset times (s): peaks of the flux above a moving median plus ``threshold`` of its range."""
    env, fps = onset_envelope(x, sr)
    if env.max() <= 0:
        return np.zeros(0)
    env = env / env.max()
    w = max(3, int(0.25 * fps))
    pad = np.pad(env, (w, w), mode="edge")
    med = np.array([np.median(pad[i : i + 2 * w + 1]) for i in range(env.size)])
    peaks = [i for i in range(1, env.size - 1)
             if env[i] >= env[i - 1] and env[i] > env[i + 1] and env[i] > med[i] + threshold * 0.5]
    # at most one onset per 50 ms
    out: list[int] = []
    for i in peaks:
        if not out or (i - out[-1]) / fps >= 0.05:
            out.append(i)
    return np.array(out) / fps


def onset_rate(x: np.ndarray, sr: int) -> float:
    """Onsets a second."""
    return float(onsets(x, sr).size / max(x.size / sr, 1e-9))


def estimate_tempo(x: np.ndarray, sr: int, lo: float = 50.0, hi: float = 200.0) -> float:
    """Beats a minute: the strongest autocorrelation lag of the onset envelope between ``lo`` and ``hi``.

    Which metrical level is "the beat" is ambiguous from audio alone (a backbeat repeats every two
    beats, eighth notes every half beat), so callers that know the expected tempo pass a window of
    half an octave around it, as beat trackers do with their tempo prior; the lag inside it is
    then measured precisely (0.25 BPM grid, linear interpolation between frames).
    """
    env, fps = onset_envelope(x, sr)
    env = env - env.mean()
    ac = np.correlate(env, env, mode="full")[env.size - 1 :]
    ac = ac / (ac[0] + 1e-12)
    best, best_score = 0.0, -np.inf
    for bpm in np.arange(lo, hi, 0.25):
        pos = 60.0 / bpm * fps
        i = int(pos)
        if i + 1 >= ac.size:
            continue
        score = ac[i] * (1 - (pos - i)) + ac[i + 1] * (pos - i)
        if score > best_score:
            best, best_score = float(bpm), score
    return best


def clipped_fraction(x: np.ndarray) -> float:
    return float(np.mean(np.abs(x) >= 0.999)) if x.size else 0.0
