"""core.media against the real ffmpeg binary on real files made in tmp dirs."""

from __future__ import annotations

import itertools
import logging
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from audiogpt.core import media
from audiogpt.core.media import MediaError, MediaInfo, process
from audiogpt.models.base import Audio

SR = 44_100


def tone(freqs: tuple[float, ...] = (440.0,), seconds: float = 2.0, sr: int = SR, amp: float = 0.5) -> Audio:
    t = np.arange(int(seconds * sr)) / sr
    chans = [amp * np.sin(2 * np.pi * f * t) for f in freqs]
    x = np.stack(chans).astype(np.float32)
    return Audio(x[0] if len(freqs) == 1 else x, sr)


def peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.argmax(spec) * sr / x.size)


def ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *args], check=True)


def one_sentence(msg: str) -> None:
    assert msg and "\n" not in msg and msg.endswith("."), msg
    assert "ffmpeg" not in msg.lower() and "Traceback" not in msg


class RunSpy:
    """Records every ffmpeg command line media builds (to prove what was and was not decoded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        real = process.argv

        def spy(args, **kw):  # type: ignore[no-untyped-def]
            self.calls.append(list(args))
            return real(args, **kw)

        monkeypatch.setattr(process, "argv", spy)

    @property
    def decodes(self) -> list[list[str]]:
        return [c for c in self.calls if "f32le" in c]


# --- sniff -------------------------------------------------------------------------------

PNG_HEAD = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"


@pytest.mark.parametrize(
    ("head", "kind", "mime"),
    [
        (b"RIFF\x24\0\0\0WAVEfmt ", "audio", "audio/wav"),
        (b"OggS\0\x02" + b"\0" * 22 + b"OpusHead", "audio", "audio/ogg"),
        (b"ID3\x04\0\0\0\0\0\0", "audio", "audio/mpeg"),
        (b"\xff\xfb\x90\x64" + b"\0" * 20, "audio", "audio/mpeg"),
        (b"\xff\xf1\x50\x80" + b"\0" * 20, "audio", "audio/aac"),
        (b"fLaC\0\0\0\x22", "audio", "audio/flac"),
        (b"\0\0\0\x20ftypM4A \0\0\0\0", "audio", "audio/mp4"),
        (b"\0\0\0\x20ftypisom\0\0\x02\0", "video", "video/mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm", "video", "video/webm"),
        (PNG_HEAD, "image", "image/png"),
        (b"\xff\xd8\xff\xe0\0\x10JFIF", "image", "image/jpeg"),
        (b"GIF89a\x01\0\x01\0", "image", "image/gif"),
        (b"RIFF\x24\0\0\0WEBPVP8 ", "image", "image/webp"),
        (b"%PDF-1.7\n", "other", "application/pdf"),
        (b"PK\x03\x04\x14\0", "other", "application/zip"),
        (b"hello, this is a note\n", "text", "text/plain"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "text", "text/html"),
    ],
)
def test_sniff_magic_bytes(head: bytes, kind: str, mime: str) -> None:
    # the misleading name must not matter when the bytes say what the file is
    assert media.sniff(head, name="voice.ogg") == (kind, mime)


def test_sniff_falls_back_to_name_then_mime() -> None:
    noise = bytes([0x00, 0x9C, 0xE1, 0x80]) * 64
    assert media.sniff(noise, name="clip.m4a") == ("audio", "audio/mp4")
    assert media.sniff(noise, name="clip.OPUS") == ("audio", "audio/opus")
    assert media.sniff(noise, name="blob", mime="audio/x-wav") == ("audio", "audio/wav")
    assert media.sniff(noise) == ("other", "application/octet-stream")


# --- encode / probe / decode round trips -----------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime", "codec"),
    [("wav", "audio/wav", "pcm_s16le"), ("ogg", "audio/ogg", "opus"), ("mp3", "audio/mpeg", "mp3"),
     ("flac", "audio/flac", "flac"), ("m4a", "audio/mp4", "aac")],
)
def test_round_trip_every_format_keeps_stereo(tmp_path: Path, fmt: str, mime: str, codec: str) -> None:
    src = tone((440.0, 660.0), seconds=2.0)
    data = media.encode_audio(src, fmt)
    assert media.sniff(data) == ("audio", mime)
    path = tmp_path / f"clip{media.format_info(fmt)[1]}"
    path.write_bytes(data)

    info = media.probe(path)
    assert (info.kind, info.mime, info.codec, info.channels) == ("audio", mime, codec, 2)
    assert info.duration == pytest.approx(2.0, abs=0.06)
    assert info.size == len(data)

    out = media.decode_audio(path, sample_rate=SR, mono=False)
    assert out.samples.dtype == np.float32 and out.samples.shape[0] == 2
    assert out.duration == pytest.approx(2.0, abs=0.06)
    mid = slice(SR // 2, SR // 2 + 32768)
    # each channel keeps its own tone: stereo preserved, channels not swapped
    assert peak_hz(out.samples[0, mid], SR) == pytest.approx(440, abs=3)
    assert peak_hz(out.samples[1, mid], SR) == pytest.approx(660, abs=3)
    if fmt in ("wav", "flac"):  # lossless apart from 16-bit quantisation
        n = min(out.frames, src.frames)
        assert np.max(np.abs(out.samples[:, :n] - src.samples[:, :n])) < 2 / 32768

    mono = media.decode_audio(path, sample_rate=16_000)
    assert mono.samples.ndim == 1 and mono.sample_rate == 16_000
    assert mono.frames == pytest.approx(32_000, abs=1000)


def test_ogg_opus_is_48k_mono_for_voice_messages(tmp_path: Path) -> None:
    speechish = tone((300.0,), seconds=3.0, sr=22_050)
    data = media.encode_audio(speechish, "ogg")
    assert data[:4] == b"OggS" and b"OpusHead" in data[:200]
    path = tmp_path / "voice.ogg"
    path.write_bytes(data)
    info = media.probe(path)
    assert (info.codec, info.sample_rate, info.channels) == ("opus", 48_000, 1)
    assert info.duration == pytest.approx(3.0, abs=0.05)

    vm = media.encode_voice_message(tone((440.0, 660.0), seconds=4.0))  # stereo in -> mono out
    p2 = tmp_path / "vm.ogg"
    p2.write_bytes(vm.data)
    info2 = media.probe(p2)
    assert (info2.codec, info2.sample_rate, info2.channels) == ("opus", 48_000, 1)
    assert vm.duration == pytest.approx(4.0)
    assert len(vm.waveform) == 256 and max(vm.waveform) == 255
    assert isinstance(vm.waveform_b64, str) and len(vm.waveform_b64) > 300


def test_files_made_by_other_tools(tmp_path: Path) -> None:
    """What Slack/Discord/phones send: m4a (AAC), webm (Opus), mp4 with a video track."""
    m4a, webm, mp4, silent_mp4 = (tmp_path / n for n in ("a.m4a", "a.webm", "v.mp4", "nosound.mp4"))
    ffmpeg("-f", "lavfi", "-i", "sine=f=500:d=2.5", "-c:a", "aac", str(m4a))
    ffmpeg("-f", "lavfi", "-i", "sine=f=500:d=1.5", "-c:a", "libopus", str(webm))
    ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=320x240", "-f", "lavfi", "-i", "sine=f=500:d=2",
           "-shortest", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(mp4))
    ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=160x120", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(silent_mp4))

    i = media.probe(m4a)
    assert (i.kind, i.mime, i.codec, i.sample_rate) == ("audio", "audio/mp4", "aac", 44_100)
    assert i.duration == pytest.approx(2.5, abs=0.05)
    i = media.probe(webm)
    assert (i.kind, i.mime, i.codec) == ("audio", "audio/webm", "opus")
    i = media.probe(mp4)
    assert (i.kind, i.mime, i.codec, i.width, i.height) == ("video", "video/mp4", "aac", 320, 240)
    for p, secs in ((m4a, 2.5), (webm, 1.5), (mp4, 2.0)):
        a = media.decode_audio(p, sample_rate=16_000)
        assert a.duration == pytest.approx(secs, abs=0.06)
        assert peak_hz(a.samples[4000:20000], 16_000) == pytest.approx(500, abs=3)

    i = media.probe(silent_mp4)
    assert (i.kind, i.sample_rate, i.codec) == ("video", None, "h264")
    with pytest.raises(MediaError, match="no sound track") as err:
        media.decode_audio(silent_mp4)
    one_sentence(str(err.value))


@pytest.mark.parametrize("fmt", ["wav", "ogg", "mp3", "flac"])
@pytest.mark.parametrize("seconds", [1.5, 7.25])
def test_probe_durations(tmp_path: Path, fmt: str, seconds: float) -> None:
    path = tmp_path / f"d{media.format_info(fmt)[1]}"
    path.write_bytes(media.encode_audio(tone(seconds=seconds, sr=24_000), fmt))
    assert media.probe(path).duration == pytest.approx(seconds, abs=0.06)


def test_bytes_helpers() -> None:
    src = tone((440.0, 660.0), seconds=0.5, sr=16_000)
    wav = media.encode_audio(src, "wav")
    back = media.audio_from_wav_bytes(wav)
    assert back.sample_rate == 16_000 and back.channels == 2
    assert np.max(np.abs(back.samples - src.samples)) < 2 / 32768
    mono = media.decode_audio_bytes(media.encode_audio(src, "flac"), "x.flac", sample_rate=8000)
    assert mono.channels == 1 and mono.frames == pytest.approx(4000, abs=50)


def test_encode_sanitises_and_validates() -> None:
    x = np.array([0.0, np.nan, np.inf, -np.inf, 2.0, -2.0] * 1000, dtype=np.float32)
    back = media.audio_from_wav_bytes(media.encode_audio(Audio(x, 8000), "wav"))
    assert np.all(np.isfinite(back.samples)) and np.max(np.abs(back.samples)) <= 1.0
    with pytest.raises(ValueError):
        media.encode_audio(Audio(x, 8000), "aiff")
    with pytest.raises(ValueError):
        media.encode_audio(Audio(np.zeros(0, np.float32), 8000), "ogg")


def test_encode_to_fit_steps_down(tmp_path: Path) -> None:
    src = tone((440.0, 660.0), seconds=20.0, sr=44_100)
    big = media.encode_audio(src, "flac")
    data, fmt = media.encode_to_fit(src, max_bytes=len(big) // 5, fmt="flac")
    assert len(data) <= len(big) // 5 and fmt in ("mp3", "ogg")
    with pytest.raises(MediaError, match="upload limit"):
        media.encode_to_fit(src, max_bytes=1000)


# --- limits, checked before decoding ------------------------------------------------------------


@pytest.fixture(scope="module")
def long_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 h 03 min of near-silence (FLAC of 8 kHz silence: under 1 MB, made in ~1 s)."""
    path = tmp_path_factory.mktemp("long") / "meeting.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7380", "-c:a", "flac", str(path))
    return path


