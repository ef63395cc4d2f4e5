"""ffmpeg never guesses a format: pointer files are refused, every input names its one demuxer.

Real ffmpeg on real bytes. The attacks are the ones from the hardening issue:
a playlist or concat script that, with one NUL byte, slips past the text check
and makes ffmpeg open another file on the server.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from audiogpt.core import media
from audiogpt.core.media import MediaError, process
from audiogpt.core.media.formats import DEMUXERS
from audiogpt.ffmpeg import SAFE_PROTOCOLS
from audiogpt.models.base import Audio


def one_sentence(msg: str) -> None:
    assert msg and "\n" not in msg and msg.endswith("."), msg
    assert "ffmpeg" not in msg.lower() and "Traceback" not in msg


class ArgvSpy:
    """Every ffmpeg command line core.media builds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[list[str]] = []
        real = process.argv

        def spy(args, **kw):  # type: ignore[no-untyped-def]
            self.calls.append(list(args))
            return real(args, **kw)

        monkeypatch.setattr(process, "argv", spy)


@pytest.fixture()
def secret(tmp_path: Path) -> Path:
    """Another conversation's upload, somewhere else on the server."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "s.mp3"
    t = np.arange(8000) / 8000
    path.write_bytes(media.encode_audio(Audio((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 8000), "mp3"))
    return path


def hls_playlist(target: Path, size: int = 99) -> bytes:
    """An HLS playlist naming ``target``, padded to ``size`` bytes, with one NUL byte at the end."""
    body = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{target}\n#EXT-X-ENDLIST\n".encode()
    assert len(body) < size, "the test's tmp path is too long for a 99-byte playlist"
    return body + b"\n" * (size - len(body) - 1) + b"\0"


def test_99_byte_m3u_with_a_nul_byte_is_refused_before_ffmpeg_runs(
    tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # keep the target path short enough for the 99 bytes of the issue
    link = Path("/tmp") / f"agm{abs(hash(tmp_path)) % 10**6}.mp3"
    link.unlink(missing_ok=True)
    link.symlink_to(secret)
    try:
        data = hls_playlist(link)
        assert len(data) == 99 and data.count(b"\0") == 1
        spy = ArgvSpy(monkeypatch)
        for name in ("list.m3u", "voice.mp3", "clip"):  # by content, whatever it is called
            path = tmp_path / name
            path.write_bytes(data)
            for call in (media.probe, media.decode_audio):
                with pytest.raises(MediaError) as err:
                    call(path)
                assert str(err.value) == (
                    "That file is an M3U playlist, which only points to other files; send the audio itself."
                )
                one_sentence(str(err.value))
            with pytest.raises(MediaError, match="playlist"):
                media.decode_audio_bytes(data, name)
        assert spy.calls == []  # ffmpeg never started, so it never opened the file the playlist names
        assert media.sniff(data, "list.m3u") == ("other", "audio/mpegurl")  # not 'audio' for anyone downstream
    finally:
        link.unlink(missing_ok=True)


def test_the_whitelist_alone_stops_a_playlist_from_opening_another_file(tmp_path: Path, secret: Path) -> None:
    """Belt and braces: were sniffing ever fooled, the one allowed demuxer cannot hand over to HLS."""
    path = tmp_path / "list.m3u"
    path.write_bytes(hls_playlist(secret, size=len(str(secret)) + 80))
    guessed = subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    assert "Audio: mp3" in guessed.stderr  # what the old code let happen: the secret's stream
    from audiogpt.ffmpeg import input_args

    pinned = subprocess.run([media.ffmpeg_exe(), "-hide_banner", *input_args("mp3", str(path))],
                            capture_output=True, text=True)
    assert "Audio:" not in pinned.stderr and "Opening" not in pinned.stderr


@pytest.mark.parametrize(
    ("name", "body", "phrase"),
    [
        ("clip.wav", b"ffconcat version 1.0\nfile 's.mp3'\n\0", "an ffmpeg concat script"),
        ("clip.ogg", b"# made by hand\nfile 's.mp3'\n\0", "an ffmpeg concat script"),
        ("x.ffconcat", b"\0\x01\x02 not text at all", "an ffmpeg concat script"),
        ("stream.mp4", b"<?xml version='1.0'?>\n<MPD xmlns='urn:mpeg:dash:schema:mpd:2011'>\0</MPD>",
         "a DASH streaming manifest"),
        ("radio.mp3", b"[playlist]\nFile1=s.mp3\nNumberOfEntries=1\n\0", "a PLS playlist"),
        ("live.m4a", b"\xef\xbb\xbf#EXT-X-VERSION:3\n#EXTINF:1,\ns.mp3\n\0", "an HLS playlist"),
        ("cam.mp3", b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nm=audio 5004 RTP/AVP 96\n\0", "an SDP stream description"),
    ],
)
def test_concat_scripts_and_manifests_are_refused(tmp_path: Path, secret: Path, monkeypatch: pytest.MonkeyPatch,
                                                  name: str, body: bytes, phrase: str) -> None:
    path = secret.parent / name  # next to the file it names, where a relative path would reach it
    path.write_bytes(body)
    spy = ArgvSpy(monkeypatch)
    with pytest.raises(MediaError) as err:
        media.decode_audio(path)
    assert str(err.value) == f"That file is {phrase}, which only points to other files; send the audio itself."
    assert spy.calls == []


def test_a_name_alone_never_gets_a_file_decoded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No magic bytes, no ffmpeg: the extension only chooses the wording of the refusal."""
    rng = np.random.default_rng(7)
    data = b"\0" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes()
    spy = ArgvSpy(monkeypatch)
    for name in ("song.mp3", "a.aac", "x.ts"):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(MediaError, match=f"called \\{Path(name).suffix} but is not audio I can read"):
            media.probe(path)
    assert spy.calls == []


