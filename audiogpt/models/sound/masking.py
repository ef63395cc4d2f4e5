"""Pull one sound out of a mix with a time-frequency mask steered by *when* it sounds.

No registry package ships a language-queried separator, so the lite method is
the classic one, driven by a detector instead of a person:

1. the detector says when the target is active (intervals in seconds);
2. the frames where it is absent give the background's spectrum ``B(f)``
   (median power per bin), the frames where it is active, minus ``B``, give
   the target's typical spectrum ``T(f)`` (its band: a beep is one line, speech
   300-4000 Hz, a siren a sweeping band);
3. in active frames each bin gets the Wiener gain of its own excess over the
   background, ``max(|X|^2 - B, 0) / |X|^2``, weighted by how much of that bin's
   average energy belongs to the target, ``T / (T + B)``; inactive frames get 0;
4. the target is the inverse STFT of the masked mix and the residual is
   ``mix - target``, so the two files always add back up to the input.

It cannot split two sounds that share both time and band (two people talking
at once); it does remove the background between and around the target's
occurrences and outside its band, which is what a "pull out the beeps" request
needs. Works at the clip's own sample rate; mono (a stereo mix is downmixed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GUARD_S = 0.05  # widen each interval by this much: onsets are sharp, the detector is not
FLOOR = 0.0  # gain outside the target's intervals


@dataclass
class MaskResult:
    target: np.ndarray
    residual: np.ndarray
    band_hz: tuple[float, float]  # where most of the target's estimated energy lies (10%-90%)
    active_s: float  # seconds the mask was open


def _frame_params(rate: int) -> tuple[int, int]:
    """FFT size ~64 ms (a power of two) and a quarter-window hop, at any sample rate."""
    n_fft = int(2 ** round(np.log2(max(256, 0.064 * rate))))
    return n_fft, n_fft // 4


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(frames, bins) complex STFT with a periodic Hann window, centred (padded by n_fft/2)."""
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    pad = np.pad(x, (n_fft // 2, n_fft // 2 + hop))
    n = 1 + (pad.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.fft.rfft(pad[idx] * win, axis=1).astype(np.complex64)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Weighted overlap-add inverse of :func:`stft`."""
    win = np.hanning(n_fft + 1)[:-1].astype(np.float32)
    frames = np.fft.irfft(spec, n_fft, axis=1).astype(np.float32) * win
    total = hop * (frames.shape[0] - 1) + n_fft
    out = np.zeros(total, np.float32)
    norm = np.zeros(total, np.float32)
    for i in range(frames.shape[0]):
        out[i * hop : i * hop + n_fft] += frames[i]
        norm[i * hop : i * hop + n_fft] += win**2
    out /= np.maximum(norm, 1e-8)
    start = n_fft // 2
    return out[start : start + length]


def activity_frames(intervals: list[tuple[float, float]], n_frames: int, hop: int, rate: int,
                    guard_s: float = GUARD_S) -> np.ndarray:
    """Boolean per STFT frame: inside one of ``intervals`` (seconds), widened by ``guard_s``."""
    times = np.arange(n_frames) * hop / rate
    act = np.zeros(n_frames, bool)
    for start, end in intervals:
        act |= (times >= start - guard_s) & (times <= end + guard_s)
    return act


def extract(x: np.ndarray, rate: int, intervals: list[tuple[float, float]],
            weights: np.ndarray | None = None) -> MaskResult:
    """Target and residual of mono ``x`` given when the target sounds.

    ``weights`` (optional, per STFT frame in [0, 1]) scales the mask inside the
    intervals, e.g. a detector's confidence over time.
    """
    n_fft, hop = _frame_params(rate)
    spec = stft(x.astype(np.float32), n_fft, hop)
    power = (spec.real**2 + spec.imag**2).astype(np.float32)
    act = activity_frames(intervals, spec.shape[0], hop, rate)
    eps = 1e-10
    if (~act).sum() >= max(4, 0.1 * act.size):
        background = np.median(power[~act], axis=0)
    else:  # the target never stops: the quiet moments of each bin stand in for the background
        background = np.percentile(power, 20, axis=0)
    if act.any():
        target = np.maximum(power[act] - background, 0.0).mean(axis=0)
    else:
        target = np.zeros_like(background)
    band = target / (target + background + eps)
    wiener = np.maximum(power - background, 0.0) / (power + eps)
    gain = wiener * band[None, :]
    gain[~act] = FLOOR
    if weights is not None:
        gain *= np.clip(weights, 0.0, 1.0)[:, None]
    y = istft(spec * gain, n_fft, hop, x.size)
    residual = (x - y).astype(np.float32)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    cdf = np.cumsum(target) / max(float(target.sum()), eps)
    lo = float(freqs[min(int(np.searchsorted(cdf, 0.1)), freqs.size - 1)])
    hi = float(freqs[min(int(np.searchsorted(cdf, 0.9)), freqs.size - 1)])
    return MaskResult(target=y.astype(np.float32), residual=residual, band_hz=(lo, hi),
                      active_s=float(act.sum() * hop / rate))