def test_duration_limit_is_checked_before_decoding(long_flac: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = RunSpy(monkeypatch)
    t0 = time.perf_counter()
    info = media.probe(long_flac)
    assert info.duration == pytest.approx(7380, abs=1)
    with pytest.raises(MediaError) as err:
        media.check_limits(info, max_bytes=25 * 1024 * 1024, max_seconds=600)
    assert str(err.value) == "The clip is 2 h 03 min long; the limit is 10 min."

    with pytest.raises(MediaError, match="2 h 03 min long"):
        media.decode_audio(long_flac, sample_rate=16_000, max_seconds=600)
    elapsed = time.perf_counter() - t0
    assert spy.decodes == []  # nothing was decoded at all
    assert elapsed < 3.0  # decoding 2 h would take far longer

    # the same file within the limit decodes (proves the spy sees real decodes)
    a = media.decode_audio(long_flac, sample_rate=1000, max_seconds=8000)
    assert a.duration == pytest.approx(7380, abs=1) and len(spy.decodes) == 1


def test_size_limit_is_checked_before_decoding(long_flac: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = RunSpy(monkeypatch)
    info = media.probe(long_flac)
    with pytest.raises(MediaError) as err:
        media.check_limits(info, max_bytes=100 * 1024, max_seconds=10_000)
    msg = str(err.value)
    assert msg.startswith("The file is ") and msg.endswith("; the limit is 100 KB.")
    one_sentence(msg)
    assert spy.decodes == []
    media.check_limits(info, max_bytes=10 * 1024 * 1024, max_seconds=8000)  # within both


def test_limit_without_duration_header_stops_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Browser-recorded WebM (written to a pipe) has no duration: ffmpeg stops at the limit."""
    path = tmp_path / "rec.webm"
    with path.open("wb") as fh:
        subprocess.run([media.ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", "sine=f=300:d=40",
                        "-c:a", "libopus", "-f", "webm", "pipe:1"], stdout=fh, check=True)
    assert media.probe(path).duration is None
    spy = RunSpy(monkeypatch)
    with pytest.raises(MediaError, match="longer than the 10 s limit"):
        media.decode_audio(path, max_seconds=10)
    (decode,) = spy.decodes
    assert float(decode[decode.index("-t") + 1]) < 11
    assert media.decode_audio(path, max_seconds=60).duration == pytest.approx(40, abs=0.1)


def test_format_duration_and_size() -> None:
    assert media.format_duration(4.2) == "4.2 s"
    assert media.format_duration(42) == "42 s"
    assert media.format_duration(600) == "10 min"
    assert media.format_duration(245) == "4 min 05 s"
    assert media.format_duration(7380) == "2 h 03 min"
    assert media.format_size(25 * 1024 * 1024) == "25 MB"
    assert media.format_size(1536) == "1.5 KB"


# --- bad input --------------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.ogg"
    path.write_bytes(b"")
    for call in (media.probe, media.decode_audio):
        with pytest.raises(MediaError) as err:
            call(path)
        assert str(err.value) == "That file is empty."
    with pytest.raises(MediaError, match="empty"):
        media.decode_audio_bytes(b"")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="missing"):
        media.probe(tmp_path / "nope.wav")


def test_truncated_file_decodes_what_is_there(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Chosen behaviour: keep the decodable part and log a warning; refuse only when nothing decodes."""
    full = media.encode_audio(tone(seconds=10.0, sr=16_000), "flac")
    cut = tmp_path / "cut.flac"
    cut.write_bytes(full[: len(full) // 2])
    assert media.probe(cut).duration == pytest.approx(10.0, abs=0.05)  # the header still says 10 s
    with caplog.at_level(logging.WARNING, logger="audiogpt.core.media"):
        a = media.decode_audio(cut)
    assert 3.0 < a.duration < 6.0
    assert "cut short" in caplog.text

    wav = media.encode_audio(tone(seconds=4.0, sr=16_000), "wav")
    half = tmp_path / "half.wav"
    half.write_bytes(wav[: len(wav) // 2 + 1])  # odd byte count: a split sample at the end
    assert media.decode_audio(half).duration == pytest.approx(2.0, abs=0.01)

    header_only = tmp_path / "header.wav"
    header_only.write_bytes(wav[:44])
    with pytest.raises(MediaError) as err:
        media.decode_audio(header_only)
    one_sentence(str(err.value))

    m4a = media.encode_audio(tone(seconds=4.0, sr=16_000), "m4a")
    cut_m4a = tmp_path / "cut.m4a"
    cut_m4a.write_bytes(m4a[: len(m4a) // 3])  # faststart: index kept, most samples gone
    try:
        got = media.decode_audio(cut_m4a)
        assert got.duration < 4.0
    except MediaError as exc:
        one_sentence(str(exc))
    no_index = tmp_path / "noindex.m4a"
    no_index.write_bytes(m4a[:24])
    with pytest.raises(MediaError, match="M4A file is damaged or cut short"):
        media.probe(no_index)


def test_png_renamed_wav(tmp_path: Path) -> None:
    png = tmp_path / "real.png"
    ffmpeg("-f", "lavfi", "-i", "testsrc=d=1:s=64x48", "-frames:v", "1", str(png))
    fake = tmp_path / "song.wav"
    fake.write_bytes(png.read_bytes())
    assert media.sniff(fake.read_bytes(), name=fake.name) == ("image", "image/png")
    info = media.probe(fake)
    assert (info.kind, info.mime, info.width, info.height, info.duration) == ("image", "image/png", 64, 48, None)
    with pytest.raises(MediaError) as err:
        media.decode_audio(fake)
    assert str(err.value) == "That file is not audio I can read (it looks like a PNG image)."


def test_random_bytes_named_mp3(tmp_path: Path) -> None:
    rng = np.random.default_rng(1234)
    data = bytearray(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    data[0] = 0x00  # no accidental MPEG frame sync at offset 0
    path = tmp_path / "track.mp3"
    path.write_bytes(bytes(data))
    assert media.sniff(bytes(data), name=path.name) == ("audio", "audio/mpeg")  # only the name says so
    for call in (media.probe, media.decode_audio):
        with pytest.raises(MediaError) as err:
            call(path)
        msg = str(err.value)
        assert ".mp3" in msg and "not audio I can read" in msg
        one_sentence(msg)


def test_text_and_documents_are_refused_by_name(tmp_path: Path) -> None:
    txt = tmp_path / "voice.ogg"
    txt.write_text("please transcribe my voice message\n")
    with pytest.raises(MediaError) as err:
        media.probe(txt)
    assert str(err.value) == "That file is not audio I can read (it looks like plain text)."
    pdf = tmp_path / "x.wav"
    pdf.write_bytes(b"%PDF-1.4\n" + b"\0" * 100)
    with pytest.raises(MediaError, match="a PDF document"):
        media.decode_audio(pdf)


# --- waveform -----------------------------------------------------------------------------------


def test_waveform_summary() -> None:
    ramp = Audio(np.linspace(0, 1, 48_000, dtype=np.float32), 48_000)
    w = media.waveform_summary(ramp)
    assert len(w) == 256 and w[-1] == 255 and w[0] < 3
    assert all(b >= a for a, b in itertools.pairwise(w))
    assert media.waveform_summary(Audio(np.zeros(1000, np.float32), 8000)) == bytes(256)
    short = media.waveform_summary(Audio(np.array([0.1, -0.5, 0.2], np.float32), 8000), points=8)
    assert len(short) == 8 and max(short) == 255
    stereo = media.waveform_summary(tone((440.0, 660.0), seconds=0.5), points=16)
    assert len(stereo) == 16 and min(stereo) > 200


def test_media_info_is_frozen() -> None:
    info = MediaInfo("audio", "audio/wav", 10, 1.0, 8000, 1, "pcm_s16le", None, None)
    with pytest.raises(AttributeError):
        info.size = 5  # type: ignore[misc]
    assert info.has_audio
