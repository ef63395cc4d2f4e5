"""What chat platforms need on top of a plain file: Discord voice messages, and fitting an upload limit.

A Discord voice message must be OGG/Opus 48 kHz mono and carry its duration
and a 256-point waveform; :func:`encode_to_fit` steps down through smaller
encodings until a clip fits a platform's upload limit.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np

from audiogpt.core.media.encoding import canonical_format, encode_audio
from audiogpt.core.media.errors import MediaError
from audiogpt.core.media.limits import format_size
from audiogpt.models.base import Audio


@dataclass(frozen=True)
class VoiceMessage:
    """What a Discord voice message needs: OGG/Opus 48 kHz mono bytes, duration, waveform."""

    data: bytes
    duration: float  # seconds
    waveform: bytes  # up to 256 peaks, 0..255

    @property
    def waveform_b64(self) -> str:
        return base64.b64encode(self.waveform).decode("ascii")


def encode_voice_message(audio: Audio, *, bitrate: str = "48k") -> VoiceMessage:
    """OGG/Opus 48 kHz mono plus duration and waveform, as Discord voice messages require."""
    mono = audio.mono()
    data = encode_audio(mono, "ogg", bitrate=bitrate)
    return VoiceMessage(data=data, duration=round(mono.duration, 3), waveform=waveform_summary(mono))


def encode_to_fit(audio: Audio, max_bytes: int, fmt: str = "mp3") -> tuple[bytes, str]:
    """Encode as ``fmt`` and, if that is over ``max_bytes``, step down to smaller encodings.

    Returns ``(data, fmt_used)``. Raises :class:`MediaError` when even low-rate
    mono Opus does not fit.
    """
    tries: list[tuple[Audio, str, str | None]] = [(audio, fmt, None)]
    mono = audio.mono()
    tries += [(audio, "mp3", "128k"), (mono, "mp3", "64k"), (mono, "ogg", "32k"),
              (mono, "ogg", "16k"), (mono, "ogg", "8k")]
    for a, f, br in tries:
        data = encode_audio(a, f, bitrate=br)
        if len(data) <= max_bytes:
            return data, canonical_format(f)
    raise MediaError(
        f"The audio is too long to upload here even compressed; the upload limit is {format_size(max_bytes)}."
    )


def waveform_summary(audio: Audio, points: int = 256) -> bytes:
    """``points`` peak values 0..255 over the clip (Discord's voice-message waveform).

    Peaks are scaled to the loudest one so quiet recordings still draw a shape;
    silence gives zeros.
    """
    if points <= 0:
        return b""
    x = np.abs(np.asarray(audio.mono().samples, dtype=np.float32))
    if x.size == 0:
        return bytes(points)
    x = np.nan_to_num(x, nan=0.0, posinf=1.0, neginf=1.0)
    if x.size >= points:
        starts = (np.arange(points, dtype=np.int64) * x.size) // points  # strictly increasing
        peaks = np.maximum.reduceat(x, starts)
    else:  # fewer samples than points: repeat samples
        peaks = x[(np.arange(points) * x.size) // points]
    top = float(peaks.max())
    if top < 1e-4:
        return bytes(points)
    return bytes(np.clip(np.round(peaks / top * 255.0), 0, 255).astype(np.uint8).tolist())
