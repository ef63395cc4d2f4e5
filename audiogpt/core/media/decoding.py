"""Decoding audio people send to float32 samples, with the memory it takes known before it starts.

Order of work: :func:`~audiogpt.core.media.probing.probe` (headers only, the
demuxer fixed by content), the duration limit and the sample budget from the
header, then ffmpeg decodes with that same demuxer, resamples (soxr) to at
most 48 kHz itself, and stops at ``-t``; its output is streamed into a
preallocated array (:func:`~audiogpt.core.media.process.stream_f32`) with a
hard frame cap, so a header that lies about the length still cannot make the
decode grow past the budget.

Truncated files: when ffmpeg can open a file but the data stops early (an
upload cut short), :func:`decode_audio` returns what could be decoded and logs
a warning; a file ffmpeg cannot open at all, or that yields no samples, raises.
"""

from __future__ import annotations

import io
import logging
import math
import tempfile
import wave
from pathlib import Path

import numpy as np

from audiogpt.core.media import process
from audiogpt.core.media.errors import MediaError
from audiogpt.core.media.formats import looks_like
from audiogpt.core.media.limits import (
    DURATION_TOLERANCE_S,
    MAX_DECODE_RATE,
    MAX_DECODE_SAMPLES,
    check_limits,
    check_sample_budget,
    decode_rate,
    format_duration,
)
from audiogpt.core.media.probing import not_readable, probe, stderr_tail
from audiogpt.ffmpeg import input_args
from audiogpt.models.base import Audio

log = logging.getLogger(__name__)

DECODE_TIMEOUT_S = 600.0
_UNKNOWN_LENGTH_S = 60.0  # first allocation when the header has no duration (it grows if needed)


