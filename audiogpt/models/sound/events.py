"""Per-window class scores -> timed events (label, start, end, confidence).

Shared by every detector (YAMNet patches, AST or CLAP windows): each gives a
score per label per window, windows start every ``hop`` seconds and last
``length`` seconds. Decoding is double-threshold hysteresis: a segment needs one
window at ``onset`` or above and extends, both ways, over neighbours at
``offset`` or above; gaps of at most ``max_gap`` seconds are bridged (a
beeping alarm is one event, not six). Times are window centres +- half a hop,
then, where a level track is given, each boundary is moved to the nearest
jump in level within 3/4 of a window (the windows smear boundaries by ~0.5 s).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

ONSET = 0.5
OFFSET = 0.3
MAX_GAP_S = 0.5
MIN_PEAK = ONSET


@dataclass
class Scores:
    """Per-window class scores over a recording (any detector).

    ``probs[i]`` belongs to the window starting at ``i * hop`` seconds and
    lasting ``length`` seconds (YAMNet: 0.48 / 0.96); its centre is the natural
    time stamp. ``level_db`` is the level of each 10 ms frame (for boundary
    refinement and caption loudness).
    """

    probs: np.ndarray  # (N, 521) float32 in [0, 1]
    labels: list[str]
    duration: float  # seconds of the recording
    level_db: np.ndarray | None = None  # level per 10 ms frame (see events.level_track)
    hop: float = 0.48  # seconds between window starts
    length: float = 0.96  # seconds each window hears

    @property
    def centres(self) -> np.ndarray:
        return np.arange(self.probs.shape[0]) * self.hop + self.length / 2

    def index(self, label: str) -> int:
        return self.labels.index(label)


@dataclass(frozen=True)
class Event:
    """One occurrence of a sound: seconds from the start of the clip, peak score in [0, 1]."""

    label: str
    start: float
    end: float
    confidence: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.update(start=round(self.start, 2), end=round(self.end, 2), confidence=round(self.confidence, 2))
        return d


def segments(p: np.ndarray, onset: float = ONSET, offset: float = OFFSET, max_gap: int = 1) -> list[tuple[int, int]]:
    """``[(first, last)]`` window indices (inclusive) of hysteresis segments of track ``p``."""
    above = p >= offset
    runs: list[tuple[int, int]] = []
    i, n = 0, p.size
    while i < n:
        if not above[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and above[j + 1]:
            j += 1
        if float(p[i : j + 1].max()) >= onset:
            runs.append((i, j))
        i = j + 1
    merged: list[tuple[int, int]] = []
    for a, b in runs:
        if merged and a - merged[-1][1] - 1 <= max_gap:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged


def decode(track: np.ndarray, label: str, *, hop: float, length: float, duration: float,
           onset: float = ONSET, offset: float = OFFSET, max_gap_s: float = MAX_GAP_S,
           level: np.ndarray | None = None, level_hop: float = 0.01) -> list[Event]:
    """Events of one label from its score track (window ``i`` starts at ``i * hop``)."""
    gap = round(max_gap_s / hop)
    out: list[Event] = []
    for a, b in segments(track, onset, offset, gap):
        start = a * hop + length / 2 - hop / 2
        end = b * hop + length / 2 + hop / 2
        if a == 0:
            start = 0.0
        if b == track.size - 1:
            end = duration
        if level is not None:
            # a window fires when the sound touches any part of it: look up to 3/4 of a window away
            start = refine(level, start, level_hop, rising=True, reach=0.75 * length)
            end = refine(level, end, level_hop, rising=False, reach=0.75 * length)
        start, end = max(0.0, start), min(duration, end)
        if end - start <= 0:
            continue
        out.append(Event(label, start, end, float(track[a : b + 1].max())))
    return out


def refine(level_db: np.ndarray, t: float, hop: float, *, rising: bool, reach: float) -> float:
    """Move boundary ``t`` to the largest level step (rising for an onset) within ``reach`` s.

    ``level_db`` is a smoothed level track in dB. When no step of at least 6 dB
    exists nearby (a sound fading in over noise), ``t`` stays where it was.
    """
    n = level_db.size
    i0 = max(1, int((t - reach) / hop))
    i1 = min(n - 1, int((t + reach) / hop))
    if i1 - i0 < 2:
        return t
    lag = max(1, int(0.05 / hop))
    seg = np.arange(i0, i1)
    lo = np.clip(seg - lag, 0, n - 1)
    hi = np.clip(seg + lag, 0, n - 1)
    step = level_db[hi] - level_db[lo]
    if not rising:
        step = -step
    k = int(np.argmax(step))
    if step[k] < 6.0:
        return t
    return float(seg[k] * hop)


def level_track(x: np.ndarray, rate: int, hop_s: float = 0.01, smooth_s: float = 0.03) -> np.ndarray:
    """Level in dB per ``hop_s`` frame (RMS, lightly smoothed), for boundary refinement."""
    hop = max(1, int(hop_s * rate))
    n = x.size // hop
    if n == 0:
        return np.zeros(0, np.float32)
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop).astype(np.float64) ** 2, axis=1) + 1e-10)
    k = max(1, int(smooth_s / hop_s))
    rms = np.convolve(rms, np.ones(k) / k, mode="same")
    return (20 * np.log10(rms + 1e-10)).astype(np.float32)


def prominence(events: list[Event]) -> float:
    """How much of the clip a label fills, weighted by confidence (ranks labels)."""
    return float(sum(e.duration * e.confidence for e in events))


def format_time(t: float) -> str:
    """Seconds as "4.3 s" or "1:02:05.3" for long recordings."""
    if t < 60:
        return f"{t:.1f} s"
    h, rem = divmod(t, 3600)
    m, s = divmod(rem, 60)
    return f"{int(h)}:{int(m):02d}:{s:04.1f}" if h else f"{int(m)}:{s:04.1f}"


def format_span(e: Event) -> str:
    return f"{format_time(e.start).removesuffix(' s')}-{format_time(e.end)}"
