"""Write the tiny media files the eval suite attaches (run: python tests/eval/make_media.py).

Why synthetic: the eval dry-run checks which tools the engine calls, not what the
models return, so a few seconds of tones and noise stand in for real recordings
and keep the repository small (all files together well under 1 MB). Deterministic
(fixed seed) so the files do not change on every run.
"""

from __future__ import annotations

import struct
import wave
import zlib
from pathlib import Path

import numpy as np

SR = 16_000
HERE = Path(__file__).resolve().parent / "media"


def _write_wav(path: Path, x: np.ndarray) -> None:
    x = np.clip(x, -1.0, 1.0)
    pcm = (x * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(pcm.tobytes())


def _voice(t: np.ndarray, f0: float) -> np.ndarray:
    """A vowel-like harmonic tone with a syllable-rate envelope (stands in for speech)."""
    pitch = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * 4 * t)) ** 2
    return 0.25 * x * env


def _png(path: Path, rgb: np.ndarray) -> None:
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].astype(np.uint8).tobytes() for y in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    t = np.arange(int(1.5 * SR)) / SR
    voice = _voice(t, 120)
    _write_wav(HERE / "voice.wav", voice)
    _write_wav(HERE / "noisy_voice.wav", voice + 0.15 * rng.standard_normal(t.size))
    _write_wav(HERE / "meeting.wav", 0.6 * voice + 0.6 * _voice(t + 0.13, 210))
    street = 0.05 * rng.standard_normal(t.size)
    street[4000:8000] += 0.4 * np.sign(np.sin(2 * np.pi * 900 * t[4000:8000]))  # a beep / horn
    _write_wav(HERE / "street.wav", street)
    gap = voice.copy()
    gap[int(0.6 * SR) : int(0.9 * SR)] = 0.0
    _write_wav(HERE / "gap.wav", gap)
    beat = (np.sin(2 * np.pi * 220 * t) + 0.5 * np.sin(2 * np.pi * 330 * t)) * (np.mod(t, 0.5) < 0.25)
    _write_wav(HERE / "song.wav", 0.3 * beat)
    yy, xx = np.mgrid[0:48, 0:48]
    face = np.zeros((48, 48, 3))
    face[...] = (200, 220, 240)
    face[(yy - 24) ** 2 + (xx - 24) ** 2 < 18**2] = (230, 190, 160)
    face[(yy - 19) ** 2 + (xx - 17) ** 2 < 6] = (40, 40, 40)
    face[(yy - 19) ** 2 + (xx - 31) ** 2 < 6] = (40, 40, 40)
    face[(yy == 32) & (abs(xx - 24) < 7)] = (150, 60, 60)
    _png(HERE / "face.png", face)
    beach = np.zeros((48, 48, 3))
    beach[:20] = (120, 180, 250)
    beach[20:32] = (30, 90, 170)
    beach[32:] = (230, 210, 150)
    _png(HERE / "beach.png", beach)


if __name__ == "__main__":
    main()
