"""What a file is, from its first bytes: magic numbers, MPEG frame headers, playlists, text.

Magic bytes win over names and platform-reported types because those are
often wrong (a PNG renamed ``.wav``, a voice note sent as
``application/octet-stream``). The type proven here is what picks the ffmpeg
demuxer later (:data:`~audiogpt.core.media.formats.DEMUXERS`), so it must be
proven by content: a name alone never gets a file decoded.

Files that only point at other files (playlists, concat scripts, streaming
manifests) are recognised by content even when a stray NUL byte makes them fail
the text check, and come out as their own ``other`` types so that nothing
treats them as sound.
"""

from __future__ import annotations

import re

from audiogpt.core.media.formats import kind_of, mime_from_name, norm_mime

HEAD_BYTES = 8192

# A pointer file's first meaningful line. Matched case-insensitively after
# leading whitespace, BOMs and NUL bytes are skipped.
_POINTER_STARTS: tuple[tuple[bytes, str], ...] = (
    (b"#extm3u", "audio/mpegurl"),
    (b"#ext-x-", "application/vnd.apple.mpegurl"),
    (b"#extinf", "audio/mpegurl"),
    (b"[playlist]", "audio/x-scpls"),
    (b"ffconcat version", "application/x-ffconcat"),
    (b"<asx", "video/x-ms-asf-playlist"),
    (b"<mpd", "application/dash+xml"),
    (b"<smil", "application/smil+xml"),
    (b"<smoothstreamingmedia", "application/vnd.ms-sstr+xml"),
    (b"<manifest", "application/f4m+xml"),
    (b"<playlist", "application/xspf+xml"),
)
_XML_ROOTS: tuple[tuple[bytes, str], ...] = (
    (b"<mpd", "application/dash+xml"),
    (b"<smil", "application/smil+xml"),
    (b"<smoothstreamingmedia", "application/vnd.ms-sstr+xml"),
    (b"<manifest", "application/f4m+xml"),
    (b"<playlist", "application/xspf+xml"),
    (b"<asx", "video/x-ms-asf-playlist"),
)
_SDP_RE = re.compile(rb"\Av=0\r?\n(?:[a-z]=[^\r\n]*\r?\n)*?o=", re.I)
# "file 'a.wav'" lines, the whole of a concat script without its "ffconcat version" header
_CONCAT_LINE_RE = re.compile(
    rb"\A(?:#[^\n]*\n|\s*\n)*[ \t]*file[ \t]+(?:'[^'\n]*'|\"[^\"\n]*\"|[^\s'\"]+)[ \t]*(?:\r?\n|\Z)", re.I
)


def sniff_magic(head: bytes) -> str | None:
    """The mime that a file's first bytes prove, or None."""
    h = head
    if len(h) < 4:
        return _sniff_pointer(h) or _sniff_text(h)
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
        return "video/ogg" if b"theora" in h[:64] else "audio/ogg"
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
    return _sniff_pointer(h) or _sniff_text(h)


def _sniff_pointer(head: bytes) -> str | None:
    """A playlist, concat script or manifest, even one with NUL bytes or a BOM in front."""
    h = head[:4096].lstrip(b"\0 \t\r\n\xef\xbb\xbf\xfe\xff").replace(b"\0", b"").lower()
    if not h:
        return None
    for start, mime in _POINTER_STARTS:
        if h.startswith(start):
            return mime
    if h.startswith(b"<?xml"):
        body = re.sub(rb"<!--.*?-->|<\?.*?\?>|<!doctype[^>]*>", b"", h[:2048], flags=re.S).lstrip()
        for root, mime in _XML_ROOTS:
            if body.startswith(root):
                return mime
    if _SDP_RE.match(h):
        return "application/sdp"
    if _CONCAT_LINE_RE.match(h):
        return "application/x-ffconcat"
    return None


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


def sniff(data: bytes, name: str = "", mime: str | None = None) -> tuple[str, str]:
    """``(kind, mime)`` from the first bytes, else the file name, else the given mime.

    The fallbacks only describe a file (for a message or a stored row); what
    may be *decoded* is decided by :func:`sniff_magic` alone.
    """
    found = sniff_magic(data[:HEAD_BYTES])
    if found is None:
        found = mime_from_name(name) or norm_mime(mime) or "application/octet-stream"
    return kind_of(found), found


# --- MPEG audio frames: "ID3" or a frame sync alone proves nothing ---------------------------

_BITRATES_K = {
    (3, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),  # MPEG-1 layer I
    (3, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),  # MPEG-1 layer II
    (3, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),  # MPEG-1 layer III
    (2, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),  # MPEG-2/2.5 layer I
    (2, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2/2.5 layer II
    (2, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),  # MPEG-2/2.5 layer III
}
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mpeg_frame(h: bytes) -> tuple[int, int] | None:
    """``(frame length in bytes, header signature)`` of an MPEG audio frame header, or None."""
    if len(h) < 4 or h[0] != 0xFF or (h[1] & 0xE0) != 0xE0:
        return None
    version, layer = (h[1] >> 3) & 0x3, (h[1] >> 1) & 0x3
    bitrate_idx, rate_idx, padding = h[2] >> 4, (h[2] >> 2) & 0x3, (h[2] >> 1) & 0x1
    if version == 1 or layer == 0 or bitrate_idx in (0, 0xF) or rate_idx == 3:
        return None
    bitrate = _BITRATES_K[(3 if version == 3 else 2, layer)][bitrate_idx] * 1000
    rate = _RATES[version][rate_idx]
    if layer == 3:
        length = (12 * bitrate // rate + padding) * 4
    elif layer == 1 and version != 3:
        length = 72 * bitrate // rate + padding
    else:
        length = 144 * bitrate // rate + padding
    return length, (h[1] << 8 | (h[2] & 0x0C))


def id3_size(head: bytes) -> int:
    """Bytes an ID3v2 tag at the start takes (0 when there is none): frames start after it."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b >= 0x80 for b in head[6:10]):
        return 0
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    return 10 + size + (10 if head[5] & 0x10 else 0)


def mpeg_frames_follow(data: bytes, *, at_end: bool) -> bool:
    """True when ``data`` starts (after NUL padding) with an MPEG audio frame and, unless the
    file ends inside it (``at_end``), a second matching frame right where the first ends.

    Random bytes after an ``ID3`` tag pass a magic check but not this one: the
    chance of two consistent headers at the exact computed distance is tiny.
    """
    start = len(data) - len(data.lstrip(b"\0"))
    first = _mpeg_frame(data[start:start + 4])
    if first is None:
        return False
    length, signature = first
    nxt = data[start + length:start + length + 4]
    if len(nxt) < 4:
        return at_end
    second = _mpeg_frame(nxt)
    return second is not None and second[1] == signature
