"""The timeline picture: sound events as labelled bars under the waveform, time in seconds.

matplotlib with the Agg backend (no display, thread-safe when each call owns
its figure). The waveform is drawn from a min/max envelope computed in slices,
so a long recording never needs a second full copy in memory.
"""

from __future__ import annotations

import io

import numpy as np

from audiogpt.models.base import Audio
from audiogpt.models.sound.events import Event

MAX_ROWS = 12
SHADE_MAX = 30
NICE_STEPS_S = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200)
WIDTH_PX = 1200


def envelope(audio: Audio, columns: int = 1000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(times, lows, highs)``: the waveform's min and max over ``columns`` equal slices."""
    n = audio.frames
    columns = max(1, min(columns, n))
    edges = np.linspace(0, n, columns + 1).astype(np.int64)
    lows = np.zeros(columns, np.float32)
    highs = np.zeros(columns, np.float32)
    for i in range(columns):
        piece = audio.samples[..., edges[i] : max(edges[i] + 1, edges[i + 1])]
        if piece.ndim > 1:
            piece = piece.mean(axis=0)
        lows[i], highs[i] = float(piece.min()), float(piece.max())
    times = (edges[:-1] + edges[1:]) / 2 / float(audio.sample_rate)
    return times, lows, highs


def _tick_formatter(duration: float):  # type: ignore[no-untyped-def]
    from matplotlib.ticker import FuncFormatter

    if duration < 120:
        return FuncFormatter(lambda v, _p: f"{v:g}")

    def fmt(v: float, _p: object) -> str:
        h, rem = divmod(int(v + 0.5), 3600)
        m, s = divmod(rem, 60)
        return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"

    return FuncFormatter(fmt)


def render(audio: Audio, events: list[Event], title: str, backend: str) -> bytes:
    """PNG bytes: waveform on top, one row of bars per label below (best label on top)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    duration = max(audio.duration, 1e-3)
    order: list[str] = []
    for e in events:
        if e.label not in order:
            order.append(e.label)
    order = order[:MAX_ROWS]
    rows = max(1, len(order))
    fig = Figure(figsize=(WIDTH_PX / 100, max(3.4, 2.0 + 0.42 * rows)), dpi=100)
    grid = fig.add_gridspec(2, 1, height_ratios=[1.6, 0.42 * rows + 0.3], hspace=0.08)
    wave_ax = fig.add_subplot(grid[0])
    ev_ax = fig.add_subplot(grid[1], sharex=wave_ax)

    t, lo, hi = envelope(audio)
    wave_ax.fill_between(t, lo, hi, color="#4a6fa5", linewidth=0.4)
    peak = max(float(np.max(np.abs(np.concatenate([lo, hi])))), 1e-3)
    wave_ax.set_ylim(-peak * 1.05, peak * 1.05)
    wave_ax.set_yticks([])
    wave_ax.set_ylabel("waveform", fontsize=9)
    wave_ax.set_title(title, fontsize=11, loc="left")
    wave_ax.tick_params(labelbottom=False)
    wave_ax.grid(axis="x", alpha=0.3)

    cmap = matplotlib.colormaps["tab10"]
    for row, label in enumerate(order):
        y = rows - 1 - row
        color = cmap(row % 10)
        for e in (ev for ev in events if ev.label == label):
            ev_ax.barh(y, e.end - e.start, left=e.start, height=0.7, color=color,
                       alpha=0.35 + 0.65 * min(1.0, max(0.0, e.confidence)), edgecolor="black", linewidth=0.5)
            if len(events) <= SHADE_MAX:  # with many events the shading only muddies the waveform
                wave_ax.axvspan(e.start, e.end, color=color, alpha=0.08)
            if (e.end - e.start) / duration > 0.06:
                ev_ax.text(e.start + (e.end - e.start) / 2, y, f"{e.confidence:.2f}", ha="center",
                           va="center", fontsize=7)
    ev_ax.set_yticks(range(rows))
    ev_ax.set_yticklabels(list(reversed(order)) if order else ["(no events)"], fontsize=9)
    ev_ax.set_ylim(-0.6, rows - 0.4)
    ev_ax.set_xlim(0, duration)
    ev_ax.set_xlabel("time (s)" if duration < 120 else "time (h:mm:ss)", fontsize=9)
    ev_ax.xaxis.set_major_formatter(_tick_formatter(duration))
    if duration >= 120:  # whole minutes / hours rather than matplotlib's 1:40, 3:20
        from matplotlib.ticker import MultipleLocator

        step = next((s for s in NICE_STEPS_S if duration / s <= 12), NICE_STEPS_S[-1])
        ev_ax.xaxis.set_major_locator(MultipleLocator(step))
    ev_ax.grid(axis="x", alpha=0.3)
    fig.text(0.995, 0.005, backend, ha="right", va="bottom", fontsize=7, color="#666666")
    fig.subplots_adjust(left=0.16, right=0.985, top=0.9, bottom=0.12 if rows > 2 else 0.2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
