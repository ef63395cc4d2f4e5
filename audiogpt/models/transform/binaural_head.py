"""Lite binaural rendering: a spherical-head model (Woodworth ITD + Brown-Duda head shadow), numpy only.

No registry package ships a measured HRTF set (see ``shared/MODELS.md``), so the
lite renderer is the classic structural model of Brown & Duda (1998), "A
structural model for binaural sound synthesis":

- **Interaural time difference**: Woodworth's ray-tracing delay around a rigid
  sphere of radius 8.75 cm, per ear: ``-(a/c) cos(theta)`` while the ear sees
  the source, ``(a/c)(theta - pi/2)`` once it is in the head's shadow
  (``theta``: angle between the source and the ear's axis). Maximum ITD
  ``(a/c)(1 + pi/2)`` = 0.66 ms at 90 degrees.
- **Head shadow** (interaural level difference growing with frequency): the
  one-pole/one-zero filter ``H = (1 + j a w/(2 w0)) / (1 + j w/(2 w0))``,
  ``w0 = c/a``, with ``alpha(theta) = 1.05 + 0.95 cos(theta/150deg * 180deg)``:
  +6 dB treble toward the source, -20 dB at 150 degrees from it.
- **Pinna/elevation cue**: five pinna echoes (delays of 2 to 13 samples at
  44.1 kHz that shorten as the source rises, in the form of Brown & Duda's pinna
  model), which move the spectral notches with elevation, plus a gentle treble
  cut for sources behind the listener (front/back cue).

Rendering is blockwise in the frequency domain (Hann frames with 50% overlap,
zero-padded to twice their length, so each frame is a linear convolution):
every frame gets the filters of the direction at its centre, so a moving
source's delay and shadow change smoothly (one update per 5-11 ms, cross-faded
by the overlapping windows). The model ignores the room, the torso and
distance (distance appears as level only), so sources sound close and dry.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendResult, CheckedBackend, OutputFile
from audiogpt.models.transform.common import as_channels, check_audio
from audiogpt.models.transform.motion import Trajectory, parse_motion, where_clause

log = logging.getLogger(__name__)

HEAD_RADIUS_M = 0.0875
SPEED_OF_SOUND = 343.0
ALPHA_MIN = 0.1
THETA_MIN = np.deg2rad(150.0)
PINNA_RHO = np.array([0.5, -1.0, 0.5, -0.25, 0.25])
PINNA_A = np.array([1.0, 5.0, 5.0, 5.0, 5.0])
PINNA_B = np.array([2.0, 4.0, 7.0, 11.0, 13.0])
PINNA_D = np.array([1.0, 0.5, 0.5, 0.5, 0.5])
PINNA_SCALE = 0.35  # the echoes' overall weight: enough to move notches, not to colour every sound
REAR_CUT_DB = 6.0  # treble cut straight behind


def frame_length(sr: int) -> int:
    """512 samples at 16-24 kHz, 1024 at 32-48 kHz: frames of ~11-32 ms."""
    return 1024 if sr >= 32_000 else 512


def directions(az_deg: np.ndarray, el_deg: np.ndarray) -> np.ndarray:
    """Unit vectors ``(..., 3)``: x front, y right, z up."""
    az, el = np.deg2rad(az_deg), np.deg2rad(el_deg)
    return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], axis=-1)


def woodworth_delay(theta: np.ndarray, radius: float = HEAD_RADIUS_M) -> np.ndarray:
    """Per-ear delay (s) relative to the head's centre; ``theta`` = angle from the ear axis (rad)."""
    a_c = radius / SPEED_OF_SOUND
    return np.where(theta < np.pi / 2, -a_c * np.cos(theta), a_c * (theta - np.pi / 2))


def shadow_response(theta: np.ndarray, freqs: np.ndarray, radius: float = HEAD_RADIUS_M) -> np.ndarray:
    """Brown-Duda head-shadow filter at ``freqs`` (Hz) for ear angles ``theta``: ``(..., bins)``."""
    w0 = SPEED_OF_SOUND / radius
    alpha = (1 + ALPHA_MIN / 2) + (1 - ALPHA_MIN / 2) * np.cos(theta / THETA_MIN * np.pi)
    jw = 1j * 2 * np.pi * freqs / (2 * w0)
    return (1 + alpha[..., None] * jw) / (1 + jw)


