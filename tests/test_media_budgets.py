"""Memory bombs: decoded size is budgeted from headers, before decoding, for audio and for every image consumer.

The files are small and made here: a FLAC whose header says 1,048,575 Hz, and
a PNG whose IHDR says 20000 x 20000 over compressed zero rows (tens of KB).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from audiogpt.core import media
from audiogpt.core.media import MediaError, process
from audiogpt.image_header import ImageRefused, check_image
from audiogpt.models.base import Audio, BadInput, Image

FLAC_MAX_RATE = 1_048_575  # the largest rate a FLAC header can state


def one_sentence(msg: str) -> None:
    assert msg and "\n" not in msg and msg.endswith("."), msg
    assert "ffmpeg" not in msg.lower() and "Traceback" not in msg


def ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *args], check=True)


def decodes(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    calls: list[list[str]] = []
    real = process.argv

    def spy(args, **kw):  # type: ignore[no-untyped-def]
        calls.append(list(args))
        return real(args, **kw)

    monkeypatch.setattr(process, "argv", spy)
    return calls


@pytest.fixture(scope="module")
def high_rate_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s at 1,048,575 Hz: a 1 kHz tone for 1 s, then silence (~0.5 MB; 126 MB as float32 at its own rate)."""
    path = tmp_path_factory.mktemp("bomb") / "hr.flac"
    ffmpeg("-f", "lavfi", "-i", f"sine=f=1000:r={FLAC_MAX_RATE}:d=1", "-f", "lavfi",
           "-i", f"anullsrc=r={FLAC_MAX_RATE}:cl=mono", "-filter_complex", "[0][1]concat=n=2:v=0:a=1,atrim=0:30",
           "-c:a", "flac", str(path))
    return path


def test_a_high_rate_flac_comes_back_at_48k(high_rate_flac: Path) -> None:
    info = media.probe(high_rate_flac)
    assert info.sample_rate == FLAC_MAX_RATE and info.duration == pytest.approx(30, abs=0.1)
    a = media.decode_audio(high_rate_flac, max_seconds=600)  # what execute.py asks for: the file's own rate
    assert a.sample_rate == 48_000  # resampled inside ffmpeg, not 1 MHz float32 in Python
    assert a.frames == pytest.approx(30 * 48_000, abs=100)
    tone = a.samples[4800:4800 + 16384]
    assert np.argmax(np.abs(np.fft.rfft(tone))) * 48_000 / tone.size == pytest.approx(1000, abs=5)
    assert media.decode_audio(high_rate_flac, sample_rate=16_000).sample_rate == 16_000  # a backend's rate wins


def test_high_rate_flac_decodes_in_bounded_memory(high_rate_flac: Path) -> None:
    """Peak RSS of a fresh process decoding it: the float32 output (5.8 MB) plus the interpreter, not 2 x 126 MB."""
    code = (
        "import json, resource, sys\n"
        "from pathlib import Path\n"
        "from audiogpt.core import media\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "a = media.decode_audio(Path(sys.argv[1]), max_seconds=600)\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'rate': a.sample_rate, 'grew_mb': (peak - base) / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(high_rate_flac)], capture_output=True, text=True,
                         check=True, timeout=120)
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["rate"] == 48_000
    assert got["grew_mb"] < 40, got  # old code: > 250 MB (raw bytes, then a float32 copy of them)


