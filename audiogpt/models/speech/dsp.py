"""Small signal helpers the speech backends share (models may not import core.media).

Resampling uses libswresample through PyAV, which faster-whisper already
depends on; a band-limited FFT resampler in numpy is the fallback when PyAV is
absent, so quality never drops to linear interpolation.
"""

from __future__ import annotations

import logging

import numpy as np

from audiogpt.models.base import Audio, have_module

log = logging.getLogger(__name__)

_CHUNK = 1 << 20  # samples per PyAV frame: keeps each frame's buffer modest


def _resample_av(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=dst)
    out: list[np.ndarray] = []
    pts = 0
    for start in range(0, x.size, _CHUNK):
        chunk = np.ascontiguousarray(x[start : start + _CHUNK], dtype=np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate = src
        frame.pts = pts
        pts += chunk.shape[1]
        out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)


def _resample_fft(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    n_out = max(1, round(x.size * dst / src))
    spec = np.fft.rfft(x.astype(np.float64))
    keep = min(spec.size, n_out // 2 + 1)
    new = np.zeros(n_out // 2 + 1, dtype=np.complex128)
    new[:keep] = spec[:keep]
    return (np.fft.irfft(new, n_out) * (n_out / x.size)).astype(np.float32)


def to_mono_rate(audio: Audio, rate: int) -> np.ndarray:
    """Mono float32 samples of ``audio`` at ``rate`` Hz, finite and clipped to [-1, 1]."""
    x = np.asarray(audio.mono().samples, dtype=np.float32).reshape(-1)
    x = np.clip(np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    src = int(audio.sample_rate)
    if x.size == 0 or src == rate:
        return np.ascontiguousarray(x)
    if have_module("av"):
        try:
            return _resample_av(x, src, rate)
        except Exception:  # an odd PyAV build must not stop recognition
            log.warning("PyAV resampling failed; using the numpy resampler", exc_info=True)
    return _resample_fft(x, src, rate)
