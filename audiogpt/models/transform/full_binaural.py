"""Full binaural rendering: measured HRTFs from a SOFA file, convolved per block (numpy).

A deployment that wants real head-related transfer functions points
``AUDIOGPT_HRTF_SOFA`` at a SOFA file (AES69, ``SimpleFreeFieldHRIR``
convention: e.g. a KEMAR, CIPIC or SADIE II subject). SOFA is netCDF-4, i.e.
HDF5, read with ``h5py``: ``Data.IR`` ``(M, 2, N)`` impulse responses (receiver 0
= left ear), ``SourcePosition`` ``(M, 3)`` in spherical degrees (azimuth
counter-clockwise from the front, so +90 is the *left*; elevation; distance) and
``Data.SamplingRate``. The same variables in a ``.npz`` file are read without
h5py (a SOFA set converted once elsewhere).

Rendering shares the block renderer and the motion words of the lite backend
(:func:`binaural_head.render`, :mod:`motion`): for each frame the direction's HRTF
pair is the nearest measured direction blended (inverse great-circle distance)
with the next two nearest where they lie within 15 degrees;
sets measured at another sample rate are resampled once at load. No room and no
head tracking: a dry, head-locked source.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendResult,
    CheckedBackend,
    ModelNotInstalled,
    OutputFile,
    have_module,
)
from audiogpt.models.transform.binaural_head import binaural_notes, finish, frame_length, render
from audiogpt.models.transform.common import as_channels, check_audio
from audiogpt.models.transform.motion import parse_motion, where_clause

log = logging.getLogger(__name__)

BLEND_WITHIN_DEG = 15.0
MAX_IR = 2048  # longer measured responses are cut (room tails are not HRTFs)


@dataclass
class HrirSet:
    """Measured head-related impulse responses: ``ir`` ``(M, 2, N)``, directions in our convention."""

    ir: np.ndarray
    azimuth: np.ndarray  # degrees, 0 front, +90 right
    elevation: np.ndarray  # degrees
    sample_rate: int
    source: str

    def unit_vectors(self) -> np.ndarray:
        az, el = np.deg2rad(self.azimuth), np.deg2rad(self.elevation)
        return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def _from_arrays(ir: Any, pos: Any, rate: Any, source: str) -> HrirSet:
    ir = np.asarray(ir, dtype=np.float64)
    pos = np.asarray(pos, dtype=np.float64)
    if ir.ndim != 3 or ir.shape[1] != 2 or pos.ndim != 2 or pos.shape[0] != ir.shape[0] or pos.shape[1] < 2:
        raise ModelNotInstalled(f"The HRTF file {source} is not a two-ear SimpleFreeFieldHRIR set "
                                f"(Data.IR {ir.shape}, SourcePosition {pos.shape}).")
    sr = round(float(np.asarray(rate, dtype=np.float64).reshape(-1)[0]))
    # SOFA azimuth is counter-clockwise (+90 = left); ours is clockwise (+90 = right)
    azimuth = (-pos[:, 0] + 180.0) % 360.0 - 180.0
    return HrirSet(ir[:, :, :MAX_IR], azimuth, pos[:, 1], sr, source)


def read_hrirs(path: Path) -> HrirSet:
    """A SOFA (``.sofa``, needs h5py) or ``.npz`` HRIR set; :class:`ModelNotInstalled` when unusable."""
    if not path.is_file():
        raise ModelNotInstalled(f"The HRTF file {path} does not exist.")
    if path.suffix.lower() == ".npz":
        with np.load(path) as z:
            lacking = [k for k in ("Data.IR", "SourcePosition", "Data.SamplingRate") if k not in z.files]
            if lacking:
                raise ModelNotInstalled(f"The HRTF file {path.name} lacks {', '.join(lacking)}.")
            return _from_arrays(z["Data.IR"], z["SourcePosition"], z["Data.SamplingRate"], path.name)
    if not have_module("h5py"):
        raise ModelNotInstalled("Reading a SOFA file needs h5py, which is not installed; pip install h5py, "
                                "or convert the set to .npz.")
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return _from_arrays(f["Data.IR"][()], f["SourcePosition"][()], f["Data.SamplingRate"][()], path.name)
    except (OSError, KeyError) as exc:
        raise ModelNotInstalled(f"The HRTF file {path.name} is not a readable SOFA file ({exc}).") from None


def resample_set(hrirs: HrirSet, rate: int) -> HrirSet:
    """The set at ``rate`` (band-limited FFT resampling of each response)."""
    if hrirs.sample_rate == rate:
        return hrirs
    n = hrirs.ir.shape[-1]
    m = max(1, round(n * rate / hrirs.sample_rate))
    spec = np.fft.rfft(hrirs.ir, axis=-1)
    keep = min(spec.shape[-1], m // 2 + 1)
    out = np.zeros((*spec.shape[:-1], m // 2 + 1), dtype=complex)
    out[..., :keep] = spec[..., :keep]
    ir = np.fft.irfft(out, m, axis=-1) * (m / n)
    return HrirSet(ir, hrirs.azimuth, hrirs.elevation, rate, hrirs.source)


class HrtfFilters:
    """Per-frame HRTF pairs for :func:`binaural_head.render` (nearest / blended measured directions)."""

    def __init__(self, hrirs: HrirSet, nfft: int) -> None:
        self.hrirs = hrirs
        self.vectors = hrirs.unit_vectors()
        self.spectra = np.fft.rfft(hrirs.ir, nfft, axis=-1)  # (M, 2, bins)

    def weights(self, az: np.ndarray, el: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(frames, 3)`` and weights ``(frames, 3)`` of the measured directions used."""
        a, e = np.deg2rad(az), np.deg2rad(el)
        want = np.stack([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)], axis=-1)
        angle = np.rad2deg(np.arccos(np.clip(want @ self.vectors.T, -1.0, 1.0)))  # (frames, M)
        k = min(3, angle.shape[1])
        idx = np.argsort(angle, axis=1)[:, :k]
        dist = np.take_along_axis(angle, idx, axis=1)
        w = 1.0 / np.maximum(dist, 1e-3)
        w[:, 1:] *= dist[:, 1:] <= BLEND_WITHIN_DEG  # only near neighbours join the nearest one
        return idx, w / w.sum(axis=1, keepdims=True)

    def __call__(self, az: np.ndarray, el: np.ndarray, freqs: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        idx, w = self.weights(az, el)
        pair = np.einsum("fk,fkeb->feb", w, self.spectra[idx])
        return pair[:, 0], pair[:, 1]


class SofaHrtfBinaural(CheckedBackend):
    """Binaural rendering with a measured HRTF set (SOFA file) named in configuration."""

    name = "sofa-hrtf-binaural"
    task = "mono_to_binaural"
    kind = "full"
    install_hint = "set AUDIOGPT_HRTF_SOFA to a SimpleFreeFieldHRIR .sofa file (pip install h5py) or a .npz export"
    info_model = "measured HRTFs (SOFA SimpleFreeFieldHRIR)"
    info_licence = "depends on the HRTF set (e.g. SADIE II: Apache-2.0; CIPIC: public domain)"
    info_memory_mb = 60
    info_description = ("Places or moves a sound around a headphone listener by convolving it with measured "
                        "head-related impulse responses.")

    def __init__(self, sofa_path: str | Path | None = None) -> None:
        # the path comes from settings (AUDIOGPT_HRTF_SOFA) through the family's backends(config)
        self.path = Path(sofa_path).expanduser() if sofa_path else None

    def _missing(self) -> str:
        if self.path is None:
            return "No measured HRTF set is configured (AUDIOGPT_HRTF_SOFA is empty)."
        if not self.path.is_file():
            return f"The HRTF file {self.path} does not exist."
        if self.path.suffix.lower() != ".npz" and not have_module("h5py"):
            return "Reading a SOFA file needs h5py, which is not installed."
        return ""

    def load(self) -> Any:
        self._require()
        assert self.path is not None
        t0 = time.perf_counter()
        hrirs = read_hrirs(self.path)
        log.info("loaded %d HRIR pairs (%d taps at %d Hz) from %s in %.2f s", hrirs.ir.shape[0], hrirs.ir.shape[-1],
                 hrirs.sample_rate, hrirs.source, time.perf_counter() - t0)
        return hrirs

    def run(self, model: Any, *, audio: Audio, azimuth: float | None = None, elevation: float | None = None,
            motion: str | None = None) -> BackendResult:
        audio = check_audio(audio, "Binaural rendering")
        sr = int(audio.sample_rate)
        traj = parse_motion(motion, azimuth, elevation, audio.duration)
        hrirs = resample_set(model, sr)
        x = as_channels(audio).mean(axis=0)
        nfft = 2 * frame_length(sr)
        if hrirs.ir.shape[-1] > nfft // 2:  # the block convolution needs the response within a frame
            hrirs = HrirSet(hrirs.ir[..., : nfft // 2], hrirs.azimuth, hrirs.elevation, sr, hrirs.source)
        t0 = time.perf_counter()
        y, gain_db = finish(render(x, sr, traj, filters=HrtfFilters(hrirs, nfft)))
        took = time.perf_counter() - t0
        notes = binaural_notes(audio, traj)
        if gain_db < -0.05:
            notes.append(f"the level was lowered {abs(gain_db):.1f} dB to avoid clipping")
        extra = (" Note: " + "; ".join(notes) + ".") if notes else ""
        return BackendResult(
            text=(f"Binaural version ready: {where_clause(traj)} "
                  f"(full: sofa-hrtf-binaural, {hrirs.ir.shape[0]} measured directions from {hrirs.source}). "
                  f"Listen on headphones.{extra}"),
            outputs=[OutputFile(name="binaural", audio=Audio(y, sr),
                                description=f"Stereo headphone mix: {traj.summary}.")],
            data={"trajectory": [list(map(float, p)) for p in traj.points], "moving": traj.moving,
                  "summary": traj.summary, "hrtf": hrirs.source, "directions": int(hrirs.ir.shape[0]),
                  "channels_in": audio.channels, "sample_rate": sr, "seconds": round(took, 3),
                  "rtf": round(took / max(audio.duration, 1e-9), 4)},
        )
