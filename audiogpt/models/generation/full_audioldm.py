"""Full text-to-audio: AudioLDM 2 (``cvssp/audioldm2``) through ``diffusers``, for a GPU deployment.

AudioLDM 2 turns the description into CLAP and T5 embeddings, lets a GPT-2 "language of audio"
model write the conditioning sequence, denoises a mel-spectrogram latent with a UNet and speaks
it through a HiFi-GAN vocoder at 16 kHz. Weights are read from a local folder or the local HF
cache only (``local_files_only``); absent weights give one sentence with the install hint.
Seed, steps, guidance and the duration are arguments; every denoising step reports progress.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendInfo,
    BackendResult,
    ModelNotInstalled,
    OutputFile,
    ProgressReport,
    have_module,
)
from audiogpt.models.generation import dsp, prompt
from audiogpt.models.generation.lite import SOUND_DEFAULT_S, clamp_seconds
from audiogpt.models.speech.full_common import (
    FULL_EXTRA,
    HFModel,
    stack_missing,
    torch_device_dtype,
)

log = logging.getLogger(__name__)

PIPELINE_FILES = ("model_index.json", "unet/config.json", "vae/config.json", "vocoder/config.json")
UNET_WEIGHTS = ("unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.bin",
                "unet/diffusion_pytorch_model.fp16.safetensors")


def pipeline_missing(what: str, model: HFModel) -> str:
    """One sentence on what is absent for a diffusers pipeline folder/repo, or ""."""
    gone = stack_missing()
    if not gone and not have_module("diffusers"):
        gone = "diffusers"
    if gone:
        return f"The full {what} backend needs {gone}, which is not installed."
    absent = [f for f in PIPELINE_FILES if not model.has(f)]
    if not any(model.has(w) for w in UNET_WEIGHTS):
        absent.append("unet weights")
    if not absent:
        return ""
    where = f"model folder {model.ref}" if model.is_local else f"model {model.ref} in the local Hugging Face cache"
    if "model_index.json" in absent:
        return (f"The {what} model folder {model.ref} is not a diffusers pipeline (no model_index.json)."
                if model.is_local else f"The {what} model {model.ref} is not in the local Hugging Face cache.")
    return f"The {what} {where} is incomplete ({', '.join(absent)} missing)."


def pipeline_hint(model: HFModel) -> str:
    if model.is_local:
        return f"{FULL_EXTRA}, then put the diffusers pipeline (model_index.json and its folders) in {model.ref}"
    return (f"{FULL_EXTRA}, then download {model.ref} into the Hugging Face cache on a machine with network "
            f"(hf download {model.ref}) or configure a local model folder")


@dataclass
class LdmBundle:
    pipe: Any
    device: str
    rate: int
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time per pipeline


class AudioLDM2TextToAudio:
    """AudioLDM 2 via diffusers: text to sound effects and ambiences at 16 kHz (CC-BY-NC-SA-4.0 weights)."""

    name = "audioldm2-diffusers"
    task = "text_to_audio"
    kind = "full"

    def __init__(self, model: str = "cvssp/audioldm2", *, steps: int = 100, guidance: float = 3.5, seed: int = 0,
                 negative_prompt: str = "low quality, distorted, noise", device: str = "auto", fp16: bool = True,
                 revision: str | None = None, cache_dir: str | None = None, min_seconds: float = 1.0,
                 max_seconds: float = 60.0, max_new_tokens: int | None = None) -> None:
        self.model = HFModel(model, revision, cache_dir)
        self.steps = steps
        self.guidance = guidance
        self.seed = seed
        self.negative_prompt = negative_prompt
        self.device = device
        self.fp16 = fp16
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds
        self.max_new_tokens = max_new_tokens

    def _missing(self) -> str:
        return pipeline_missing("AudioLDM 2 text-to-audio", self.model)

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(name=self.name, task=self.task, kind=self.kind,
                           model=f"AudioLDM 2 ({self.model.ref}) via diffusers",
                           licence="CC-BY-NC-SA-4.0 (AudioLDM 2 weights, non-commercial); Apache-2.0 (diffusers)",
                           installed=not reason, install_hint=pipeline_hint(self.model), reason=reason,
                           memory_mb=3500, description=f"Latent diffusion text-to-audio, 16 kHz, {self.steps} steps.")

    def load(self) -> LdmBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {pipeline_hint(self.model)}.")
        from diffusers import AudioLDM2Pipeline

        t0 = time.perf_counter()
        device, dtype = torch_device_dtype(self.device, self.fp16)
        try:
            pipe = AudioLDM2Pipeline.from_pretrained(self.model.source(), torch_dtype=dtype, **self.model.kwargs())
        except (OSError, ValueError) as exc:
            log.warning("could not load AudioLDM 2 from %s: %s", self.model.ref, exc)
            raise ModelNotInstalled(f"The AudioLDM 2 model {self.model.ref} could not be loaded from local files "
                                    f"({type(exc).__name__}, details in the log); {pipeline_hint(self.model)}.") from exc
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        rate = int(pipe.vocoder.config.sampling_rate)
        log.info("loaded AudioLDM 2 %s on %s in %.2f s", self.model.ref, device, time.perf_counter() - t0)
        return LdmBundle(pipe, device, rate)

    def generate(self, bundle: LdmBundle, text: str, seconds: float, seed: int,
                 progress: ProgressReport | None = None) -> np.ndarray:
        """Raw waveform (float32) for ``text``; shared with the image-to-audio backend."""
        import torch

        steps = self.steps

        def on_step(step: int, _t: Any, _latents: Any) -> None:
            if progress is not None:
                progress(min(1.0, (step + 1) / steps), f"denoising step {step + 1}/{steps}")

        extra: dict[str, Any] = {}
        if self.max_new_tokens is not None:
            extra["max_new_tokens"] = self.max_new_tokens
        with bundle.lock, torch.inference_mode():
            gen = torch.Generator(device="cpu").manual_seed(int(seed))
            out = bundle.pipe(text, negative_prompt=self.negative_prompt, num_inference_steps=steps,
                              guidance_scale=self.guidance, audio_length_in_s=seconds, generator=gen,
                              callback=on_step, callback_steps=1, output_type="np", **extra)
        return np.asarray(out.audios[0], dtype=np.float32).reshape(-1)

    def run(self, model: LdmBundle, *, text: str, seconds: float | None = None, seed: int | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        t0 = time.perf_counter()
        text = prompt.check_prompt(text, "sound", "rain on a tin roof")
        secs, note = clamp_seconds(seconds, SOUND_DEFAULT_S, self.min_seconds, self.max_seconds)
        use_seed = self.seed if seed is None else int(seed)
        wave = self.generate(model, text, secs, use_seed, progress)
        audio = Audio(dsp.finish(wave, model.rate), model.rate)
        took = time.perf_counter() - t0
        return BackendResult(
            text=(f"Generated {audio.duration:.1f} s of '{text}' with AudioLDM 2 ({self.steps} steps, seed "
                  f"{use_seed}). " + (note + " " if note else "") + f"(full: {self.name})"),
            outputs=[OutputFile(name="sound", audio=audio, description=f"AudioLDM 2: {text[:80]}")],
            data={"prompt": text, "model": self.model.ref, "steps": self.steps, "guidance": self.guidance,
                  "seed": use_seed, "seconds": round(audio.duration, 3), "sample_rate": model.rate,
                  "seconds_to_make": round(took, 3), **({"note": note} if note else {})},
        )
