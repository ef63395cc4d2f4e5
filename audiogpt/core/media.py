"""Decoding and encoding the audio people send and receive, through ffmpeg.

Everything goes through the ffmpeg binary that ``imageio-ffmpeg`` ships, so a
deployment needs no system install; there is no ffprobe in that package, so
:func:`probe` reads the banner ``ffmpeg -i FILE`` writes to stderr. Raw float32
samples are piped in and out (``f32le``), which is faster than going through
pydub and keeps full precision.

The order of work for a file a user sent is: :func:`sniff` the first bytes
(cheap, catches a PNG renamed ``.wav``), :func:`probe` (reads headers only),
:func:`check_limits` (size and duration, before decoding), then
:func:`decode_audio`. Every failure is a :class:`MediaError` whose ``str()`` is
one plain sentence that can be shown to a chat user; the technical reason goes
to the log.

Truncated files: when ffmpeg can open a file but the data stops early (an
upload cut short), :func:`decode_audio` returns what could be decoded and logs
a warning; a file ffmpeg cannot open at all, or that yields no samples, raises.
"""

from __future__ import annotations

import base64
import functools
import io
import logging
import mimetypes
import os
import re
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiogpt.models.base import Audio

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 30.0
DECODE_TIMEOUT_S = 600.0
# Encoders pad a little (Opus pre-skip, MP3 frames): a clip this much over a
# limit still passes, so "10 min" means 10 min as a person would measure it.
DURATION_TOLERANCE_S = 0.1
_HEAD_BYTES = 8192


