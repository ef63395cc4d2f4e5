"""Encoding float32 audio to the files the bot sends: WAV, OGG/Opus, MP3, FLAC, M4A.

Samples go to ffmpeg as raw ``f32le`` on stdin (the one input, read by the
``f32le`` demuxer through the ``pipe`` protocol only); the output is written to
a real file, not a pipe, because WAV, FLAC and MP4 headers are written last,
with the true length.
"""

from __future__ import annotations

import io
import logging
import tempfile
import wave
from pathlib import Path

import numpy as np

from audiogpt.core.media import process
from audiogpt.core.media.errors import MediaError
from audiogpt.core.media.probing import stderr_tail
from audiogpt.ffmpeg import input_args
from audiogpt.models.base import Audio

log = logging.getLogger(__name__)

ENCODE_TIMEOUT_S = 600.0

FORMATS: dict[str, tuple[str, str]] = {
    # fmt -> (mime, extension)
    "wav": ("audio/wav", ".wav"),
    "ogg": ("audio/ogg", ".ogg"),
    "mp3": ("audio/mpeg", ".mp3"),
    "flac": ("audio/flac", ".flac"),
    "m4a": ("audio/mp4", ".m4a"),
}
_FMT_ALIASES = {"opus": "ogg", "wave": "wav", "aac": "m4a", "mp4": "m4a"}
_MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def canonical_format(fmt: str) -> str:
    """The :data:`FORMATS` key a format name or alias means (``opus`` -> ``ogg``); unknown names pass through."""
    return _FMT_ALIASES.get(fmt.lower(), fmt.lower())


def format_info(fmt: str) -> tuple[str, str]:
    """``(mime, extension)`` of an output format name accepted by :func:`encode_audio`."""
    f = _FMT_ALIASES.get(fmt.lower(), fmt.lower())
    if f not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; known: {', '.join(FORMATS)}")
    return FORMATS[f]


def _clean(audio: Audio) -> np.ndarray:
    x = np.asarray(audio.samples, dtype=np.float32)
    if x.ndim not in (1, 2) or x.size == 0:
        raise ValueError("audio must be non-empty, 1-D or (channels, frames)")
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.clip(x, -1.0, 1.0)


def _wav_bytes(audio: Audio) -> bytes:
    x = _clean(audio)
    pcm = np.round(x * 32767.0).astype("<i2")
    if pcm.ndim == 2:
        pcm = pcm.T  # frames x channels, interleaved
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(audio.channels)
        w.setsampwidth(2)
        w.setframerate(int(audio.sample_rate))
        w.writeframes(np.ascontiguousarray(pcm).tobytes())
    return buf.getvalue()


def encode_audio(audio: Audio, fmt: str = "wav", *, bitrate: str | None = None) -> bytes:
    """Encode to ``wav`` (16-bit PCM), ``ogg`` (Opus, 48 kHz), ``mp3``, ``flac`` or ``m4a`` (AAC).

    Channels are preserved (MP3/Opus/AAC downmix more than two to stereo).
    """
    f = _FMT_ALIASES.get(fmt.lower(), fmt.lower())
    if f not in FORMATS:
        raise ValueError(f"unknown audio format {fmt!r}; known: {', '.join(FORMATS)}")
    if audio.sample_rate <= 0:
        raise ValueError("audio.sample_rate must be positive")
    if f == "wav":
        return _wav_bytes(audio)
    x = _clean(audio)
    ch = audio.channels
    interleaved = x.T if x.ndim == 2 else x
    pcm = np.ascontiguousarray(interleaved, dtype="<f4").tobytes()
    out_ch = min(ch, 2) if f in ("ogg", "mp3", "m4a") else ch
    args = ["-v", "error",
            *input_args("f32le", "pipe:0", options=["-ar", str(int(audio.sample_rate)), "-ac", str(ch)]),
            "-ac", str(out_ch)]
    if f == "ogg":
        args += ["-c:a", "libopus", "-ar", "48000", "-b:a", bitrate or ("48k" if out_ch == 1 else "96k"),
                 "-f", "ogg"]
    elif f == "mp3":
        rate = next((r for r in _MP3_RATES if r >= audio.sample_rate), 48000)
        args += ["-c:a", "libmp3lame", "-ar", str(rate), "-b:a", bitrate or ("96k" if out_ch == 1 else "160k"),
                 "-f", "mp3"]
    elif f == "flac":
        args += ["-c:a", "flac", "-sample_fmt", "s16", "-f", "flac"]
    elif f == "m4a":
        rate = min(int(audio.sample_rate), 48000)
        args += ["-c:a", "aac", "-ar", str(rate), "-b:a", bitrate or ("96k" if out_ch == 1 else "160k"),
                 "-movflags", "+faststart", "-f", "ipod"]
    ext = FORMATS[f][1]
    with tempfile.TemporaryDirectory(prefix="audiogpt-enc-") as tmp:
        # a real file, not a pipe: WAV/FLAC/MP4 headers are written last, with the true length
        out = Path(tmp) / f"out{ext}"
        proc = process.run([*args, "-y", str(out)], input=pcm, timeout=ENCODE_TIMEOUT_S)
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            log.error("encode to %s failed (rc=%s): %s", f, proc.returncode, stderr_tail(proc.stderr))
            raise MediaError(f"I could not encode the audio as {f.upper()}.")
        return out.read_bytes()
