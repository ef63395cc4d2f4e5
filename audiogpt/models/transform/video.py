"""Video helpers shared by the talking-head backends: image decoding, faces, audio features, MP4 muxing.

Frames go to the ffmpeg binary that ``imageio-ffmpeg`` ships as raw BGR on a
pipe and come out as H.264 (yuv420p, so every player and Discord/Slack preview
can show it) with AAC audio in an MP4 whose index sits at the front
(``+faststart``), ready to stream.

Faces are found with OpenCV's bundled Haar cascade (``haarcascade_frontalface_default``)
when the installed OpenCV has it (4.x wheels do; 5.0 wheels dropped both the
``CascadeClassifier`` class and the XML files). Without it a skin-colour
heuristic is used (the largest skin-coloured blob with two non-skin holes, eyes,
in its upper half), and the result says which one ran.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import wave
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiogpt import ffmpeg as shared_ffmpeg
from audiogpt.ffmpeg import input_args
from audiogpt.image_header import ImageRefused, ImageTooLarge, check_image
from audiogpt.models.base import BadInput, ModelNotInstalled

log = logging.getLogger(__name__)

FPS = 25
MAX_SIDE = 512  # longest side of the rendered video, pixels
MIN_SIDE = 256  # smaller pictures are enlarged to this
ENCODE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels."""

    x: int
    y: int
    w: int
    h: int

    def clip(self, width: int, height: int) -> Box:
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.x + self.w), min(height, self.y + self.h)
        return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0))


@dataclass(frozen=True)
class FaceFound:
    """Where the face is and how it was found (``haar``, ``skin-heuristic``, ``centre``, ``default``)."""

    box: Box
    method: str


def ffmpeg_exe() -> str:
    """The project's one ffmpeg (:func:`audiogpt.ffmpeg.ffmpeg_exe`), missing it said as a backend says it."""
    try:
        return shared_ffmpeg.ffmpeg_exe()
    except shared_ffmpeg.FFmpegMissing as exc:  # pragma: no cover - a core dependency
        raise ModelNotInstalled("Video output needs imageio-ffmpeg, which is not installed.") from exc


ffmpeg_available = shared_ffmpeg.ffmpeg_available


def decode_image(data: bytes) -> np.ndarray:
    """BGR uint8 image from encoded bytes, scaled so its longest side is at most :data:`MAX_SIDE`."""
    import cv2

    unreadable = "I could not read the portrait image (not a PNG/JPEG/WebP picture?)."
    try:  # the header's size, before OpenCV decodes a single pixel (a 1 MB PNG can announce 20000 x 20000)
        check_image(data)
    except ImageTooLarge as exc:
        raise BadInput(str(exc)) from exc
    except ImageRefused as exc:
        raise BadInput(unreadable) from exc
    arr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if arr is None or arr.size == 0:
        raise BadInput(unreadable)
    return fit_size(arr)


