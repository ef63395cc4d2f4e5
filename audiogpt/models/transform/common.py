"""Small helpers the transformation backends share: channel handling, spectra, the quality measure.

The log-spectral distance lives here (not in the tests) because the benchmark
and the tests must score inpainting the same way.
"""

from __future__ import annotations

import numpy as np

from audiogpt.models.base import Audio, BadInput

MAX_DURATION_S = 1800.0  # the longest clip any transformation here accepts (30 minutes)


def as_channels(audio: Audio) -> np.ndarray:
    """``(channels, frames)`` float32, finite and clipped to [-1, 1]."""
    x = np.asarray(audio.samples, dtype=np.float32)
    x = x[None, :] if x.ndim == 1 else x.reshape(x.shape[0], -1)
    return np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)


def check_audio(audio: object, what: str, max_seconds: float = MAX_DURATION_S) -> Audio:
    """The audio argument, or :class:`BadInput` with one sentence (empty, no rate, too long)."""
    if not isinstance(audio, Audio):
        raise BadInput(f"{what} needs an audio clip.")
    if audio.frames == 0 or audio.sample_rate <= 0:
        raise BadInput("The audio clip is empty.")
    if audio.duration > max_seconds:
        raise BadInput(f"The clip is {audio.duration / 60:.0f} minutes long; {what.lower()} takes up to "
                       f"{max_seconds / 60:.0f} minutes.")
    return audio


def fmt_s(seconds: float) -> str:
    """Seconds for a sentence: ``2.35 s``."""
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"


def log_power_frames(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Log10 power spectra of Hann-windowed frames, ``(frames, bins)``; no padding."""
    x = np.asarray(x, dtype=np.float64)
    if x.size < n_fft:
        x = np.pad(x, (0, n_fft - x.size))
    count = 1 + (x.size - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    spec = np.fft.rfft(x[idx] * np.hanning(n_fft)[None, :], axis=1)
    return np.log10(np.abs(spec) ** 2 + 1e-10)


def log_spectral_distance(estimate: np.ndarray, reference: np.ndarray, sample_rate: int,
                          floor_db: float = 80.0) -> float:
    """Mean over frames of the RMS difference of log power spectra, in dB (lower is closer).

    32 ms Hann frames, 8 ms hop, both spectra floored ``floor_db`` below the reference's
    loudest bin (the usual dynamic-range floor: bins far below any recording's noise floor
    would otherwise dominate). Both signals must cover the same span (the filled region).
    """
    n_fft = 1 << int(np.ceil(np.log2(max(64, 0.032 * sample_rate))))
    hop = n_fft // 4
    n = min(estimate.size, reference.size)
    est = log_power_frames(estimate[:n], n_fft, hop)
    ref = log_power_frames(reference[:n], n_fft, hop)
    floor = ref.max() - floor_db / 10.0
    diff = 10.0 * (np.maximum(est, floor) - np.maximum(ref, floor))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=1))))
