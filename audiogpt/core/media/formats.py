"""The mime tables: what each type is called, which ffmpeg demuxer may read it, which are refused outright.

These are fixed tables on purpose. ffmpeg is never allowed to pick a demuxer
itself (see :mod:`audiogpt.ffmpeg`): the demuxer comes from :data:`DEMUXERS`,
keyed by the type the file's own bytes proved, and a type with no entry there
is not decoded at all. Playlists, concat scripts and streaming manifests
(:data:`POINTER_FORMATS`) are refused by content and by name, because reading
them means opening whatever other files they name.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

# mime -> (kind, short format name, "it looks like ..." phrase)
MIMES: dict[str, tuple[str, str, str]] = {
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
    # files that only point at other files: kind 'other', so nothing treats them as sound
    "audio/mpegurl": ("other", "M3U", "an M3U playlist"),
    "application/vnd.apple.mpegurl": ("other", "HLS", "an HLS playlist"),
    "audio/x-scpls": ("other", "PLS", "a PLS playlist"),
    "application/xspf+xml": ("other", "XSPF", "an XSPF playlist"),
    "video/x-ms-asf-playlist": ("other", "ASX", "an ASX playlist"),
    "application/dash+xml": ("other", "DASH", "a DASH streaming manifest"),
    "application/vnd.ms-sstr+xml": ("other", "Smooth Streaming", "a Smooth Streaming manifest"),
    "application/f4m+xml": ("other", "F4M", "an HDS streaming manifest"),
    "application/smil+xml": ("other", "SMIL", "a SMIL presentation"),
    "application/sdp": ("other", "SDP", "an SDP stream description"),
    "application/x-ffconcat": ("other", "concat", "an ffmpeg concat script"),
}

# Types that name other files or streams instead of holding media.
POINTER_FORMATS: frozenset[str] = frozenset({
    "audio/mpegurl", "application/vnd.apple.mpegurl", "audio/x-scpls", "application/xspf+xml",
    "video/x-ms-asf-playlist", "application/dash+xml", "application/vnd.ms-sstr+xml", "application/f4m+xml",
    "application/smil+xml", "application/sdp", "application/x-ffconcat",
})

# Sniffed mime -> the one ffmpeg demuxer allowed to read it (its full name, as `ffmpeg -demuxers` lists it).
# Images are not here: their headers are read with Pillow (audiogpt.image_header), never by ffmpeg.
DEMUXERS: dict[str, str] = {
    "audio/wav": "wav",  # also RF64 / BW64
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "video/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/aac": "aac",
    "audio/mp4": "mov,mp4,m4a,3gp,3g2,mj2",
    "video/mp4": "mov,mp4,m4a,3gp,3g2,mj2",
    "video/quicktime": "mov,mp4,m4a,3gp,3g2,mj2",
    "video/3gpp": "mov,mp4,m4a,3gp,3g2,mj2",
    "audio/webm": "matroska,webm",
    "video/webm": "matroska,webm",
    "audio/x-matroska": "matroska,webm",
    "video/x-matroska": "matroska,webm",
    "audio/aiff": "aiff",
    "audio/amr": "amr",
    "audio/basic": "au",
    "audio/x-caf": "caf",
    "audio/x-ms-wma": "asf",
    "video/x-msvideo": "avi",
    "video/mp2t": "mpegts",
}

EXTENSIONS: dict[str, str] = {
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
    ".m3u": "audio/mpegurl", ".m3u8": "application/vnd.apple.mpegurl", ".pls": "audio/x-scpls",
    ".xspf": "application/xspf+xml", ".asx": "video/x-ms-asf-playlist", ".wax": "video/x-ms-asf-playlist",
    ".wvx": "video/x-ms-asf-playlist", ".mpd": "application/dash+xml", ".ism": "application/vnd.ms-sstr+xml",
    ".ismc": "application/vnd.ms-sstr+xml", ".f4m": "application/f4m+xml", ".smil": "application/smil+xml",
    ".smi": "application/smil+xml", ".sdp": "application/sdp", ".ffconcat": "application/x-ffconcat",
    ".concat": "application/x-ffconcat",
}

MIME_ALIASES: dict[str, str] = {
    "audio/x-wav": "audio/wav", "audio/wave": "audio/wav", "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg", "audio/x-flac": "audio/flac", "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4", "audio/x-aiff": "audio/aiff", "audio/x-aac": "audio/aac",
    "image/jpg": "image/jpeg", "video/x-m4v": "video/mp4",
    "audio/x-mpegurl": "audio/mpegurl", "application/x-mpegurl": "application/vnd.apple.mpegurl",
    "audio/scpls": "audio/x-scpls",
    "video/x-ms-asx": "video/x-ms-asf-playlist", "application/smil": "application/smil+xml",
}


def norm_mime(mime: str | None) -> str | None:
    """Lower-case, parameters dropped, aliases folded (``audio/x-wav; codecs=1`` -> ``audio/wav``)."""
    if not mime:
        return None
    m = mime.split(";", 1)[0].strip().lower()
    return MIME_ALIASES.get(m, m) or None


def kind_of(mime: str) -> str:
    """``audio`` | ``video`` | ``image`` | ``text`` | ``other`` for a (normalised) mime."""
    if mime in MIMES:
        return MIMES[mime][0]
    top = mime.split("/", 1)[0]
    if top in ("audio", "video", "image", "text"):
        return top
    return "other"


def looks_like(mime: str) -> str:
    """The phrase that finishes "it looks like ...": ``a PNG image``, ``plain text``."""
    return MIMES.get(mime, ("other", mime, f"a {mime} file"))[2]


def format_name(mime: str) -> str:
    """The short name people know a format by: ``MP3``, ``M4A``."""
    return MIMES.get(mime, ("other", "media", ""))[1]


def mime_from_name(name: str) -> str | None:
    """The type a file's extension claims (our table first, then the platform's)."""
    ext = Path(name).suffix.lower()
    if not ext:
        return None
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    guessed, _ = mimetypes.guess_type(name)
    return norm_mime(guessed)