def test_over_the_sample_budget_is_refused_before_decoding(high_rate_flac: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    calls = decodes(monkeypatch)
    with pytest.raises(MediaError) as err:
        media.decode_audio(high_rate_flac, mono=True, max_samples=48_000 * 10)
    assert str(err.value) == "The clip is 30 s long; the most I can work with at once is 10 s."
    one_sentence(str(err.value))
    assert [c for c in calls if "f32le" in c] == []  # only the probe ran


def test_a_clip_without_a_duration_stops_at_the_sample_budget(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Browser WebM has no duration in its header: ffmpeg is stopped at the budget, then it is refused."""
    path = tmp_path / "rec.webm"
    with path.open("wb") as fh:
        subprocess.run([media.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=f=300:d=30",
                        "-c:a", "libopus", "-f", "webm", "pipe:1"], stdout=fh, check=True)
    assert media.probe(path).duration is None
    calls = decodes(monkeypatch)
    with pytest.raises(MediaError) as err:
        media.decode_audio(path, sample_rate=16_000, max_samples=16_000 * 5)
    assert str(err.value) == "The clip is longer than the 5 s I can work with at once."
    (decode,) = [c for c in calls if "f32le" in c]
    assert float(decode[decode.index("-t") + 1]) < 6
    assert media.decode_audio(path, sample_rate=16_000).duration == pytest.approx(30, abs=0.1)


def test_a_wav_over_48k_is_resampled_like_any_file() -> None:
    x = (0.3 * np.sin(2 * np.pi * 1000 * np.arange(96_000) / 96_000)).astype(np.float32)
    a = media.audio_from_wav_bytes(media.encode_audio(Audio(x, 96_000), "wav"))
    assert a.sample_rate == 48_000 and a.frames == pytest.approx(48_000, abs=50)


# --- images ---------------------------------------------------------------------------------------


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG of zero rows: 1-bit greyscale, so the file is ~50 KB while decoders expand it to
    ``width x height`` bytes (greyscale) or three times that (OpenCV's BGR: 1.2 GB here)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row * 1000) for _ in range(height // 1000)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = png_bomb()
    assert len(data) < 200_000
    return data


def small_png() -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", np.full((48, 64, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def test_the_header_helper_refuses_a_20000_px_square(bomb: bytes) -> None:
    with pytest.raises(ImageRefused) as err:
        check_image(bomb)
    assert str(err.value) == "The image is 20000x20000 pixels (400 megapixels); the limit is 40 megapixels."
    header = check_image(small_png())
    assert (header.format, header.width, header.height) == ("PNG", 64, 48)


def test_talking_head_refuses_the_bomb_before_opencv_decodes_it(bomb: bytes,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import cv2

    from audiogpt.models.transform import video

    real = cv2.imdecode
    seen: list[int] = []

    def watched(buf, flags):  # type: ignore[no-untyped-def]
        seen.append(len(buf))
        return real(buf, flags)

    monkeypatch.setattr(cv2, "imdecode", watched)
    with pytest.raises(BadInput) as err:
        video.decode_image(bomb)
    assert "20000x20000 pixels" in str(err.value)
    one_sentence(str(err.value))
    assert seen == []  # refused from the IHDR alone
    assert video.decode_image(small_png()).shape[2] == 3 and len(seen) == 1  # a normal picture still decodes


def test_talking_head_backend_says_one_sentence(bomb: bytes) -> None:
    from audiogpt.models.transform.talking_head_lite import MouthAnimator

    speech = Audio(np.zeros(8000, np.float32), 8000)
    with pytest.raises(BadInput, match="20000x20000 pixels"):
        MouthAnimator().run(None, audio=speech, image=Image(bomb, "image/png"))


def test_image_to_audio_refuses_the_bomb_with_a_sentence(bomb: bytes) -> None:
    from audiogpt.models.generation import image_scene

    with pytest.raises(BadInput) as err:  # was Pillow's DecompressionBombError, an unhandled crash
        image_scene.load_pixels(Image(bomb, "image/png"))
    assert "20000x20000 pixels" in str(err.value)
    one_sentence(str(err.value))
    assert image_scene.load_pixels(small_png()).shape[2] == 3


def test_probe_reads_image_dimensions_and_check_limits_applies_the_pixel_budget(tmp_path: Path, bomb: bytes,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "portrait.png"
    path.write_bytes(bomb)
    calls = decodes(monkeypatch)
    info = media.probe(path)
    assert (info.kind, info.mime, info.width, info.height) == ("image", "image/png", 20_000, 20_000)
    assert calls == []  # Pillow read the header; ffmpeg never saw the picture
    with pytest.raises(MediaError) as err:
        media.check_limits(info, max_bytes=25 * 1024 * 1024, max_seconds=600)
    assert str(err.value) == "The image is 20000x20000 pixels; the limit is 40 megapixels."
    ok = tmp_path / "ok.png"
    ok.write_bytes(small_png())
    media.check_limits(media.probe(ok), max_bytes=25 * 1024 * 1024, max_seconds=600)