def fit_size(img: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """Scale to at most ``max_side`` (at least :data:`MIN_SIDE`) with both sides even (yuv420p needs that)."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        img = cv2.resize(img, (max(2, round(w * scale)), max(2, round(h * scale))), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    if max(h, w) < MIN_SIDE:  # a thumbnail: enlarge it so the video is watchable
        factor = MIN_SIDE / max(h, w)
        img = cv2.resize(img, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_CUBIC)
        h, w = img.shape[:2]
    return np.ascontiguousarray(img[: h - h % 2, : w - w % 2])


def haar_available() -> bool:
    import cv2

    return hasattr(cv2, "CascadeClassifier") and _haar_path() is not None


def _haar_path() -> str | None:
    import cv2

    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if not folder:
        return None
    path = Path(folder) / "haarcascade_frontalface_default.xml"
    return str(path) if path.is_file() else None


def find_face(img: np.ndarray) -> FaceFound | None:
    """The largest frontal face, by Haar cascade when OpenCV has one, else the skin heuristic."""
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    h, w = gray.shape
    if haar_available():
        cascade = cv2.CascadeClassifier(_haar_path())
        side = max(24, int(0.12 * min(h, w)))
        faces = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
        if len(faces) == 0:
            return None
        x, y, fw, fh = max(faces, key=lambda f: int(f[2]) * int(f[3]))
        return FaceFound(Box(int(x), int(y), int(fw), int(fh)), "haar")
    box = skin_face(img)
    return FaceFound(box, "skin-heuristic") if box is not None else None


def skin_face(img: np.ndarray) -> Box | None:
    """Largest skin-coloured blob (YCrCb) shaped like a face, with eye holes in its upper half."""
    import cv2

    ycc = cv2.cvtColor(img, cv2.COLOR_BGR2YCrCb)
    cr, cb = ycc[..., 1].astype(np.int16), ycc[..., 2].astype(np.int16)
    mask = ((cr >= 135) & (cr <= 175) & (cb >= 80) & (cb <= 127)).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _c = cv2.connectedComponentsWithStats(mask)
    h, w = mask.shape
    best: Box | None = None
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if area < 0.03 * h * w or not 0.8 <= bh / max(bw, 1) <= 2.0 or area < 0.45 * bw * bh:
            continue
        if bw > 0.95 * w and bh > 0.95 * h:
            continue  # the whole picture is skin-coloured (sand, a wall): not a face
        if not _has_eyes(labels[y : y + bh, x : x + bw] == i):
            continue
        if best is None or bw * bh > best.w * best.h:
            best = Box(x, y, bw, bh)
    return best


def _has_eyes(skin: np.ndarray) -> bool:
    """Two non-skin holes side by side in the upper part of a skin blob (eyes, brows)."""
    import cv2

    h, w = skin.shape
    outside = np.pad((~skin).astype(np.uint8), 1, constant_values=1)
    flood = outside.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    holes = ((outside == 1) & (flood == 1))[1:-1, 1:-1].astype(np.uint8)
    n, _l, stats, cents = cv2.connectedComponentsWithStats(holes)
    eyes = [cents[i] for i in range(1, n)
            if stats[i][4] >= max(4, 0.0005 * h * w) and 0.15 * h <= cents[i][1] <= 0.6 * h]
    return any(cx < 0.45 * w for cx, _cy in eyes) and any(cx > 0.55 * w for cx, _cy in eyes)


def centre_box(width: int, height: int) -> Box:
    """A face-sized box in the middle of a picture with no face found."""
    side = int(0.6 * min(width, height))
    return Box((width - side) // 2, (height - side) // 2, side, side)


# --- audio features per video frame -----------------------------------------------------------------


@dataclass(frozen=True)
class MouthTrack:
    """Per video frame: jaw opening 0..1 and lip width factor (~0.85 rounded .. 1.15 spread)."""

    opening: np.ndarray
    width: np.ndarray
    energy_db: np.ndarray


def mouth_track(x: np.ndarray, sr: int, frames: int, fps: int = FPS) -> MouthTrack:
    """Jaw opening from energy and F1-band share (open vowels), lip width from the spectral centroid.

    Loud frames whose energy sits in 250-1000 Hz (where open vowels put F1) open widest;
    quiet frames (bilabial closures, pauses) close; sibilant frames (energy above 4 kHz) open
    little. Opening moves fast (attack) and closes a little slower (release), as a jaw does.
    """
    hop = sr / fps
    win = round(2 * hop)
    n_fft = 1 << int(np.ceil(np.log2(max(win, 64))))
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    window = np.hanning(win)
    # frame i shows t = i/fps .. (i+1)/fps: centre its window on that interval's middle
    pad = np.concatenate([np.zeros(max(0, win // 2 - round(hop / 2))), x.astype(np.float64), np.zeros(win)])
    energy = np.zeros(frames)
    f1 = np.zeros(frames)
    sib = np.zeros(frames)
    cent = np.zeros(frames)
    band_all = (freqs >= 80) & (freqs <= 8000)
    band_f1 = (freqs >= 250) & (freqs <= 1000)
    band_sib = freqs >= 4000
    for i in range(frames):
        s = round(i * hop)
        seg = pad[s : s + win]
        if seg.size < win:
            seg = np.pad(seg, (0, win - seg.size))
        p = np.abs(np.fft.rfft(seg * window, n_fft)) ** 2
        tot = float(p[band_all].sum()) + 1e-12
        energy[i] = 10 * np.log10(tot / win + 1e-12)
        f1[i] = float(p[band_f1].sum()) / tot
        sib[i] = float(p[band_sib].sum()) / tot
        cent[i] = float((p[band_all] * freqs[band_all]).sum()) / tot
    top = float(np.percentile(energy, 95)) if frames else 0.0
    loud = np.clip((energy - (top - 36.0)) / 36.0, 0.0, 1.0)
    target = loud**0.8 * (0.35 + 0.65 * np.clip(1.6 * f1, 0.0, 1.0)) * (1.0 - 0.5 * np.clip(sib, 0.0, 1.0))
    opening = np.zeros(frames)
    level = 0.0
    for i in range(frames):
        rate = 0.8 if target[i] > level else 0.6
        level += rate * (target[i] - level)
        opening[i] = level
    width = 1.0 + 0.3 * (np.clip(cent / 3000.0, 0.0, 1.0) - 0.5)
    return MouthTrack(np.clip(opening, 0.0, 1.0), width, energy)


# --- muxing ------------------------------------------------------------------------------------------


def write_wav(path: Path, x: np.ndarray, sr: int) -> None:
    pcm = (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sr))
        w.writeframes(pcm.tobytes())


def encode_mp4(frames: Iterable[np.ndarray], size: tuple[int, int], audio: np.ndarray, sr: int,
               fps: int = FPS, on_frame: Callable[[int], None] | None = None) -> bytes:
    """H.264 + AAC MP4 bytes from BGR frames (all ``size`` = (width, height)) and mono audio."""
    width, height = size
    with tempfile.TemporaryDirectory(prefix="audiogpt-video-") as tmp:
        wav, out = Path(tmp) / "speech.wav", Path(tmp) / "out.mp4"
        write_wav(wav, audio, sr)
        # both inputs are ours, but each is still read by its one demuxer only (see audiogpt.ffmpeg)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error",
               *input_args("rawvideo", "pipe:0", protocols="pipe",
                           options=["-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-r", str(fps)]),
               *input_args("wav", str(wav), protocols="file"),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", "20",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-y", str(out)]
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err)
            assert proc.stdin is not None
            try:
                for i, frame in enumerate(frames):
                    proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
                    if on_frame is not None:
                        on_frame(i)
            except BrokenPipeError:
                pass
            finally:
                proc.stdin.close()
            try:
                rc = proc.wait(timeout=ENCODE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise BadInput("Encoding the video took too long; try a shorter clip.") from None
            err.seek(0)
            tail = err.read().decode("utf-8", "replace")[-600:]
        if rc != 0 or not out.is_file() or out.stat().st_size == 0:
            log.error("ffmpeg mux failed (rc=%s): %s", rc, tail)
            raise RuntimeError(f"ffmpeg could not encode the video (rc={rc})")
        return out.read_bytes()
