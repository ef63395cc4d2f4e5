"""The one ffmpeg binary the whole project runs, and the only way it is told to read an input.

Both ``core.media`` (audio people send and receive) and the model backends
(talking-head video muxing) start ffmpeg, and ``models`` may not import
``core``; so the lookup lives here, at the top of the package, importing
nothing from either layer.

The binary is the static build ``imageio-ffmpeg`` ships (no system install
needed); ``AUDIOGPT_FFMPEG`` names another one.

Why :func:`input_args` exists: left to itself ffmpeg guesses an input's format
from its content and name, and some of the formats it can guess are programs,
not media. An HLS playlist, a concat script or a DASH manifest makes ffmpeg open
*other* files named inside it, for example another conversation's upload
elsewhere on the server. So every input is opened with the one demuxer its
sniffed type maps to (``-f``), a ``-format_whitelist`` of just that demuxer (so
nothing nested can switch to another one) and a ``-protocol_whitelist`` of
``file,pipe`` (no network, no ``concat:``/``subfile:`` tricks).
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence

ENV_OVERRIDE = "AUDIOGPT_FFMPEG"
# Local files and our own pipes: never http, tcp, concat:, subfile:, data: ...
SAFE_PROTOCOLS = "file,pipe"


class FFmpegMissing(RuntimeError):
    """No ffmpeg binary can be found. ``str()`` is one sentence for a person."""


@functools.lru_cache(maxsize=1)
def _bundled_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a base dependency
        raise FFmpegMissing("Audio and video support is not installed on this server (imageio-ffmpeg is missing).") \
            from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary to run (``AUDIOGPT_FFMPEG`` wins over the bundled build).

    The override is read on every call (a test or a deployment may set it
    late); only the bundled lookup, which asks the filesystem, is cached.
    """
    override = os.environ.get(ENV_OVERRIDE, "").strip()
    return override or _bundled_exe()


def ffmpeg_available() -> bool:
    """True when :func:`ffmpeg_exe` can answer, without starting ffmpeg (cheap, for availability lines)."""
    if os.environ.get(ENV_OVERRIDE, "").strip():
        return True
    try:
        return importlib.util.find_spec("imageio_ffmpeg") is not None
    except (ImportError, ValueError):
        return False


def input_args(demuxer: str, source: str, *, options: Sequence[str] = (),
               protocols: str = SAFE_PROTOCOLS) -> list[str]:
    """``-f DEMUXER -format_whitelist DEMUXER -protocol_whitelist file,pipe [OPTIONS] -i SOURCE``.

    ``demuxer`` is an ffmpeg demuxer name as ``ffmpeg -demuxers`` lists it
    (``wav``, ``mov,mp4,m4a,3gp,3g2,mj2``, ``matroska,webm`` ...); the whole
    name goes to the whitelist and its first alias to ``-f``. ``options`` are
    further input options (``-ar 16000`` for raw PCM, ``-s 512x512`` for raw video).
    """
    if not demuxer or any(c.isspace() for c in demuxer):
        raise ValueError(f"not a demuxer name: {demuxer!r}")
    return ["-f", demuxer.split(",", 1)[0], "-format_whitelist", demuxer, "-protocol_whitelist", protocols,
            *options, "-i", source]
