"""What a file holds, from its headers: :func:`probe` and the :class:`MediaInfo` it returns.

The order is: read the first bytes, refuse what the bytes prove is not media
(text, documents, playlists and manifests), refuse what no bytes prove at all
(a name is not proof), then let the *one* demuxer the proven type maps to read
the headers. imageio-ffmpeg ships no ffprobe, so the facts come from the banner
``ffmpeg -i FILE`` writes to stderr. Images never reach ffmpeg: Pillow reads
their header (:mod:`audiogpt.image_header`).
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from audiogpt.core.media import process
from audiogpt.core.media.errors import MediaError
from audiogpt.core.media.formats import (
    DEMUXERS,
    POINTER_FORMATS,
    format_name,
    kind_of,
    looks_like,
    mime_from_name,
)
from audiogpt.core.media.sniffing import HEAD_BYTES, id3_size, mpeg_frames_follow, sniff_magic
from audiogpt.ffmpeg import input_args
from audiogpt.image_header import ACCEPTED as PILLOW_IMAGES
from audiogpt.image_header import ImageRefused, read_image_header

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 30.0
_IMAGE_HEADER_BYTES = 16 * 1024 * 1024  # a JPEG's size marker can sit after a large EXIF block


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
    demuxer: str | None = None  # the ffmpeg demuxer that read it (and the only one that may decode it)

    @property
    def has_audio(self) -> bool:
        return self.sample_rate is not None


# --- the banner ffmpeg -i writes --------------------------------------------------------------

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
_AUDIO_MIME_OF_VIDEO = {
    "video/mp4": "audio/mp4", "video/quicktime": "audio/mp4", "video/3gpp": "audio/mp4",
    "video/webm": "audio/webm", "video/x-matroska": "audio/x-matroska", "video/ogg": "audio/ogg",
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


def stderr_tail(raw: bytes, lines: int = 6) -> str:
    """The last lines of ffmpeg's stderr on one line, for the log (never for the user)."""
    text = raw.decode("utf-8", errors="replace").strip().splitlines()
    return " | ".join(text[-lines:])


# --- refusals --------------------------------------------------------------------------------


def not_readable(path: Path, magic: str | None, named: str | None) -> MediaError:
    """The sentence for a file ffmpeg cannot (or may not) read, worded by what it claimed to be."""
    if magic is not None and kind_of(magic) in ("audio", "video"):
        return MediaError(f"That {format_name(magic)} file is damaged or cut short, so I could not read it.")
    if named is not None and kind_of(named) in ("audio", "video"):
        return MediaError(
            f"That file is called {path.suffix.lower()} but is not audio I can read "
            "(it may be damaged, or another kind of file renamed)."
        )
    if named is not None and kind_of(named) == "image":
        return MediaError(f"That file is called {path.suffix.lower()} but is not an image I can read.")
    return MediaError("That file is not audio I can read (its format was not recognised).")


def _pointer_refusal(mime: str) -> MediaError:
    return MediaError(f"That file is {looks_like(mime)}, which only points to other files; send the audio itself.")


def _mpeg_start_ok(path: Path, head: bytes, size: int) -> bool:
    """MP3 proven by a real frame where the ID3 tag (if any) ends, not by the three letters ``ID3``."""
    offset = id3_size(head)
    if offset >= size:
        return False
    if offset + 8192 <= len(head):
        data = head[offset:offset + 8192]
    else:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read(8192)
    return mpeg_frames_follow(data, at_end=offset + len(data) >= size)


# --- probe -----------------------------------------------------------------------------------


