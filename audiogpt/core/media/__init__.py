"""Decoding and encoding the audio people send and receive, through ffmpeg.

One module per job; this package re-exports their public names so callers
keep writing ``from audiogpt.core.media import decode_audio``:

- :mod:`.formats`: the mime tables, and which ffmpeg demuxer may read each type
- :mod:`.sniffing`: what a file is, from its first bytes
- :mod:`.probing`: :func:`probe` (headers only) and :class:`MediaInfo`
- :mod:`.limits`: size, duration, sample and pixel budgets, and their wording
- :mod:`.decoding` / :mod:`.encoding`: samples in, files out
- :mod:`.voice`: what platforms need (Discord voice messages, fitting upload limits)
- :mod:`.process`: running ffmpeg; the binary itself is found by :mod:`audiogpt.ffmpeg`,
  the one lookup the whole project (models included) uses

The order of work for a file a user sent is: :func:`sniff` the first bytes
(cheap, catches a PNG renamed ``.wav``), :func:`probe` (headers only, by the
one demuxer the sniffed type allows), :func:`check_limits` (size and duration,
before decoding), then :func:`decode_audio`. ffmpeg never guesses a format:
every input is opened with an explicit demuxer, a format whitelist and the
``file,pipe`` protocols only, and playlists, concat scripts and manifests are
refused outright (they would make ffmpeg open other files on the server).
Every failure is a :class:`MediaError` whose ``str()`` is one plain sentence
that can be shown to a chat user; the technical reason goes to the log.
"""

from __future__ import annotations

from audiogpt.core.media.decoding import (
    DECODE_TIMEOUT_S,
    audio_from_wav_bytes,
    decode_audio,
    decode_audio_bytes,
)
from audiogpt.core.media.encoding import FORMATS, canonical_format, encode_audio, format_info
from audiogpt.core.media.errors import MediaError
from audiogpt.core.media.formats import POINTER_FORMATS
from audiogpt.core.media.limits import (
    DURATION_TOLERANCE_S,
    MAX_DECODE_RATE,
    MAX_DECODE_SAMPLES,
    check_limits,
    format_duration,
    format_size,
)
from audiogpt.core.media.probing import PROBE_TIMEOUT_S, MediaInfo, probe, probe_bytes
from audiogpt.core.media.sniffing import sniff
from audiogpt.core.media.voice import (
    VoiceMessage,
    encode_to_fit,
    encode_voice_message,
    waveform_summary,
)
from audiogpt.ffmpeg import ffmpeg_exe
from audiogpt.image_header import MAX_IMAGE_PIXELS


def configure_pydub() -> None:
    """Point pydub at our ffmpeg, for code that prefers pydub's API (this package does not need it)."""
    from pydub import AudioSegment

    AudioSegment.converter = ffmpeg_exe()


__all__ = [
    "DECODE_TIMEOUT_S", "DURATION_TOLERANCE_S", "FORMATS", "MAX_DECODE_RATE", "MAX_DECODE_SAMPLES",
    "MAX_IMAGE_PIXELS", "POINTER_FORMATS", "PROBE_TIMEOUT_S", "MediaError", "MediaInfo", "VoiceMessage", "audio_from_wav_bytes",
    "canonical_format", "check_limits", "configure_pydub", "decode_audio", "decode_audio_bytes", "encode_audio",
    "encode_to_fit", "encode_voice_message", "ffmpeg_exe", "format_duration", "format_info", "format_size",
    "probe", "probe_bytes", "sniff", "waveform_summary",
]
