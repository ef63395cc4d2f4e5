"""Full talking head: Wav2Lip lip-sync on the portrait, in torch, from a configured checkpoint.

Wav2Lip (Prajwal et al. 2020) redraws the lower half of a 96x96 face crop so the
lips match a 0.2 s mel window; it was trained with a lip-sync expert
discriminator, which is what makes its mouths follow speech closely. This
backend is the authors' inference loop on a still portrait:

1. face box: OpenCV's Haar cascade (the authors used S3FD; a still portrait
   needs one detection), padded 10 px downwards as their default ``pads``; no
   face: the picture's centre (and the answer says so); no picture: the drawn
   default face of the lite backend;
2. audio: Wav2Lip's mel (16 kHz, pre-emphasis 0.97, n_fft 800, hop 200, 80 Slaney
   mels 55-7600 Hz, dB re 20, symmetric normalisation to +-4), cut into 16-frame
   windows, one per video frame at 25 fps (``int(i * 80 / 25)``);
3. the network: the crop with its lower half zeroed, stacked with the crop as the
   reference (6 channels), batched; outputs are resized back into the box;
4. frames are muxed with the audio to H.264 + AAC MP4 (:func:`video.encode_mp4`).

The checkpoint (``wav2lip.pth`` or ``wav2lip_gan.pth``) is named by
``AUDIOGPT_WAV2LIP_CHECKPOINT``; its weights are for research use only (the
authors' licence), so none ship with this project.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendResult,
    CheckedBackend,
    Image,
    ModelNotInstalled,
    OutputFile,
    ProgressReport,
    have_module,
)
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.transform.talking_head_lite import MAX_VIDEO_S, prepare_job
from audiogpt.models.transform.video import FPS, Box, encode_mp4, ffmpeg_available

log = logging.getLogger(__name__)

MEL_RATE = 16_000
N_FFT = 800
HOP = 200
N_MELS = 80
MEL_STEP = 16
FACE = 96
PAD_BOTTOM = 10


@dataclass
class Wav2LipModel:
    net: Any
    device: str
    batch_size: int


def wav2lip_mel(x: np.ndarray) -> np.ndarray:
    """``(80, frames)`` normalised log-mel of 16 kHz audio, as Wav2Lip's ``audio.melspectrogram``."""
    from transformers.audio_utils import mel_filter_bank

    y = np.append(x[0], x[1:] - 0.97 * x[:-1]).astype(np.float64) if x.size else np.zeros(1)
    pad = N_FFT // 2
    y = np.pad(y, (pad, pad), mode="reflect" if y.size > pad else "constant")
    count = 1 + (y.size - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]
    mag = np.abs(np.fft.rfft(y[idx] * np.hanning(N_FFT + 1)[:N_FFT], axis=1))
    bank = mel_filter_bank(num_frequency_bins=N_FFT // 2 + 1, num_mel_filters=N_MELS, min_frequency=55.0,
                           max_frequency=7600.0, sampling_rate=MEL_RATE, norm="slaney", mel_scale="slaney")
    db = 20 * np.log10(np.maximum(1e-5, mag @ bank)) - 20.0
    return np.clip(8.0 * ((db + 100.0) / 100.0) - 4.0, -4.0, 4.0).T.astype(np.float32)


def mel_windows(mel: np.ndarray, frames: int, fps: int = FPS) -> np.ndarray:
    """``(frames, 80, 16)``: the 16-frame mel window for each video frame (the authors' indexing)."""
    mult = 80.0 / fps
    out = np.zeros((frames, mel.shape[0], MEL_STEP), np.float32)
    if mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-4.0)
    for i in range(frames):
        s = int(i * mult)
        out[i] = mel[:, -MEL_STEP:] if s + MEL_STEP > mel.shape[1] else mel[:, s : s + MEL_STEP]
    return out


def face_crop_box(box: Box, width: int, height: int) -> Box:
    """The crop the network sees: the face box padded 10 px downwards, inside the picture."""
    return Box(box.x, box.y, box.w, box.h + PAD_BOTTOM).clip(width, height)


def load_checkpoint(path: Path, width: float = 1.0, device: str = "cpu") -> Any:
    """A :class:`wav2lip_net.Wav2Lip` with the checkpoint's weights (``module.`` prefix stripped)."""
    import torch

    from audiogpt.models.transform.wav2lip_net import Wav2Lip

    try:
        ckpt = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, truncated files, not a torch file
        raise ModelNotInstalled(f"The Wav2Lip checkpoint {path.name} could not be read ({type(exc).__name__}).") from None
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ModelNotInstalled(f"The Wav2Lip checkpoint {path.name} holds no state dict.")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    net = Wav2Lip(width)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0][:160]
        raise ModelNotInstalled(f"The checkpoint {path.name} does not fit the Wav2Lip network ({first}).") from None
    return net.to(device).eval()


