"""Lite talking head: the portrait's jaw and lips move with the speech, OpenCV + ffmpeg on the CPU.

No talking-head network ships in a registry package, so the lite backend animates
the mouth region of the picture itself:

1. **Face**: OpenCV's Haar cascade finds the largest frontal face (see
   :mod:`audiogpt.models.transform.video` for the fallback); the mouth sits at
   about 78% of the face box's height, 42% of its width, and its lip line is
   refined to the darkest row there. No face: the middle of the picture is
   used and the answer says so. No picture: a face is drawn (:func:`default_face`).
2. **Drive**: per 40 ms video frame, the jaw opening follows the speech energy and
   the share of it in the first-formant band (open vowels open widest, pauses
   and bilabials close, sibilants stay narrow); lip width follows the spectral
   centroid (spread for /i/, rounded for /u/). See :func:`video.mouth_track`.
3. **Render** (25 fps): the lower face (lower lip to chin) is pushed down by the
   opening with a smooth displacement field (``cv2.remap``) that fades out
   sideways and below the chin, and the gap between the lips is painted as a
   soft-edged dark mouth cavity with a hint of upper teeth.
4. **Mux**: frames are piped to ffmpeg: H.264 + AAC MP4 (see :func:`video.encode_mp4`).

The rest of the face stays still (no blinks, no head motion): it is a mouth
animation, not a learned talking-head model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendResult,
    CheckedBackend,
    Image,
    OutputFile,
    ProgressReport,
    have_module,
)
from audiogpt.models.transform.common import as_channels, check_audio
from audiogpt.models.transform.video import (
    FPS,
    Box,
    FaceFound,
    centre_box,
    decode_image,
    encode_mp4,
    ffmpeg_available,
    find_face,
    mouth_track,
)

log = logging.getLogger(__name__)

MAX_VIDEO_S = 300.0  # longer speech is cut to its first 5 minutes (and the answer says so)
MAX_OPEN = 0.13  # widest jaw drop as a fraction of the face height


@dataclass(frozen=True)
class MouthRig:
    """Where the mouth is and the precomputed displacement field of the lower face."""

    cx: float
    cy: float  # the lip line
    half_width: float
    face_h: float
    roi: Box  # the region the warp touches
    field: np.ndarray  # (roi.h, roi.w) float32 weights 0..1 of the full displacement


def default_face(size: int = 384) -> tuple[np.ndarray, Box]:
    """A friendly drawn face (BGR) and its face box: used when the user sends no portrait."""
    import cv2

    s = size
    img = np.zeros((s, s, 3), np.uint8)
    grad = np.linspace(0, 1, s)[:, None]
    img[...] = (np.array([205, 190, 160]) * (1 - grad) + np.array([150, 120, 95]) * grad)[:, None, :].astype(np.uint8)
    cx, cy = s // 2, int(0.46 * s)
    fw, fh = int(0.30 * s), int(0.38 * s)
    skin, shade = (150, 180, 225), (120, 150, 200)
    cv2.ellipse(img, (cx, int(0.98 * s)), (int(0.42 * s), int(0.2 * s)), 0, 180, 360, (90, 70, 60), -1)  # shoulders
    cv2.rectangle(img, (cx - int(0.09 * s), cy + int(0.25 * s)), (cx + int(0.09 * s), int(0.86 * s)), shade, -1)
    cv2.ellipse(img, (cx - fw, cy + int(0.02 * s)), (int(0.04 * s), int(0.07 * s)), 0, 0, 360, shade, -1)  # ears
    cv2.ellipse(img, (cx + fw, cy + int(0.02 * s)), (int(0.04 * s), int(0.07 * s)), 0, 0, 360, shade, -1)
    hair = (40, 45, 60)
    cv2.ellipse(img, (cx, cy - int(0.02 * s)), (fw + int(0.025 * s), fh + int(0.03 * s)), 0, 180, 360, hair, -1)
    cv2.ellipse(img, (cx, cy), (fw, fh), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (cx, cy - int(0.17 * s)), (fw + 2, int(0.22 * s)), 0, 180, 360, hair, -1)  # fringe
    for side in (-1, 1):
        ex = cx + side * int(0.12 * s)
        ey = cy - int(0.05 * s)
        cv2.ellipse(img, (ex, ey), (int(0.055 * s), int(0.028 * s)), 0, 0, 360, (245, 245, 245), -1)
        cv2.circle(img, (ex, ey), int(0.022 * s), (70, 90, 60), -1)
        cv2.circle(img, (ex, ey), int(0.01 * s), (20, 20, 20), -1)
        cv2.ellipse(img, (ex, ey - int(0.06 * s)), (int(0.065 * s), int(0.018 * s)), 0, 180, 360, (40, 45, 60),
                    int(0.012 * s))
    cv2.ellipse(img, (cx, cy + int(0.085 * s)), (int(0.035 * s), int(0.02 * s)), 0, 0, 180, shade,
                max(2, int(0.008 * s)))  # nose tip and nostrils
    for side in (-1, 1):
        cv2.circle(img, (cx + side * int(0.018 * s), cy + int(0.095 * s)), max(2, int(0.007 * s)), (90, 110, 160), -1)
    my = cy + int(0.2 * s)
    mw = int(0.1 * s)
    cv2.ellipse(img, (cx, my - int(0.004 * s)), (mw, int(0.022 * s)), 0, 180, 360, (90, 90, 170), -1)  # upper lip
    cv2.ellipse(img, (cx, my + int(0.004 * s)), (int(0.9 * mw), int(0.03 * s)), 0, 0, 180, (100, 105, 190), -1)
    cv2.line(img, (cx - mw, my), (cx + mw, my), (50, 40, 90), max(2, int(0.006 * s)))
    img = cv2.GaussianBlur(img, (3, 3), 0)
    box = Box(cx - fw, cy - fh, 2 * fw, 2 * fh)
    return img, box


def rig_for(img: np.ndarray, face: Box, default: bool = False) -> MouthRig:
    """Mouth position from the face box (refined to the darkest row) and the lower-face warp field."""
    import cv2

    h, w = img.shape[:2]
    cx = face.x + face.w / 2
    cy = face.y + (0.7 if default else 0.78) * face.h
    half_w = (0.17 if default else 0.21) * face.w
    if not default:  # the lip line is the darkest row near the expected mouth
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
        y0, y1 = int(max(0, cy - 0.08 * face.h)), int(min(h, cy + 0.08 * face.h))
        x0, x1 = int(max(0, cx - half_w)), int(min(w, cx + half_w))
        if y1 - y0 > 3 and x1 - x0 > 3:
            rows = gray[y0:y1, x0:x1].mean(axis=1)
            rows = np.convolve(rows, np.ones(3) / 3, mode="same")
            cy = y0 + float(np.argmin(rows[1:-1]) + 1)
    chin = min(h - 1.0, face.y + 1.08 * face.h if not default else face.y + face.h)
    top = int(max(0, cy - 0.06 * face.h))
    bottom = int(min(h, chin + 0.25 * face.h))
    left = int(max(0, cx - 1.6 * half_w * 1.6))
    right = int(min(w, cx + 1.6 * half_w * 1.6))
    roi = Box(left, top, max(1, right - left), max(1, bottom - top))
    ys = np.arange(roi.y, roi.y + roi.h, dtype=np.float32)[:, None]
    xs = np.arange(roi.x, roi.x + roi.w, dtype=np.float32)[None, :]
    # vertical weight: 0 above the lip line (a 2 px ramp), 1 down to the chin, fading out below it
    ramp = np.clip((ys - cy + 2.0) / 4.0, 0.0, 1.0)
    below = np.clip(1.0 - (ys - chin) / max(0.22 * face.h, 1.0), 0.0, 1.0)
    vert = ramp * np.where(ys <= chin, 1.0, below)
    # sideways: full under the mouth, smoothly to zero at the jaw's edge
    horiz = np.exp(-0.5 * ((xs - cx) / (1.15 * half_w)) ** 2)
    field = (vert * horiz).astype(np.float32)
    return MouthRig(cx, cy, half_w, float(face.h), roi, field)


def render_frame(img: np.ndarray, rig: MouthRig, opening: float, width: float) -> np.ndarray:
    """The portrait with the jaw dropped by ``opening`` (0..1) and the mouth cavity painted."""
    import cv2

    out = img.copy()
    drop = opening * MAX_OPEN * rig.face_h
    if drop < 0.5:
        return out
    r = rig.roi
    patch = img[r.y : r.y + r.h, r.x : r.x + r.w]
    gy, gx = np.mgrid[0 : r.h, 0 : r.w].astype(np.float32)
    map_y = gy - drop * rig.field
    warped = cv2.remap(patch, gx, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # the cavity between the lips: a soft dark ellipse spanning the gap the jaw opened
    mask = np.zeros((r.h, r.w), np.float32)
    centre = (round(rig.cx - r.x), round(rig.cy - r.y + drop / 2))
    axes = (max(1, int(0.85 * rig.half_width * width)), max(1, int(drop / 2)))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    teeth = np.zeros_like(mask)
    if drop > 4:
        tooth_h = max(1, int(0.22 * drop))
        cv2.rectangle(teeth, (centre[0] - int(0.7 * axes[0]), centre[1] - axes[1]),
                      (centre[0] + int(0.7 * axes[0]), centre[1] - axes[1] + tooth_h), 1.0, -1)
        teeth *= mask
    k = max(3, int(0.06 * drop) * 2 + 1)
    mask = cv2.GaussianBlur(mask, (k, k), 0)[..., None]
    teeth = cv2.GaussianBlur(teeth, (k, k), 0)[..., None]
    cavity = np.array([38, 28, 70], np.float32)
    tooth = np.array([225, 230, 235], np.float32)
    blended = warped.astype(np.float32) * (1 - mask) + cavity * mask
    blended = blended * (1 - teeth) + tooth * teeth
    out[r.y : r.y + r.h, r.x : r.x + r.w] = np.clip(blended, 0, 255).astype(np.uint8)
    return out


def locate(image: Image | None) -> tuple[np.ndarray, FaceFound, list[str]]:
    """The picture to animate, where its face is, and notes for the answer."""
    if image is None:
        img, box = default_face()
        return img, FaceFound(box, "default"), ["no portrait was given, so a drawn default face speaks"]
    img = decode_image(image.data)
    found = find_face(img)
    if found is None:
        h, w = img.shape[:2]
        return img, FaceFound(centre_box(w, h), "centre"), [
            "I found no face in the picture, so the mouth is animated in its centre region; "
            "send a front-facing portrait for a better result"]
    return img, found, []


@dataclass
class VideoJob:
    """What every talking-head backend starts from: mono speech (capped), the picture, its face, notes."""

    x: np.ndarray
    sr: int
    img: np.ndarray
    found: FaceFound
    notes: list[str]
    frames: int  # video frames at FPS covering the speech
    capped: bool  # the speech was longer than the limit and was cut

    @property
    def duration(self) -> float:
        return self.x.size / self.sr


def prepare_job(audio: Audio, image: Image | None, max_seconds: float) -> VideoJob:
    """Check and cap the speech, find the face: shared by the lite and the full talking head."""
    audio = check_audio(audio, "The talking-head video", max_seconds=float("inf"))
    sr = int(audio.sample_rate)
    x = as_channels(audio).mean(axis=0)
    notes: list[str] = []
    if audio.duration > max_seconds:
        limit = f"{max_seconds / 60:.0f} minutes" if max_seconds >= 60 else f"{max_seconds:.0f} seconds"
        notes.append(f"the speech is {audio.duration / 60:.0f} minutes long, so the video covers its first {limit}")
        x = x[: int(max_seconds * sr)]
    img, found, located = locate(image)
    frames = max(1, int(np.ceil(x.size / sr * FPS - 1e-6)))
    return VideoJob(x, sr, img, found, located + notes, frames, capped=audio.duration > max_seconds)


class MouthAnimator(CheckedBackend):
    """Audio-driven mouth animation of the given portrait (OpenCV) muxed to MP4 with ffmpeg."""

    name = "mouth-animator"
    task = "talking_head"
    kind = "lite"
    install_hint = "pip install opencv-python-headless imageio-ffmpeg"
    info_model = "audio-driven jaw/lip warp (OpenCV Haar face detection, signal processing, no weights)"
    info_licence = "Apache-2.0 (this project's code); OpenCV Apache-2.0; ffmpeg (imageio-ffmpeg) GPL build"
    info_memory_mb = 80
    info_description = ("Makes an MP4 of a portrait (or a drawn default face) whose jaw and lips move with "
                        "the given speech; the rest of the face stays still.")

    def __init__(self, max_seconds: float = MAX_VIDEO_S) -> None:
        self.max_seconds = max_seconds

    def _missing(self) -> str:
        absent = [m for m in ("cv2",) if not have_module(m)] + ([] if ffmpeg_available() else ["imageio-ffmpeg"])
        return f"The talking-head video needs {' and '.join(absent)}, not installed." if absent else ""

    def load(self) -> Any:
        self._require()
        return None

    def run(self, model: Any, *, audio: Audio, image: Image | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        job = prepare_job(audio, image, self.max_seconds)
        x, sr, img, found, notes, frames, duration, capped = (job.x, job.sr, job.img, job.found, job.notes,
                                                              job.frames, job.duration, job.capped)
        rig = rig_for(img, found.box, default=found.method == "default")
        track = mouth_track(x, sr, frames)
        t0 = time.perf_counter()
        step = max(1, frames // 20)

        def tick(i: int) -> None:
            if progress is not None and (i % step == 0 or i == frames - 1):
                progress((i + 1) / frames, f"rendering frame {i + 1} of {frames}")

        def frame_iter() -> Iterator[np.ndarray]:
            for i in range(frames):
                yield render_frame(img, rig, float(track.opening[i]), float(track.width[i]))

        h, w = img.shape[:2]
        data = encode_mp4(frame_iter(), (w, h), x, sr, on_frame=tick)
        took = time.perf_counter() - t0
        how = {"haar": "face found by OpenCV's Haar cascade",
               "skin-heuristic": "face found by a skin-colour heuristic (this OpenCV has no Haar cascades)",
               "centre": "no face found", "default": "drawn default face"}[found.method]
        extra = (" Note: " + "; ".join(notes) + ".") if notes else ""
        return BackendResult(
            text=(f"Talking-head video ready: {duration:.1f} s at {FPS} fps, {w}x{h}, the mouth following the "
                  f"speech (lite: mouth-animator, {how}).{extra}"),
            outputs=[OutputFile(name="talking_head.mp4", data=data, mime="video/mp4",
                                description="The portrait speaking the given audio (H.264 + AAC).")],
            data={"frames": frames, "fps": FPS, "width": w, "height": h, "duration": round(duration, 3),
                  "face": {"x": found.box.x, "y": found.box.y, "w": found.box.w, "h": found.box.h,
                           "method": found.method},
                  "mouth": {"x": round(rig.cx, 1), "y": round(rig.cy, 1), "half_width": round(rig.half_width, 1)},
                  "capped": capped, "seconds": round(took, 3),
                  "rtf": round(took / max(duration, 1e-9), 4)},
        )
