"""Transformation and video benchmark: real-time factor, peak memory and quality of each backend.

Run:  .venv/bin/python bench/transform.py [--full] [--device cpu|cuda] [--seconds 10]

Each case runs in its own subprocess, so its peak RSS (and, on a GPU, peak CUDA
memory) is that backend's alone. Audio is made here: Piper speech when the voice
is installed (else voiced syllables), piano-like notes, white noise for binaural.
Quality columns: inpainting's log-spectral distance (dB) on 200 ms regions for
the fill / a linear cross-fade of the neighbouring audio / silence; binaural ILD
and ITD at azimuth -90; the talking head's correlation of mouth motion with audio
energy. ``--full`` adds the full backends on toy models built here (random
weights: speed of the code around the network, not of the published models) and
the published-size Wav2Lip network with random weights.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import table

LITE = ["inpainting/lpc-spectral-inpainting", "binaural/spherical-head (still)", "binaural/spherical-head (circling)",
        "talking_head/mouth-animator"]
FULL = ["binaural/sofa-hrtf (synthetic set)", "inpainting/audioldm-repaint (toy, 10 steps)",
        "talking_head/wav2lip (toy width)", "talking_head/wav2lip (published size, random)"]


def speech(seconds: float) -> tuple[np.ndarray, int, str]:
    try:
        from audiogpt.models.speech.tts_piper import PiperJoeMedium

        b = PiperJoeMedium()
        if b.describe().installed:
            m = b.load()
            parts = []
            text = ("The quick brown fox jumps over the lazy dog while the morning sun rises slowly above the hills. "
                    "Please send me the quarterly report before Friday afternoon.")
            while sum(p.size for p in parts) < seconds * 22050:
                parts.append(b.run(m, text=text).outputs[0].audio.samples)
            return np.concatenate(parts)[: int(seconds * 22050)], 22050, "piper"
    except Exception:  # any Piper failure: fall back to synthetic speech
        pass
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_transform_lite import syllables

    return syllables(seconds, 16000), 16000, "syllables"


def notes(seconds: float, sr: int = 16000) -> np.ndarray:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_transform_lite import notes as make

    return make(seconds, sr)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_case(name: str, seconds: float, device: str) -> dict[str, Any]:
    from audiogpt.models.base import Audio

    out: dict[str, Any] = {}
    if name.startswith("inpainting/lpc"):
        from audiogpt.models.transform.common import log_spectral_distance as lsd
        from audiogpt.models.transform.inpaint_lpc import LpcInpainting, fill_region

        x, sr, kind = speech(seconds)
        b = LpcInpainting()
        starts = [seconds * f for f in (0.15, 0.3, 0.45, 0.6, 0.75, 0.9)]
        t0 = time.perf_counter()
        b.run(None, audio=Audio(x, sr), start=starts[0], end=starts[0] + 0.2)
        out["rtf"] = (time.perf_counter() - t0) / seconds
        t0 = time.perf_counter()
        b.run(None, audio=Audio(x, sr))
        out["detect_rtf"] = (time.perf_counter() - t0) / seconds
        quality = []
        for label, sig, rate in ((kind, x, sr), ("notes", notes(seconds), 16000)):
            rows = []
            for s in starts:
                a, e = int(s * rate), int(s * rate) + int(0.2 * rate)
                if e + (e - a) > sig.size:
                    continue
                damaged = sig.copy()
                damaged[a:e] = 0
                g = e - a
                w = np.arange(g) / g
                xfade = (1 - w) * sig[a - g : a] + w * sig[e : e + g]
                rows.append([lsd(fill_region(damaged, a, e, rate), sig[a:e], rate), lsd(xfade, sig[a:e], rate),
                             lsd(np.zeros(g), sig[a:e], rate)])
            m = np.mean(rows, axis=0)
            quality.append(f"{label} LSD {m[0]:.1f} / x-fade {m[1]:.1f} / silence {m[2]:.1f}")
        out["quality"] = "; ".join(quality)
    elif name.startswith("binaural/spherical"):
        from audiogpt.models.transform.binaural_head import SphericalHeadBinaural

        x = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * 48000))).astype(np.float32)
        args = {"azimuth": -90.0} if "still" in name else {"motion": "circling around me"}
        t0 = time.perf_counter()
        y = SphericalHeadBinaural().run(None, audio=Audio(x, 48000), **args).outputs[0].audio.samples
        out["rtf"] = (time.perf_counter() - t0) / seconds
        if "still" in name:
            out["quality"] = _ild_itd(y, 48000)
    elif name.startswith("talking_head/mouth"):
        from audiogpt.models.transform.talking_head_lite import MouthAnimator

        x, sr, kind = speech(seconds)
        t0 = time.perf_counter()
        r = MouthAnimator().run(None, audio=Audio(x, sr))
        out["rtf"] = (time.perf_counter() - t0) / seconds
        out["peak_rss_mb"] = peak_mb()  # before the quality check decodes every frame
        out["quality"] = f"{kind}: {_mouth_r(r, x, sr)}; {len(r.outputs[0].data) / 1e6:.2f} MB MP4"
    elif name.startswith("binaural/sofa"):
        from audiogpt.models.transform.full_binaural import SofaHrtfBinaural

        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
        from test_transform_full import synthetic_sofa_arrays

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "set.npz"
            np.savez(path, **synthetic_sofa_arrays())
            b = SofaHrtfBinaural(path)
            model = b.load()
            x = (0.1 * np.random.default_rng(0).standard_normal(int(seconds * 48000))).astype(np.float32)
            t0 = time.perf_counter()
            y = b.run(model, audio=Audio(x, 48000), motion="circling around me").outputs[0].audio.samples
            out["rtf"] = (time.perf_counter() - t0) / seconds
            y = b.run(model, audio=Audio(x, 48000), azimuth=-90.0).outputs[0].audio.samples
            out["quality"] = _ild_itd(y, 48000)
    elif name.startswith("inpainting/audioldm"):
        out.update(_audioldm(seconds, device))
    elif name.startswith("talking_head/wav2lip"):
        out.update(_wav2lip(seconds, device, 1.0 if "published" in name else 0.125))
    out.setdefault("peak_rss_mb", peak_mb())
    try:
        import torch

        if torch.cuda.is_available() and device == "cuda":
            out["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    except ImportError:
        pass
    return out


def _ild_itd(y: np.ndarray, sr: int) -> str:
    left, right = y.astype(np.float64)
    ild = 10 * np.log10(np.mean(left**2) / np.mean(right**2))
    n = left.size
    cc = np.fft.irfft(np.fft.rfft(right, 2 * n) * np.conj(np.fft.rfft(left, 2 * n)), 2 * n)
    lag = int(0.002 * sr)
    lags = np.concatenate([np.arange(0, lag + 1), np.arange(-lag, 0)])
    itd = lags[np.argmax(np.concatenate([cc[: lag + 1], cc[-lag:]]))] / sr * 1000
    return f"az -90: ILD {ild:+.1f} dB (left louder), ITD {itd:.2f} ms (left first)"


def _mouth_r(result: Any, x: np.ndarray, sr: int) -> str:
    from audiogpt.models.transform.talking_head_lite import default_face
    from audiogpt.models.transform.video import ffmpeg_exe

    d = result.data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        path.write_bytes(result.outputs[0].data)
        raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "bgr24",
                              "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, d["height"], d["width"], 3).astype(np.float32)
    still = default_face()[0].astype(np.float32)
    m, fh = d["mouth"], d["face"]["h"]
    y0, y1 = int(m["y"] - 0.3 * m["half_width"]), int(m["y"] + 0.13 * fh + 2 * m["half_width"])
    x0, x1 = int(m["x"] - 1.5 * m["half_width"]), int(m["x"] + 1.5 * m["half_width"])
    motion = np.abs(frames[:, y0:y1, x0:x1] - still[None, y0:y1, x0:x1]).mean(axis=(1, 2, 3))
    hop = sr // 25
    energy = np.array([np.sqrt(np.mean(x[i * hop : (i + 1) * hop] ** 2)) for i in range(frames.shape[0])])
    r_lin = np.corrcoef(motion, energy)[0, 1]
    r_log = np.corrcoef(motion, np.log(energy + 1e-4))[0, 1]
    return f"mouth motion vs energy r = {r_lin:.2f} (log energy {r_log:.2f})"


def _audioldm(seconds: float, device: str) -> dict[str, Any]:
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    from audiogpt.models.base import Audio
    from audiogpt.models.transform.full_inpaint import LatentDiffusionInpainting

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        torch.manual_seed(0)
        AutoencoderKL(in_channels=1, out_channels=1, latent_channels=8, block_out_channels=(32, 64, 128),
                      down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                      layers_per_block=1, norm_num_groups=16).save_pretrained(out / "vae")
        UNet2DConditionModel(sample_size=64, in_channels=8, out_channels=8, block_out_channels=(64, 128),
                             layers_per_block=1, norm_num_groups=16, cross_attention_dim=(64, 128),
                             down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                             up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), class_embed_type="simple_projection",
                             projection_class_embeddings_input_dim=32,
                             class_embeddings_concat=True).save_pretrained(out / "unet")
        DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.0015, beta_end=0.0195,
                      clip_sample=False).save_pretrained(out / "scheduler")
        SpeechT5HifiGan(SpeechT5HifiGanConfig(model_in_dim=64, sampling_rate=16000, upsample_initial_channel=64,
                                              upsample_rates=[5, 4, 4, 2], upsample_kernel_sizes=[10, 8, 8, 4],
                                              normalize_before=False)).save_pretrained(out / "vocoder")
        b = LatentDiffusionInpainting(str(out), steps=10, device=device)
        t0 = time.perf_counter()
        model = b.load()
        load_s = time.perf_counter() - t0
        x = notes(seconds)
        b.run(model, audio=Audio(x, 16000), start=seconds / 2, end=seconds / 2 + 0.5)  # warm-up
        t0 = time.perf_counter()
        b.run(model, audio=Audio(x, 16000), start=seconds / 2, end=seconds / 2 + 0.5)
        took = time.perf_counter() - t0
    return {"rtf": took / seconds, "quality": f"toy model, 0.5 s region in 8.5 s window; load {load_s:.1f} s"}


def _wav2lip(seconds: float, device: str, width: float) -> dict[str, Any]:
    import torch

    from audiogpt.models.base import Audio
    from audiogpt.models.transform.full_talking_head import Wav2LipTalkingHead
    from audiogpt.models.transform.wav2lip_net import Wav2Lip

    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        net = Wav2Lip(width)
        params = sum(p.numel() for p in net.parameters())
        path = Path(tmp) / "w2l.pth"
        torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)
        b = Wav2LipTalkingHead(path, width=width, device=device)
        model = b.load()
        x, sr, _kind = speech(seconds)
        b.run(model, audio=Audio(x[: sr], sr))  # warm-up
        t0 = time.perf_counter()
        b.run(model, audio=Audio(x, sr))
        took = time.perf_counter() - t0
    return {"rtf": took / seconds, "quality": f"{params / 1e6:.1f} M parameters, random weights"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--case")
    args = ap.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.seconds, args.device)))
        return
    rows = []
    for case in LITE + (FULL if args.full else []):
        proc = subprocess.run([sys.executable, __file__, "--case", case, "--seconds", str(args.seconds),
                               "--device", args.device], capture_output=True, text=True)
        if proc.returncode != 0:
            rows.append([case, "-", "-", "-", f"failed: {proc.stderr.strip().splitlines()[-1][:90]}"])
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        cuda = f"{r['peak_cuda_mb']:.0f}" if "peak_cuda_mb" in r else "-"
        rtf = f"{r['rtf']:.3f}" + (f" (search {r['detect_rtf']:.3f})" if "detect_rtf" in r else "")
        rows.append([case, rtf, f"{r['peak_rss_mb']:.0f}", cuda, r.get("quality", "")])
    print(f"{args.seconds:.0f} s clips, device {args.device}")
    print(table(["case", "RTF", "peak RSS MB", "peak CUDA MB", "quality"], rows))


if __name__ == "__main__":
    main()