def pinna_response(az_ear_deg: np.ndarray, el_deg: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Pinna echoes: ``1 + sum(rho_k exp(-j w tau_k))``, delays shortening with elevation."""
    theta = np.deg2rad(np.clip(az_ear_deg, -90.0, 90.0))[..., None]
    phi = np.deg2rad(np.clip(el_deg, -90.0, 90.0))[..., None]
    tau = PINNA_A * np.cos(theta / 2) * np.sin(PINNA_D * (np.pi / 2 - phi)) + PINNA_B  # samples at 44.1 kHz
    tau_s = tau / 44_100.0
    echoes = PINNA_SCALE * PINNA_RHO * np.exp(-2j * np.pi * freqs[..., None, None] * tau_s)
    # echoes: (bins, ..., 5) -> move bins last
    total = 1 + echoes.sum(axis=-1)
    return np.moveaxis(total, 0, -1)


def ear_filters(az_deg: np.ndarray, el_deg: np.ndarray, freqs: np.ndarray, sr: int,
                radius: float = HEAD_RADIUS_M) -> tuple[np.ndarray, np.ndarray]:
    """Left and right frequency responses ``(frames, bins)`` for directions per frame."""
    d = directions(az_deg, el_deg)
    offset = radius / SPEED_OF_SOUND  # keeps every delay causal
    rear = np.clip(-d[..., 0], 0.0, 1.0)  # 1 straight behind
    rear_gain = (10 ** (-REAR_CUT_DB * rear[..., None] / 20)) ** (freqs / (freqs + 4000.0))
    out = []
    for ear_y in (-1.0, 1.0):  # left, right
        theta = np.arccos(np.clip(d[..., 1] * ear_y, -1.0, 1.0))
        delay = woodworth_delay(theta, radius) + offset
        # the ear-relative azimuth for the pinna: 0 when the source faces the ear's side
        az_ear = 90.0 - np.rad2deg(theta)
        h = shadow_response(theta, freqs, radius) * np.exp(-2j * np.pi * freqs * delay[..., None])
        h = h * pinna_response(az_ear, el_deg, freqs) * rear_gain
        out.append(h)
    return out[0], out[1]


def render(x: np.ndarray, sr: int, traj: Trajectory, filters: Any = None) -> np.ndarray:
    """``(2, frames)`` binaural signal for mono ``x`` moving along ``traj``.

    ``filters(az, el, freqs, sr) -> (left, right)`` gives the responses; the spherical head
    by default (the HRTF backend passes its own).
    """
    filters = filters or ear_filters
    n = frame_length(sr)
    hop = n // 2
    nfft = 2 * n
    window = np.hanning(n + 1)[:n]  # periodic Hann: overlapping frames sum to one
    pad = np.concatenate([np.zeros(hop), x.astype(np.float64), np.zeros(n)])
    count = 1 + (pad.size - n) // hop
    starts = np.arange(count) * hop
    centres = (starts + n / 2 - hop) / max(x.size - 1, 1)  # normalised time of each frame's centre
    az, el, gain = traj.at(centres)
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    out = np.zeros((2, pad.size + nfft), dtype=np.float32)  # float32: a 10-minute clip stays under 0.3 GB
    chunk = 256  # frames per batch: bounded memory on long clips
    fixed: tuple[np.ndarray, np.ndarray] | None = None  # a still source needs its filters once
    for c0 in range(0, count, chunk):
        sl = slice(c0, min(count, c0 + chunk))
        idx = starts[sl, None] + np.arange(n)[None, :]
        spec = np.fft.rfft(pad[idx] * window[None, :], nfft, axis=1) * gain[sl, None]
        if traj.moving or fixed is None:
            left, right = filters(az[sl], el[sl], freqs, sr)
            if not traj.moving:
                fixed = (left[:1], right[:1])
        else:
            left, right = fixed
        for ch, h in enumerate((left, right)):
            y = np.fft.irfft(spec * h, nfft, axis=1)
            for k, s in enumerate(starts[sl]):
                out[ch, s : s + nfft] += y[k]
    return out[:, hop : hop + x.size].astype(np.float32)


def finish(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Keep the level but never clip: scale down (only) to a 0.98 peak; returns the gain in dB."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 0.98:
        return (y * (0.98 / peak)).astype(np.float32), 20 * np.log10(0.98 / peak)
    return y.astype(np.float32), 0.0


def binaural_notes(audio: Audio, traj: Trajectory) -> list[str]:
    notes = []
    if audio.channels > 1:
        notes.append(f"the {audio.channels}-channel input was mixed down to mono first and then placed")
    notes.extend(traj.notes)
    return notes


class SphericalHeadBinaural(CheckedBackend):
    """Spherical-head binaural renderer (Woodworth ITD, Brown-Duda head shadow and pinna echoes)."""

    name = "spherical-head-binaural"
    task = "mono_to_binaural"
    kind = "lite"
    install_hint = "it needs only numpy"
    info_model = "spherical-head model (Woodworth ITD + Brown-Duda head shadow; signal processing, no weights)"
    info_licence = "Apache-2.0 (this project's code)"
    info_memory_mb = 30
    info_description = ("Places a sound around a headphone listener (azimuth, elevation) or moves it "
                        "(left to right, circling, overhead) with interaural time and level differences.")

    def load(self) -> Any:
        return None

    def run(self, model: Any, *, audio: Audio, azimuth: float | None = None, elevation: float | None = None,
            motion: str | None = None) -> BackendResult:
        audio = check_audio(audio, "Binaural rendering")
        sr = int(audio.sample_rate)
        traj = parse_motion(motion, azimuth, elevation, audio.duration)
        x = as_channels(audio).mean(axis=0)
        t0 = time.perf_counter()
        y, gain_db = finish(render(x, sr, traj))
        took = time.perf_counter() - t0
        notes = binaural_notes(audio, traj)
        if gain_db < -0.05:
            notes.append(f"the level was lowered {abs(gain_db):.1f} dB to avoid clipping")
        extra = (" Note: " + "; ".join(notes) + ".") if notes else ""
        return BackendResult(
            text=(f"Binaural version ready: {where_clause(traj)} (lite: spherical-head-binaural, "
                  f"interaural delay up to 0.66 ms plus head shadow). Listen on headphones.{extra}"),
            outputs=[OutputFile(name="binaural", audio=Audio(y, sr),
                                description=f"Stereo headphone mix: {traj.summary}.")],
            data={"trajectory": [list(map(float, p)) for p in traj.points], "moving": traj.moving,
                  "summary": traj.summary, "channels_in": audio.channels, "sample_rate": sr,
                  "seconds": round(took, 3), "rtf": round(took / max(audio.duration, 1e-9), 4)},
        )