def probe(path: Path) -> MediaInfo:
    """Read a file's headers (never the whole file) and say what it is.

    Raises :class:`MediaError` for a missing or empty file, for text,
    documents, playlists and manifests, for files whose bytes prove no media
    type (the name alone is not trusted), and for anything the type's demuxer
    cannot open (damaged, cut-short headers). Images are described (kind
    ``image``, with their dimensions), not refused: the caller decides what an
    image is good for, and :func:`~audiogpt.core.media.limits.check_limits`
    applies the pixel budget.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(HEAD_BYTES)
    except FileNotFoundError as exc:
        raise MediaError("That file is missing on the server.") from exc
    except OSError as exc:
        log.warning("cannot read %s: %s", path, exc)
        raise MediaError("That file could not be read on the server.") from exc
    if size == 0:
        raise MediaError("That file is empty.")

    magic = sniff_magic(head)
    named = mime_from_name(path.name)
    for claimed in (magic, named):
        if claimed in POINTER_FORMATS:
            log.info("probe %s: refusing a pointer file (%s, %d bytes)", path.name, claimed, size)
            raise _pointer_refusal(claimed)
    if magic is None:
        log.info("probe %s: no known signature in its first bytes (named %s)", path.name, named)
        raise not_readable(path, None, named)
    kind = kind_of(magic)
    if kind in ("text", "other"):
        log.info("probe %s: refusing %s (%d bytes)", path.name, magic, size)
        raise MediaError(f"That file is not audio I can read (it looks like {looks_like(magic)}).")
    if kind == "image":
        return _probe_image(path, magic, size)
    demuxer = DEMUXERS.get(magic)
    if demuxer is None:
        log.info("probe %s: %s has no demuxer we allow", path.name, magic)
        raise MediaError(f"That file is not audio I can read (it looks like {looks_like(magic)}).")
    if magic == "audio/mpeg" and not _mpeg_start_ok(path, head, size):
        log.info("probe %s: MPEG magic but no valid first frames", path.name)
        raise not_readable(path, magic, named)

    proc = process.run([*input_args(demuxer, str(path))], timeout=PROBE_TIMEOUT_S)
    banner = _parse_banner(proc.stderr.decode("utf-8", errors="replace"))
    if banner is None:
        log.info("probe %s: the %s demuxer cannot open it (%s): %s", path.name, demuxer, magic,
                 stderr_tail(proc.stderr))
        raise not_readable(path, magic, named)
    return _describe(path, banner, magic, size, demuxer, proc.stderr)


def probe_bytes(data: bytes, name: str = "file") -> MediaInfo:
    """:func:`probe` for bytes not stored yet (so a refused upload never reaches the blob store).

    They go to a private temporary file named like the upload, because ffmpeg
    reads headers by seeking and the refusal wording uses the extension.
    """
    if not data:
        raise MediaError("That file is empty.")
    suffix = "".join(c for c in Path(name).suffix.lower() if c.isalnum() or c == ".")[:12]
    with tempfile.TemporaryDirectory(prefix="audiogpt-probe-") as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(data)
        return probe(path)


def _probe_image(path: Path, mime: str, size: int) -> MediaInfo:
    width = height = None
    codec = mime.split("/", 1)[1]
    if mime in {m for m in PILLOW_IMAGES.values()}:
        with path.open("rb") as fh:
            head = fh.read(_IMAGE_HEADER_BYTES)
        try:
            header = read_image_header(head)
        except ImageRefused as exc:
            log.info("probe %s: image header unreadable: %s", path.name, exc)
            raise MediaError(str(exc)) from exc
        width, height = header.width, header.height
    return MediaInfo("image", mime, size, None, None, None, codec, width, height)


def _describe(path: Path, banner: _Banner, mime: str, size: int, demuxer: str, stderr: bytes) -> MediaInfo:
    width = height = None
    video_codec = None
    if banner.video:
        sz = _SIZE_RE.search(banner.video[0])
        if sz:
            width, height = int(sz.group(1)), int(sz.group(2))
        video_codec = _codec(banner.video[0])
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
            mime = "video/mp4" if mime == "audio/mp4" else mime
    elif banner.audio:
        kind = "audio"
        if mime.startswith("video/"):
            mime = _AUDIO_MIME_OF_VIDEO.get(mime, mime)
    else:
        log.info("probe %s: no audio or video stream: %s", path.name, stderr_tail(stderr))
        raise MediaError("That file has no sound in it that I can read.")
    return MediaInfo(kind, mime, size, banner.duration, sample_rate, channels,
                     codec if banner.audio else video_codec, width, height, demuxer)
