"""Size, duration, sample and pixel budgets, checked from headers before anything is decoded.

A file's size says little about what it decodes to: an 8.4 MB FLAC can
announce 590 s at 1,048,575 Hz (2.5 GB of float32), and a 1.2 MB PNG can
announce 20000 x 20000 pixels. So decoded size is budgeted separately from
bytes and seconds: audio is resampled by ffmpeg to at most
:data:`MAX_DECODE_RATE` and refused when ``rate x channels x seconds`` is over
:data:`MAX_DECODE_SAMPLES`; images over :data:`~audiogpt.image_header.MAX_IMAGE_PIXELS`
are refused from their header.

The wording helpers live here because every limit message uses them.
"""

from __future__ import annotations

from audiogpt.core.media.errors import MediaError
from audiogpt.core.media.probing import MediaInfo
from audiogpt.image_header import MAX_IMAGE_PIXELS

# Encoders pad a little (Opus pre-skip, MP3 frames): a clip this much over a
# limit still passes, so "10 min" means 10 min as a person would measure it.
DURATION_TOLERANCE_S = 0.1
# No backend wants more than 48 kHz; anything above is resampled down by ffmpeg while decoding.
MAX_DECODE_RATE = 48_000
# Decoded samples (all channels) one call may produce: 15 min of 48 kHz stereo, 346 MB as float32.
MAX_DECODE_SAMPLES = MAX_DECODE_RATE * 2 * 15 * 60


def format_duration(seconds: float) -> str:
    """Human wording: ``42 s``, ``4 min 05 s``, ``10 min``, ``2 h 03 min``."""
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f} s".replace(".0 s", " s")
    if s < 60:
        return f"{s:.0f} s"
    total = round(s)
    if total < 3600:
        m, sec = divmod(total, 60)
        return f"{m} min" if sec == 0 else f"{m} min {sec:02d} s"
    h, rem = divmod(total, 3600)
    m = rem // 60
    return f"{h} h" if m == 0 else f"{h} h {m:02d} min"


def format_size(n: int | float) -> str:
    """Human wording with binary units written as KB/MB/GB, as chat apps do."""
    n = float(n)
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if abs(v - round(v)) < 0.05 else f"{v:.1f} {unit}"
    return f"{n:.0f} bytes"


def check_limits(info: MediaInfo, *, max_bytes: int, max_seconds: float,
                 max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse a file over the size, duration or (for images) pixel limit, from its probe alone."""
    if max_bytes and info.size > max_bytes:
        raise MediaError(f"The file is {format_size(info.size)}; the limit is {format_size(max_bytes)}.")
    if max_seconds and info.duration is not None and info.duration > max_seconds + DURATION_TOLERANCE_S:
        what = "video" if info.kind == "video" else "clip"
        raise MediaError(
            f"The {what} is {format_duration(info.duration)} long; the limit is {format_duration(max_seconds)}."
        )
    if info.kind == "image" and max_pixels and info.width and info.height and info.width * info.height > max_pixels:
        raise MediaError(
            f"The image is {info.width}x{info.height} pixels; the limit is {max_pixels / 1e6:.0f} megapixels."
        )


def decode_rate(requested: int | None, source: int | None) -> int:
    """The rate ffmpeg resamples to: what the caller asked for, else the file's own, never over 48 kHz."""
    rate = int(requested or source or MAX_DECODE_RATE)
    if rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {rate}")
    return min(rate, MAX_DECODE_RATE)


def check_sample_budget(duration: float | None, rate: int, channels: int, max_samples: int) -> None:
    """Refuse, before decoding, audio whose header says it decodes to more than ``max_samples``."""
    if duration is None or not max_samples:
        return
    if duration * rate * channels > max_samples:
        most = max_samples / (rate * channels)
        raise MediaError(
            f"The clip is {format_duration(duration)} long; the most I can work with at once is "
            f"{format_duration(most)}."
        )