def decode_audio(
    path: Path,
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    max_seconds: float | None = None,
    max_samples: int = MAX_DECODE_SAMPLES,
) -> Audio:
    """Decode the first audio stream of ``path`` to float32 (resampled by ffmpeg, soxr).

    ``sample_rate=None`` keeps the file's rate, up to 48 kHz (higher rates are
    resampled down; no backend uses more). With ``max_seconds``, a file whose
    header already says it is longer is refused before any decoding, and for
    files without a duration in the header ffmpeg stops reading just past the
    limit, so a huge file is never decoded whole. ``max_samples`` bounds the
    output (``rate x channels x seconds``) the same way.
    """
    path = Path(path)
    info = probe(path)
    if info.kind == "image":
        raise MediaError(f"That file is not audio I can read (it looks like {looks_like(info.mime)}).")
    if not info.has_audio:
        if info.kind == "video":
            raise MediaError("That video has no sound track.")
        raise MediaError("That file has no sound in it.")
    if info.demuxer is None:  # pragma: no cover - probe sets it for every audio/video file
        raise not_readable(path, info.mime, None)
    if max_seconds:
        check_limits(info, max_bytes=0, max_seconds=max_seconds)
    rate = decode_rate(sample_rate, info.sample_rate)
    out_channels = 1 if mono else max(1, int(info.channels or 2))
    check_sample_budget(info.duration, rate, out_channels, max_samples)

    # -t stops ffmpeg just past whichever bound is tighter; frames past the bound mean "too long"
    budget_s = max_samples / (rate * out_channels) if max_samples else math.inf
    limit_s = min(max_seconds + DURATION_TOLERANCE_S if max_seconds else math.inf, budget_s)
    stop_s = limit_s + 0.5
    args = ["-v", "error", *input_args(info.demuxer, str(path)), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if math.isfinite(stop_s):
        args += ["-t", f"{stop_s:.3f}"]
    args += ["-af", "aresample=resampler=soxr", "-ar", str(rate), "-ac", str(out_channels),
             "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    max_frames = math.ceil(stop_s * rate) + rate if math.isfinite(stop_s) else 2**40
    known = info.duration if info.duration is not None else _UNKNOWN_LENGTH_S
    expect = math.ceil((known + DURATION_TOLERANCE_S) * rate) + 4096
    got_ = process.stream_f32(args, channels=out_channels, expect_frames=min(expect, max_frames),
                              max_frames=max_frames, timeout=DECODE_TIMEOUT_S)
    samples, frames = got_.samples, got_.frames

    if frames == 0:
        log.warning("decode %s: no samples (rc=%s): %s", path.name, got_.returncode, stderr_tail(got_.stderr))
        if got_.returncode != 0:
            raise not_readable(path, info.mime, None)
        raise MediaError("That file contains no audio to work with.")
    if got_.overflow or frames > limit_s * rate:
        # only reachable when the header had no duration, or a wrong one; ffmpeg stopped at -t
        if max_seconds and limit_s <= budget_s:
            raise MediaError(f"The clip is longer than the {format_duration(max_seconds)} limit.")
        raise MediaError(f"The clip is longer than the {format_duration(budget_s)} I can work with at once.")
    got = frames / rate
    if got_.returncode != 0 or got_.stderr.strip():
        log.warning("decode %s: ffmpeg reported problems (rc=%s), kept %.2f s: %s",
                    path.name, got_.returncode, got, stderr_tail(got_.stderr))
    if info.duration and got < 0.9 * info.duration - 0.2:
        log.warning("decode %s: the file looks cut short: decoded %.2f s of the %.2f s its header announces",
                    path.name, got, info.duration)
    _finite_in_place(samples)
    return Audio(samples, rate)


def _finite_in_place(x: np.ndarray, chunk: int = 1 << 20) -> None:
    """NaN -> 0 and inf -> +-1, a chunk at a time: ``nan_to_num`` on the whole array allocates
    several masks of its size, which more than doubled the peak of a long decode."""
    flat = x.reshape(-1)  # a view: decoded arrays are contiguous
    for start in range(0, flat.size, chunk):
        np.nan_to_num(flat[start:start + chunk], copy=False, nan=0.0, posinf=1.0, neginf=-1.0)


def decode_audio_bytes(data: bytes, name: str = "audio", **kwargs: object) -> Audio:
    """:func:`decode_audio` for bytes in memory (written to a temporary file, as ffmpeg seeks)."""
    if not data:
        raise MediaError("That file is empty.")
    fast = kwargs.get("sample_rate") is None and kwargs.get("max_seconds") is None and "max_samples" not in kwargs
    wav = _try_wav_bytes(data) if fast else None
    if wav is not None:
        return wav.mono() if kwargs.get("mono", True) else wav
    suffix = Path(name).suffix or ".bin"
    with tempfile.TemporaryDirectory(prefix="audiogpt-media-") as tmp:
        p = Path(tmp) / f"input{suffix}"
        p.write_bytes(data)
        return decode_audio(p, **kwargs)  # type: ignore[arg-type]


def _try_wav_bytes(data: bytes) -> Audio | None:
    """Fast path for plain PCM WAV (8/16/24/32-bit int) at up to 48 kHz; None for anything else.

    The samples are already in memory and at most 2x larger as float32 (8-bit:
    4x), so no budget beyond the bytes is needed; higher rates go through
    ffmpeg so that they come back resampled like every other file.
    """
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            n_ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            if not 0 < rate <= MAX_DECODE_RATE:
                return None
            raw = w.readframes(n)
    except (wave.Error, EOFError):
        return None
    if width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 3:
        b = np.frombuffer(raw[: len(raw) - len(raw) % 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / float(1 << 23)
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float32) / float(1 << 31)
    else:
        return None
    x = x[: len(x) - len(x) % n_ch]
    if x.size == 0:
        return None
    if n_ch > 1:
        x = x.reshape(-1, n_ch).T.copy()
    return Audio(np.ascontiguousarray(x, dtype=np.float32), rate)


def audio_from_wav_bytes(data: bytes) -> Audio:
    """Decode WAV bytes (PCM in Python, anything else through ffmpeg); channels kept."""
    audio = _try_wav_bytes(data)
    if audio is not None:
        return audio
    return decode_audio_bytes(data, "audio.wav", mono=False)