def test_id3_then_random_bytes_is_not_audio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ffmpeg's MP3 demuxer 'opens' half a megabyte of noise after a tag; the first frame is checked instead."""
    rng = np.random.default_rng(3)
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x00"  # an empty ID3v2.4 tag: frames should start right after it
    path = tmp_path / "song.mp3"
    path.write_bytes(tag + rng.integers(0, 256, 500_000, dtype=np.uint8).tobytes())
    spy = ArgvSpy(monkeypatch)
    with pytest.raises(MediaError) as err:
        media.probe(path)
    assert str(err.value) == "That MP3 file is damaged or cut short, so I could not read it."
    assert spy.calls == []
    with pytest.raises(MediaError, match="damaged"):
        media.decode_audio(path)

    real = media.encode_audio(Audio(np.zeros(16_000, np.float32) + 0.01, 16_000), "mp3")
    assert real[:3] == b"ID3"  # ffmpeg's MP3 muxer writes a tag: that file still reads
    good = tmp_path / "real.mp3"
    good.write_bytes(real)
    assert media.decode_audio(good).duration == pytest.approx(1.0, abs=0.06)


def _ffmpeg(*args: str) -> None:
    subprocess.run([media.ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", *args], check=True)


def test_real_files_decode_through_their_one_demuxer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """wav, ogg, mp3, flac, m4a, webm, mp4 still decode, and no ffmpeg input is ever left to guessing."""
    src = Audio((0.4 * np.sin(2 * np.pi * 500 * np.arange(32_000) / 16_000)).astype(np.float32), 16_000)
    files = {}
    for fmt in ("wav", "ogg", "mp3", "flac", "m4a"):
        files[fmt] = tmp_path / f"a{media.format_info(fmt)[1]}"
        files[fmt].write_bytes(media.encode_audio(src, fmt))
    files["webm"] = tmp_path / "a.webm"
    _ffmpeg("-f", "lavfi", "-i", "sine=f=500:d=2", "-c:a", "libopus", str(files["webm"]))
    files["mp4"] = tmp_path / "v.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=d=2:s=160x120", "-f", "lavfi", "-i", "sine=f=500:d=2", "-shortest",
            "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", str(files["mp4"]))

    spy = ArgvSpy(monkeypatch)
    for path in files.values():
        a = media.decode_audio(path, sample_rate=16_000)
        assert a.duration == pytest.approx(2.0, abs=0.08), path.name
        spec = np.abs(np.fft.rfft(a.samples[4000:20000]))
        assert np.argmax(spec) * 16_000 / 16_000 == pytest.approx(500, abs=3), path.name
    media.encode_audio(src, "ogg")

    assert spy.calls
    for call in spy.calls:
        assert "-i" in call
        i = call.index("-i")
        before = call[:i]
        assert "-f" in before and "-format_whitelist" in before and "-protocol_whitelist" in before, call
        demuxer = before[before.index("-format_whitelist") + 1]
        assert demuxer in {*DEMUXERS.values(), "f32le"}
        assert before[before.index("-f") + 1] == demuxer.split(",")[0]
        assert before[before.index("-protocol_whitelist") + 1] in (SAFE_PROTOCOLS, "pipe", "file")