class MediaError(ValueError):
    """A file cannot be used. ``str()`` is one plain sentence for a chat user."""


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` learnt from a file's headers, without decoding it."""

    kind: str  # 'audio' | 'video' | 'image' | 'text' | 'other'
    mime: str
    size: int  # bytes
    duration: float | None  # seconds
    sample_rate: int | None  # of the first audio stream
    channels: int | None
    codec: str | None  # audio codec (video codec for video without sound, image codec for images)
    width: int | None
    height: int | None

    @property
    def has_audio(self) -> bool:
        return self.sample_rate is not None


@dataclass(frozen=True)
class VoiceMessage:
    """What a Discord voice message needs: OGG/Opus 48 kHz mono bytes, duration, waveform."""

    data: bytes
    duration: float  # seconds
    waveform: bytes  # up to 256 peaks, 0..255

    @property
    def waveform_b64(self) -> str:
        return base64.b64encode(self.waveform).decode("ascii")


# --- the ffmpeg binary ---------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary imageio-ffmpeg ships (``AUDIOGPT_FFMPEG`` overrides it)."""
    override = os.environ.get("AUDIOGPT_FFMPEG")
    if override:
        return override
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise MediaError("Audio support is not installed on this server (imageio-ffmpeg is missing).") from exc
    return imageio_ffmpeg.get_ffmpeg_exe()


def configure_pydub() -> None:
    """Point pydub at our ffmpeg, for code that prefers pydub's API (this module does not need it)."""
    from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()


def _run(
    args: Sequence[str], *, input: bytes | None = None, timeout: float
) -> subprocess.CompletedProcess[bytes]:
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", *args]
    if input is not None:
        cmd.remove("-nostdin")
    try:
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        log.warning("ffmpeg timed out after %.0f s: %s", timeout, " ".join(cmd[:12]))
        raise MediaError("Processing that file took too long, so I gave up.") from exc
    except OSError as exc:
        log.error("could not start ffmpeg (%s): %s", cmd[0], exc)
        raise MediaError("Audio support is broken on this server (ffmpeg could not start).") from exc


def _stderr_tail(raw: bytes, lines: int = 6) -> str:
    text = raw.decode("utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


# --- sniffing --------------------------------------------------------------------------

# mime -> (kind, short format name, "it looks like ..." phrase)
_MIMES: dict[str, tuple[str, str, str]] = {
    "audio/wav": ("audio", "WAV", "WAV audio"),
    "audio/ogg": ("audio", "OGG", "OGG audio"),
    "audio/opus": ("audio", "Opus", "Opus audio"),
    "audio/mpeg": ("audio", "MP3", "MP3 audio"),
    "audio/flac": ("audio", "FLAC", "FLAC audio"),
    "audio/mp4": ("audio", "M4A", "M4A audio"),
    "audio/aac": ("audio", "AAC", "AAC audio"),
    "audio/webm": ("audio", "WebM", "WebM audio"),
    "audio/x-matroska": ("audio", "MKA", "Matroska audio"),
    "audio/aiff": ("audio", "AIFF", "AIFF audio"),
    "audio/amr": ("audio", "AMR", "AMR audio"),
    "audio/basic": ("audio", "AU", "AU audio"),
    "audio/x-caf": ("audio", "CAF", "CAF audio"),
    "audio/midi": ("audio", "MIDI", "a MIDI file (notes, not recorded sound)"),
    "audio/x-ms-wma": ("audio", "WMA", "WMA audio"),
    "video/mp4": ("video", "MP4", "an MP4 video"),
    "video/quicktime": ("video", "MOV", "a QuickTime video"),
    "video/3gpp": ("video", "3GP", "a 3GP video"),
    "video/webm": ("video", "WebM", "a WebM video"),
    "video/x-matroska": ("video", "MKV", "a Matroska video"),
    "video/ogg": ("video", "OGV", "an OGG video"),
    "video/x-msvideo": ("video", "AVI", "an AVI video"),
    "video/mp2t": ("video", "MPEG-TS", "an MPEG-TS video"),
    "image/png": ("image", "PNG", "a PNG image"),
    "image/jpeg": ("image", "JPEG", "a JPEG image"),
    "image/gif": ("image", "GIF", "a GIF image"),
    "image/webp": ("image", "WebP", "a WebP image"),
    "image/bmp": ("image", "BMP", "a BMP image"),
    "image/tiff": ("image", "TIFF", "a TIFF image"),
    "image/heic": ("image", "HEIC", "a HEIC photo"),
    "image/avif": ("image", "AVIF", "an AVIF image"),
    "image/svg+xml": ("image", "SVG", "an SVG drawing"),
    "text/plain": ("text", "text", "plain text"),
    "text/html": ("text", "HTML", "a web page (HTML)"),
    "text/csv": ("text", "CSV", "a CSV table"),
    "text/markdown": ("text", "Markdown", "Markdown text"),
    "application/json": ("text", "JSON", "JSON text"),
    "application/pdf": ("other", "PDF", "a PDF document"),
    "application/zip": ("other", "ZIP", "a ZIP archive"),
    "application/gzip": ("other", "gzip", "a gzip archive"),
    "application/x-7z-compressed": ("other", "7z", "a 7z archive"),
    "application/x-rar-compressed": ("other", "RAR", "a RAR archive"),
    "application/x-executable": ("other", "ELF", "a program"),
    "application/octet-stream": ("other", "binary", "binary data of an unknown kind"),
}

_EXTENSIONS: dict[str, str] = {
    ".wav": "audio/wav", ".wave": "audio/wav", ".ogg": "audio/ogg", ".oga": "audio/ogg",
    ".opus": "audio/opus", ".mp3": "audio/mpeg", ".flac": "audio/flac", ".m4a": "audio/mp4",
    ".m4b": "audio/mp4", ".aac": "audio/aac", ".weba": "audio/webm", ".mka": "audio/x-matroska",
    ".aif": "audio/aiff", ".aiff": "audio/aiff", ".amr": "audio/amr", ".au": "audio/basic",
    ".caf": "audio/x-caf", ".mid": "audio/midi", ".midi": "audio/midi", ".wma": "audio/x-ms-wma",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".3gp": "video/3gpp",
    ".webm": "video/webm", ".mkv": "video/x-matroska", ".ogv": "video/ogg", ".avi": "video/x-msvideo",
    ".ts": "video/mp2t", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp", ".tif": "image/tiff",
    ".tiff": "image/tiff", ".heic": "image/heic", ".avif": "image/avif", ".svg": "image/svg+xml",
    ".txt": "text/plain", ".md": "text/markdown", ".html": "text/html", ".htm": "text/html",
    ".csv": "text/csv", ".json": "application/json", ".pdf": "application/pdf",
    ".zip": "application/zip", ".gz": "application/gzip",
}

_MIME_ALIASES = {
    "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg", "audio/x-flac": "audio/flac", "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4", "audio/x-aiff": "audio/aiff", "audio/x-aac": "audio/aac",
    "image/jpg": "image/jpeg", "video/x-m4v": "video/mp4",
}


def _norm_mime(mime: str | None) -> str | None:
    if not mime:
        return None
    m = mime.split(";", 1)[0].strip().lower()
    return _MIME_ALIASES.get(m, m) or None


def _kind_of(mime: str) -> str:
    if mime in _MIMES:
        return _MIMES[mime][0]
    top = mime.split("/", 1)[0]
    if top in ("audio", "video", "image", "text"):
        return top
    return "other"


def _looks_like(mime: str) -> str:
    return _MIMES.get(mime, ("other", mime, f"a {mime} file"))[2]


def _format_name(mime: str) -> str:
    return _MIMES.get(mime, ("other", "media", ""))[1]


def _sniff_magic(head: bytes) -> str | None:
    """The mime that a file's first bytes prove, or None."""
    h = head
    if len(h) < 4:
        return None
    if h[:4] == b"RIFF" and len(h) >= 12:
        sub = h[8:12]
        if sub == b"WAVE":
            return "audio/wav"
        if sub == b"WEBP":
            return "image/webp"
        if sub == b"AVI ":
            return "video/x-msvideo"
    if h[:4] == b"RF64" or h[:4] == b"BW64":
        return "audio/wav"
    if h[:4] == b"OggS":
        first_page = h[:512]
        if b"theora" in first_page[:64]:
            return "video/ogg"
        if b"OpusHead" in first_page[:64]:
            return "audio/ogg"
        return "audio/ogg"
    if h[:4] == b"fLaC":
        return "audio/flac"
    if h[:3] == b"ID3":
        return "audio/mpeg"
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if h[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if h[:2] == b"BM" and len(h) >= 14 and h[6:10] == b"\0\0\0\0":
        return "image/bmp"
    if h[:4] in (b"II*\0", b"MM\0*"):
        return "image/tiff"
    if len(h) >= 12 and h[4:8] == b"ftyp":
        brand = h[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "):
            return "audio/mp4"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "image/heic"
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand == b"qt  ":
            return "video/quicktime"
        if brand.startswith(b"3g"):
            return "video/3gpp"
        return "video/mp4"
    if h[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm" if b"webm" in h[:64] else "video/x-matroska"
    if h[:4] == b"FORM" and len(h) >= 12 and h[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if h[:5] == b"#!AMR":
        return "audio/amr"
    if h[:4] == b".snd":
        return "audio/basic"
    if h[:4] == b"caff":
        return "audio/x-caf"
    if h[:4] == b"MThd":
        return "audio/midi"
    if h[:16] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c":
        return "audio/x-ms-wma"
    if h[:1] == b"\x47" and len(h) > 376 and h[188:189] == b"\x47" and h[376:377] == b"\x47":
        return "video/mp2t"
    if h[:5] == b"%PDF-":
        return "application/pdf"
    if h[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "application/zip"
    if h[:2] == b"\x1f\x8b":
        return "application/gzip"
    if h[:6] == b"7z\xbc\xaf\x27\x1c":
        return "application/x-7z-compressed"
    if h[:4] == b"Rar!":
        return "application/x-rar-compressed"
    if h[:4] == b"\x7fELF":
        return "application/x-executable"
    # MPEG audio frame sync: 11 set bits, a valid version and layer, a valid bitrate/rate.
    if h[0] == 0xFF and (h[1] & 0xE0) == 0xE0:
        version, layer = (h[1] >> 3) & 0x3, (h[1] >> 1) & 0x3
        bitrate_idx, rate_idx = h[2] >> 4, (h[2] >> 2) & 0x3
        if version != 1 and bitrate_idx != 0xF and rate_idx != 0x3:
            if layer == 0 and (h[1] & 0xF6) == 0xF0:
                return "audio/aac"  # ADTS
            if layer != 0:
                return "audio/mpeg"
    return _sniff_text(h)


def _sniff_text(head: bytes) -> str | None:
    """Text content (a chat message saved as a file, an HTML error page renamed .mp3)."""
    sample = head[:4096]
    if not sample or b"\0" in sample:
        return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sample is still text
        if exc.start < len(sample) - 4:
            return None
        text = sample[: exc.start].decode("utf-8")
    printable = sum(1 for c in text if c.isprintable() or c in "\r\n\t")
    if printable < 0.97 * max(1, len(text)):
        return None
    lowered = text.lstrip().lower()
    if lowered.startswith(("<!doctype html", "<html")):
        return "text/html"
    if lowered.startswith("<svg") or (lowered.startswith("<?xml") and "<svg" in lowered[:512]):
        return "image/svg+xml"
    if lowered.startswith(("{", "[")):
        return "application/json"
    return "text/plain"


def _mime_from_name(name: str) -> str | None:
    ext = Path(name).suffix.lower()
    if not ext:
        return None
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    guessed, _ = mimetypes.guess_type(name)
    return _norm_mime(guessed)


def sniff(data: bytes, name: str = "", mime: str | None = None) -> tuple[str, str]:
    """``(kind, mime)`` from the first bytes, else the file name, else the given mime.

    Magic bytes win because names and platform-reported types are often wrong
    (a PNG renamed ``.wav``, a voice note sent as ``application/octet-stream``).
    """
    found = _sniff_magic(data[:_HEAD_BYTES])
    if found is None:
        found = _mime_from_name(name) or _norm_mime(mime) or "application/octet-stream"
    return _kind_of(found), found


# --- probing ---------------------------------------------------------------------------

_INPUT_RE = re.compile(r"^Input #0, (?P<fmt>[^,]+(?:,[^,\s]+)*), from ", re.M)
_DURATION_RE = re.compile(r"Duration: (?:(\d+):(\d+):(\d+(?:\.\d+)?)|N/A)")
_STREAM_RE = re.compile(
    r"^\s*Stream #0:(?P<idx>\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (?P<type>Audio|Video|Subtitle|Data|Attachment): (?P<rest>.*)$",
    re.M,
)
_RATE_RE = re.compile(r"(\d+) Hz")
_SIZE_RE = re.compile(r"(?<![0-9a-fA-Fx])(\d{1,5})x(\d{1,5})(?![0-9a-fA-F])")
_LAYOUTS = {
    "mono": 1, "stereo": 2, "downmix": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4,
    "quad(side)": 4, "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6,
    "6.0": 6, "6.0(front)": 6, "hexagonal": 6, "6.1": 7, "6.1(back)": 7, "6.1(front)": 7,
    "7.0": 7, "7.0(front)": 7, "7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8, "octagonal": 8,
}


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _channels(field: str) -> int | None:
    field = field.strip().lower()
    if field in _LAYOUTS:
        return _LAYOUTS[field]
    m = re.match(r"(\d+) channels", field)
    if m:
        return int(m.group(1))
    m = re.match(r"(\d+)\.(\d+)", field)
    if m:
        return int(m.group(1)) + int(m.group(2))
    return None


@dataclass(frozen=True)
class _Banner:
    fmt: str | None
    duration: float | None
    audio: list[str]  # "rest" of each audio stream line
    video: list[str]  # real video streams (cover art excluded)


def _parse_banner(stderr: str) -> _Banner | None:
    m = _INPUT_RE.search(stderr)
    if not m:
        return None
    duration = None
    d = _DURATION_RE.search(stderr, m.end())
    if d and d.group(1) is not None:
        duration = int(d.group(1)) * 3600 + int(d.group(2)) * 60 + float(d.group(3))
    audio, video = [], []
    for s in _STREAM_RE.finditer(stderr, m.end()):
        rest = s.group("rest")
        if s.group("type") == "Audio":
            audio.append(rest)
        elif s.group("type") == "Video" and "(attached pic)" not in rest:
            video.append(rest)
    return _Banner(m.group("fmt"), duration, audio, video)


def _codec(rest: str) -> str:
    return re.split(r"[\s,(]", rest.strip(), maxsplit=1)[0]


def _not_readable(path: Path, magic: str | None, named: str | None) -> MediaError:
    if magic is not None and _kind_of(magic) in ("audio", "video"):
        return MediaError(f"That {_format_name(magic)} file is damaged or cut short, so I could not read it.")
    if named is not None and _kind_of(named) in ("audio", "video"):
        return MediaError(
            f"That file is called {path.suffix.lower()} but is not audio I can read "
            "(it may be damaged, or another kind of file renamed)."
        )
    return MediaError("That file is not audio I can read (its format was not recognised).")


def probe(path: Path) -> MediaInfo:
    """Read a file's headers (never the whole file) and say what it is.

    Raises :class:`MediaError` for a missing or empty file, for text and
    documents, and for anything ffmpeg cannot open (damaged, cut-short headers,
    random bytes). Images are described (kind ``image``), not refused: the
    caller decides what an image is good for.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
    except FileNotFoundError as exc:
        raise MediaError("That file is missing on the server.") from exc
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        raise MediaError("That file could not be read on the server.") from exc
    if size == 0:
        raise MediaError("That file is empty.")

    magic = _sniff_magic(head)
    named = _mime_from_name(path.name)
    mime = magic or named or "application/octet-stream"
    kind = _kind_of(mime)
    if magic is not None and kind in ("text", "other"):
        log.info("probe %s: refusing %s (%d bytes)", path.name, magic, size)
        raise MediaError(f"That file is not audio I can read (it looks like {_looks_like(magic)}).")

    proc = _run(["-i", str(path)], timeout=PROBE_TIMEOUT_S)
    stderr = proc.stderr.decode("utf-8", errors="replace")
    banner = _parse_banner(stderr)
    if banner is None:
        log.info("probe %s: ffmpeg cannot open it (%s): %s", path.name, mime, _stderr_tail(proc.stderr))
        raise _not_readable(path, magic, named)

    width = height = None
    video_codec = None
    if banner.video:
        sz = _SIZE_RE.search(banner.video[0])
        if sz:
            width, height = int(sz.group(1)), int(sz.group(2))
        video_codec = _codec(banner.video[0])
    fmt = banner.fmt or ""
    is_image_format = fmt.endswith("_pipe") or fmt in ("image2", "gif", "webp")
    if kind == "image" or (is_image_format and not banner.audio):
        return MediaInfo("image", mime if kind == "image" else "image/" + (video_codec or "unknown"), size,
                         None, None, None, video_codec, width, height)

    sample_rate = channels = None
    codec = None
    if banner.audio:
        rest = banner.audio[0]
        codec = _codec(rest)
        r = _RATE_RE.search(rest)
        sample_rate = int(r.group(1)) if r else None
        fields = _split_top(rest)
        if len(fields) >= 3:
            channels = _channels(fields[2])
    if banner.video:
        kind = "video"
        if not mime.startswith("video/"):
            mime = "video/mp4" if mime in ("audio/mp4", "application/octet-stream") else mime
    elif banner.audio:
        kind = "audio"
        if mime.startswith("video/"):
            mime = {"video/mp4": "audio/mp4", "video/quicktime": "audio/mp4", "video/3gpp": "audio/mp4",
                    "video/webm": "audio/webm", "video/x-matroska": "audio/x-matroska",
                    "video/ogg": "audio/ogg"}.get(mime, mime)
        elif not mime.startswith("audio/"):
            mime = "audio/" + (codec or "unknown")
    else:
        log.info("probe %s: no audio or video stream: %s", path.name, _stderr_tail(proc.stderr))
        raise MediaError("That file has no sound in it that I can read.")
    return MediaInfo(kind, mime, size, banner.duration, sample_rate, channels,
                     codec if banner.audio else video_codec, width, height)


# --- limits ----------------------------------------------------------------------------


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


def check_limits(info: MediaInfo, *, max_bytes: int, max_seconds: float) -> None:
    """Refuse a file over the size or duration limit, from its probe alone (nothing decoded)."""
    if max_bytes and info.size > max_bytes:
        raise MediaError(f"The file is {format_size(info.size)}; the limit is {format_size(max_bytes)}.")
    if max_seconds and info.duration is not None and info.duration > max_seconds + DURATION_TOLERANCE_S:
        what = "video" if info.kind == "video" else "clip"
        raise MediaError(
            f"The {what} is {format_duration(info.duration)} long; the limit is {format_duration(max_seconds)}."
        )


# --- decoding --------------------------------------------------------------------------


def decode_audio(
    path: Path,
    *,
    sample_rate: int | None = None,
    mono: bool = True,
    max_seconds: float | None = None,
) -> Audio:
    """Decode the first audio stream of ``path`` to float32 (resampled by ffmpeg, soxr).

    ``sample_rate=None`` keeps the file's rate. With ``max_seconds``, a file
    whose header already says it is longer is refused before any decoding, and
    for files without a duration in the header ffmpeg stops reading just past
    the limit, so a huge file is never decoded whole.
    """
    path = Path(path)
    info = probe(path)
    if info.kind == "image":
        raise MediaError(f"That file is not audio I can read (it looks like {_looks_like(info.mime)}).")
    if not info.has_audio:
        if info.kind == "video":
            raise MediaError("That video has no sound track.")
        raise MediaError("That file has no sound in it.")
    if max_seconds:
        check_limits(info, max_bytes=0, max_seconds=max_seconds)
    rate = int(sample_rate or info.sample_rate or 48000)
    if rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {rate}")
    out_channels = 1 if mono else max(1, int(info.channels or 2))

    args = ["-v", "error", "-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn"]
    if max_seconds:
        args += ["-t", f"{max_seconds + DURATION_TOLERANCE_S + 0.5:.3f}"]
    args += ["-af", "aresample=resampler=soxr", "-ar", str(rate), "-ac", str(out_channels),
             "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    proc = _run(args, timeout=DECODE_TIMEOUT_S)
    raw = proc.stdout
    usable = len(raw) - len(raw) % (4 * out_channels)
    samples = np.frombuffer(raw[:usable], dtype="<f4").astype(np.float32, copy=True)
    del raw
    proc.stdout = b""  # the raw copy can be large (10 min of 48 kHz stereo is 230 MB)
    if out_channels > 1:
        samples = samples.reshape(-1, out_channels).T.copy()
    frames = samples.shape[-1] if samples.size else 0

    if frames == 0:
        log.warning("decode %s: no samples (rc=%s): %s", path.name, proc.returncode, _stderr_tail(proc.stderr))
        if proc.returncode != 0:
            raise _not_readable(path, info.mime, None)
        raise MediaError("That file contains no audio to work with.")
    if max_seconds and frames > (max_seconds + DURATION_TOLERANCE_S) * rate:
        # only reachable when the header had no duration; ffmpeg stopped at -t
        raise MediaError(f"The clip is longer than the {format_duration(max_seconds)} limit.")
    got = frames / rate
    if proc.returncode != 0 or proc.stderr.strip():
        log.warning("decode %s: ffmpeg reported problems (rc=%s), kept %.2f s: %s",
                    path.name, proc.returncode, got, _stderr_tail(proc.stderr))
    if info.duration and got < 0.9 * info.duration - 0.2:
        log.warning("decode %s: the file looks cut short: decoded %.2f s of the %.2f s its header announces",
                    path.name, got, info.duration)
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
    return Audio(samples, rate)


def decode_audio_bytes(data: bytes, name: str = "audio", **kwargs: object) -> Audio:
    """:func:`decode_audio` for bytes in memory (written to a temporary file, as ffmpeg seeks)."""
    if not data:
        raise MediaError("That file is empty.")
    wav = _try_wav_bytes(data) if kwargs.get("sample_rate") is None and kwargs.get("max_seconds") is None else None
    if wav is not None:
        return wav.mono() if kwargs.get("mono", True) else wav
    suffix = Path(name).suffix or ".bin"
    with tempfile.TemporaryDirectory(prefix="audiogpt-media-") as tmp:
        p = Path(tmp) / f"input{suffix}"
        p.write_bytes(data)
        return decode_audio(p, **kwargs)  # type: ignore[arg-type]


def _try_wav_bytes(data: bytes) -> Audio | None:
    """Fast path for plain PCM WAV (8/16/24/32-bit int); None for anything else."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            n_ch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
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


# --- encoding --------------------------------------------------------------------------

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
    args = ["-v", "error", "-f", "f32le", "-ar", str(int(audio.sample_rate)), "-ac", str(ch), "-i", "pipe:0",
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
        proc = _run([*args, "-y", str(out)], input=pcm, timeout=DECODE_TIMEOUT_S)
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            log.error("encode to %s failed (rc=%s): %s", f, proc.returncode, _stderr_tail(proc.stderr))
            raise MediaError(f"I could not encode the audio as {f.upper()}.")
        return out.read_bytes()


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
            return data, _FMT_ALIASES.get(f, f)
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