class Wav2LipTalkingHead(CheckedBackend):
    """Wav2Lip (torch) lip-sync of the portrait from a configured checkpoint."""

    name = "wav2lip"
    task = "talking_head"
    kind = "full"
    install_hint = ("pip install 'audiogpt[full]' and set AUDIOGPT_WAV2LIP_CHECKPOINT to wav2lip_gan.pth "
                    "(Rudrabha/Wav2Lip, research licence)")
    info_model = "Wav2Lip generator (96x96 lip-sync GAN)"
    info_licence = "Wav2Lip weights: research/non-commercial only (authors' terms); code here Apache-2.0"
    info_memory_mb = 600
    info_description = "Makes an MP4 of the portrait with lips re-drawn by Wav2Lip to match the speech."

    def __init__(self, checkpoint: str | Path | None = None, *, width: float = 1.0, device: str = "auto",
                 batch_size: int = 64, max_seconds: float = MAX_VIDEO_S) -> None:
        # the path comes from settings (AUDIOGPT_WAV2LIP_CHECKPOINT) through the family's backends(config)
        self.checkpoint = Path(checkpoint).expanduser() if checkpoint else None
        self.width = width
        self.device = device
        self.batch_size = batch_size
        self.max_seconds = max_seconds

    def _missing(self) -> str:
        absent = [m for m in ("torch", "cv2", "transformers") if not have_module(m)]
        absent += [] if ffmpeg_available() else ["imageio-ffmpeg"]
        if absent:
            return f"Wav2Lip needs {' and '.join(absent)}, not installed."
        if self.checkpoint is None:
            return "No Wav2Lip checkpoint is configured (AUDIOGPT_WAV2LIP_CHECKPOINT is empty)."
        if not self.checkpoint.is_file():
            return f"The Wav2Lip checkpoint {self.checkpoint} does not exist."
        return ""

    def load(self) -> Any:
        self._require()
        import torch

        assert self.checkpoint is not None
        device = ("cuda" if torch.cuda.is_available() else "cpu") if self.device == "auto" else self.device
        t0 = time.perf_counter()
        net = load_checkpoint(self.checkpoint, self.width, device)
        log.info("loaded Wav2Lip from %s on %s in %.1f s", self.checkpoint, device, time.perf_counter() - t0)
        return Wav2LipModel(net, device, self.batch_size)

    def run(self, model: Any, *, audio: Audio, image: Image | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        import cv2
        import torch

        job = prepare_job(audio, image, self.max_seconds)
        x, sr, img, found, notes, frames, duration, capped = (job.x, job.sr, job.img, job.found, job.notes,
                                                              job.frames, job.duration, job.capped)
        h, w = img.shape[:2]
        crop = face_crop_box(found.box, w, h)
        mels = mel_windows(wav2lip_mel(to_mono_rate(Audio(x, sr), MEL_RATE)), frames)
        face = cv2.resize(img[crop.y : crop.y + crop.h, crop.x : crop.x + crop.w], (FACE, FACE))
        masked = face.copy()
        masked[FACE // 2 :] = 0
        pair = np.concatenate([masked, face], axis=2).astype(np.float32) / 255.0  # (96, 96, 6)
        t0 = time.perf_counter()
        net: Any = model.net
        dtype = next(net.parameters()).dtype

        def faces() -> Iterator[np.ndarray]:
            for b0 in range(0, frames, model.batch_size):
                n = min(model.batch_size, frames - b0)
                with torch.no_grad():
                    mel_t = torch.from_numpy(mels[b0 : b0 + n, None]).to(model.device, dtype)
                    img_t = torch.from_numpy(np.repeat(pair[None], n, axis=0)).permute(0, 3, 1, 2)
                    pred = net(mel_t, img_t.to(model.device, dtype)).float().cpu().numpy()
                yield from (np.clip(p.transpose(1, 2, 0) * 255.0, 0, 255).astype(np.uint8) for p in pred)
                if progress is not None:
                    progress((b0 + n) / frames, f"lip-syncing frame {b0 + n} of {frames}")

        def frame_iter() -> Iterator[np.ndarray]:
            for out_face in faces():
                frame = img.copy()
                frame[crop.y : crop.y + crop.h, crop.x : crop.x + crop.w] = cv2.resize(out_face, (crop.w, crop.h))
                yield frame

        data = encode_mp4(frame_iter(), (w, h), x, sr)
        took = time.perf_counter() - t0
        extra = (" Note: " + "; ".join(notes) + ".") if notes else ""
        return BackendResult(
            text=(f"Talking-head video ready: {duration:.1f} s at {FPS} fps, {w}x{h}, lips re-drawn to the speech "
                  f"(full: wav2lip).{extra}"),
            outputs=[OutputFile(name="talking_head.mp4", data=data, mime="video/mp4",
                                description="The portrait lip-synced to the given audio (H.264 + AAC).")],
            data={"frames": frames, "fps": FPS, "width": w, "height": h, "duration": round(duration, 3),
                  "face": {"x": crop.x, "y": crop.y, "w": crop.w, "h": crop.h, "method": found.method},
                  "capped": capped, "seconds": round(took, 3), "rtf": round(took / max(duration, 1e-9), 4)},
        )
