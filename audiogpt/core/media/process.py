"""Running ffmpeg for core.media: one-shot calls, and decoded samples streamed into a bounded array.

The binary itself is found by :mod:`audiogpt.ffmpeg`, the project's one lookup.
This module turns the ways a run can fail (no binary, a hang, a crash) into
:class:`MediaError` sentences, and keeps decoding memory proportional to the
output: samples are read from ffmpeg's stdout straight into a preallocated
float32 array (de-interleaved chunk by chunk), never collected as one huge
``bytes`` object and copied again, and reading stops at a hard frame cap.

Every ffmpeg command line of core.media is built by :func:`argv`, so a test
can watch (or a deployment can log) exactly what runs.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

import numpy as np

from audiogpt.core.media.errors import MediaError
from audiogpt.ffmpeg import FFmpegMissing, ffmpeg_exe

log = logging.getLogger(__name__)

_CHUNK_FRAMES = 16_384


def argv(args: Sequence[str], *, stdin: bool = False) -> list[str]:
    """The full command line for ``ffmpeg ARGS`` (``-nostdin`` unless we feed it on stdin)."""
    try:
        exe = ffmpeg_exe()
    except FFmpegMissing as exc:
        raise MediaError(str(exc)) from exc
    return [exe, "-hide_banner", *([] if stdin else ["-nostdin"]), *args]


def run(args: Sequence[str], *, input: bytes | None = None, timeout: float) -> subprocess.CompletedProcess[bytes]:
    """ffmpeg to completion, stdout and stderr captured (probing, encoding: outputs that are small)."""
    cmd = argv(args, stdin=input is not None)
    try:
        return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, check=False,
                              stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        log.warning("ffmpeg timed out after %.0f s: %s", timeout, " ".join(cmd[:16]))
        raise MediaError("Processing that file took too long, so I gave up.") from exc
    except OSError as exc:
        log.error("could not start ffmpeg (%s): %s", cmd[0], exc)
        raise MediaError("Audio support is broken on this server (ffmpeg could not start).") from exc


@dataclass
class Streamed:
    """What :func:`stream_f32` read: ``samples`` is ``(frames,)`` for one channel, else ``(channels, frames)``."""

    samples: np.ndarray
    returncode: int
    stderr: bytes
    overflow: bool  # ffmpeg had more than max_frames to give; reading stopped there

    @property
    def frames(self) -> int:
        return int(self.samples.shape[-1])


def stream_f32(args: Sequence[str], *, channels: int, expect_frames: int, max_frames: int,
               timeout: float) -> Streamed:
    """Run ffmpeg writing raw ``f32le`` to stdout and read it into a float32 array of at most ``max_frames``.

    ``expect_frames`` sizes the first allocation (the header's duration); the
    array grows, by doubling, only if ffmpeg gives more, and never past
    ``max_frames``: beyond that ffmpeg is stopped and ``overflow`` is set.
    """
    cmd = argv(args)
    fired = threading.Event()
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, bufsize=0)
        except OSError as exc:
            log.error("could not start ffmpeg (%s): %s", cmd[0], exc)
            raise MediaError("Audio support is broken on this server (ffmpeg could not start).") from exc

        def _kill() -> None:
            fired.set()
            proc.kill()

        timer = threading.Timer(timeout, _kill)
        timer.daemon = True
        timer.start()
        assert proc.stdout is not None
        try:
            samples, overflow = _read_into(proc.stdout, channels, expect_frames, max_frames)
        finally:
            if proc.poll() is None:
                proc.kill()  # only reached early: overflow, or an exception while reading
            proc.stdout.close()
            rc = proc.wait()
            timer.cancel()
        err.seek(0)
        stderr = err.read()
    if fired.is_set():
        log.warning("ffmpeg timed out after %.0f s: %s", timeout, " ".join(cmd[:16]))
        raise MediaError("Processing that file took too long, so I gave up.")
    return Streamed(samples, rc if not overflow else 0, stderr, overflow)


def _read_into(pipe: IO[bytes], channels: int, expect_frames: int, max_frames: int) -> tuple[np.ndarray, bool]:
    cap = max(1, min(max_frames, expect_frames))
    frame_bytes = 4 * channels
    if channels == 1:
        out = np.empty(cap, dtype="<f4")
        filled = 0  # bytes
        while True:
            if filled == out.nbytes:
                if out.size >= max_frames:
                    return _trim(out, out.size), bool(pipe.read(1))
                out = _grow(out, min(max_frames, 2 * out.size))
            n = pipe.readinto(memoryview(out.view(np.uint8))[filled:])  # type: ignore[attr-defined]
            if not n:
                break
            filled += n
        return _trim(out, filled // frame_bytes), False

    out = np.empty((channels, cap), dtype=np.float32)
    chunk = bytearray(frame_bytes * _CHUNK_FRAMES)
    view = memoryview(chunk)
    frames = fill = 0
    overflow = False
    while True:
        n = pipe.readinto(view[fill:])  # type: ignore[attr-defined]
        if not n:
            break
        fill += n
        whole = fill // frame_bytes
        if not whole:
            continue
        if frames + whole > out.shape[1]:
            if out.shape[1] < max_frames:
                out = _grow(out, min(max_frames, max(2 * out.shape[1], frames + whole)))
            if frames + whole > out.shape[1]:
                whole = out.shape[1] - frames
                overflow = True
        block = np.frombuffer(chunk, dtype="<f4", count=whole * channels).reshape(whole, channels)
        out[:, frames:frames + whole] = block.T
        frames += whole
        if overflow:
            break
        rest = fill - whole * frame_bytes
        chunk[:rest] = chunk[whole * frame_bytes:fill]
        fill = rest
    return _trim(out, frames), overflow


def _grow(out: np.ndarray, frames: int) -> np.ndarray:
    bigger = np.empty((*out.shape[:-1], frames), dtype=out.dtype)
    bigger[..., : out.shape[-1]] = out
    return bigger


def _trim(out: np.ndarray, frames: int) -> np.ndarray:
    """The first ``frames``; a contiguous copy only when the slice is not contiguous or much smaller."""
    if frames == out.shape[-1]:
        return out
    part = out[..., :frames]
    if out.ndim == 1 and 2 * frames >= out.shape[-1]:
        return part  # a contiguous view; the unused tail was never written, so never paged in
    return np.ascontiguousarray(part)
