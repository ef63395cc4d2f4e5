"""Input checks and limits the sound backends share, so every tool refuses the same way."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from audiogpt.models.base import Audio, BadInput

MIN_SECONDS = 0.1  # shorter than one 10 ms-hop analysis frame pile-up: nothing to analyse
MAX_ANALYSE_S = 4 * 3600.0  # detection/captioning stream in chunks; beyond this the answer is a refusal
MAX_EXTRACT_S = 20 * 60.0  # extraction writes two full-length files and holds the STFT in memory
SILENCE_PEAK = 1e-4  # -80 dBFS: digital silence


def check_audio(audio: object, what: str, max_seconds: float = MAX_ANALYSE_S) -> Audio:
    """The clip, or :class:`BadInput` with one sentence (no audio, empty, too short, too long)."""
    if not isinstance(audio, Audio):
        raise BadInput(f"{what} needs an audio clip.")
    if audio.frames == 0 or audio.sample_rate <= 0:
        raise BadInput("The audio clip is empty.")
    if audio.duration < MIN_SECONDS:
        raise BadInput(f"The clip is only {audio.duration * 1000:.0f} ms long; {what.lower()} needs at least "
                       f"{MIN_SECONDS:.1f} s of audio.")
    if audio.duration > max_seconds:
        raise BadInput(f"The clip is {audio.duration / 60:.0f} minutes long; {what.lower()} takes up to "
                       f"{max_seconds / 60:.0f} minutes.")
    return audio


def peak(audio: Audio, block: int = 1 << 20) -> float:
    """Largest absolute sample, in slices (no full-size temporary for long clips)."""
    flat = audio.samples.reshape(-1)
    best = 0.0
    for s in range(0, flat.size, block):
        best = max(best, float(np.max(np.abs(flat[s : s + block]))))
    return best


def is_silent(audio: Audio) -> bool:
    return peak(audio) < SILENCE_PEAK


def short_note(audio: Audio) -> str:
    """A caveat for clips shorter than the detector's 0.96 s window."""
    if audio.duration < 1.5:
        return (f" The clip is only {audio.duration:.1f} s long, about one analysis window, "
                "so times are coarse.")
    return ""


def window_count(duration: float, window_s: float, hop_s: float) -> int:
    """Windows of ``window_s`` every ``hop_s`` that cover ``duration`` (the last one may run past the end)."""
    return 1 + int(np.ceil(max(0.0, duration - window_s) / hop_s - 1e-9))


def iter_windows(audio: Audio, rate: int, window_s: float, hop_s: float, batch: int = 16,
                 levels: list[np.ndarray] | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """``(first index, (B, window) array)`` batches of mono windows resampled to ``rate``.

    The recording is read and resampled one batch span at a time (plus one
    window of overlap), so a long file never exists twice in memory. Windows
    past the end are zero-padded. With ``levels``, the 10 ms level track of each
    span is appended to it (for boundary refinement).
    """
    from audiogpt.models.sound.events import level_track
    from audiogpt.models.speech.dsp import to_mono_rate

    sr = int(audio.sample_rate)
    n = window_count(audio.duration, window_s, hop_s)
    win = round(window_s * rate)
    for first in range(0, n, batch):
        count = min(batch, n - first)
        t0 = first * hop_s
        span = (count - 1) * hop_s + window_s
        piece = audio.samples[..., round(t0 * sr) : round((t0 + span) * sr)]
        x = to_mono_rate(Audio(np.asarray(piece, dtype=np.float32), sr), rate)
        if levels is not None:
            own = x if first + count >= n else x[: round(count * hop_s * rate)]
            levels.append(level_track(own, rate))
        need = round((count - 1) * hop_s * rate) + win
        if x.size < need:
            x = np.pad(x, (0, need - x.size))
        starts = [round(i * hop_s * rate) for i in range(count)]
        yield first, np.stack([x[s : s + win] for s in starts])
