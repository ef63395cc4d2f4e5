"""Full text-to-music: MusicGen (``facebook/musicgen-small``) through ``transformers``.

MusicGen encodes the description with T5 and writes EnCodec tokens autoregressively (4
codebooks with a delay pattern, 50 frames a second at 32 kHz), with classifier-free guidance;
EnCodec decodes them to audio. Weights come from a local folder or the local HF cache only.
Progress is reported once per generated frame through a pass-through logits processor; the
seed is an argument (sampling uses torch's global generator, so generations are serialised).
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
    OutputFile,
    ProgressReport,
)
from audiogpt.models.generation import dsp, prompt
from audiogpt.models.generation.lite import MUSIC_DEFAULT_S, clamp_seconds
from audiogpt.models.speech.full_common import (
    HFModel,
    install_hint,
    load_pretrained,
    torch_device_dtype,
    why_missing,
)

log = logging.getLogger(__name__)

PROCESSOR_FILES: tuple[str | tuple[str, ...], ...] = (("preprocessor_config.json", "processor_config.json"),)


@dataclass
class MusicgenBundle:
    model: Any
    processor: Any
    device: str
    rate: int
    frame_rate: float
    codebooks: int
    lock: threading.Lock = field(default_factory=threading.Lock)


def _progress_processor(total: int, progress: ProgressReport | None) -> Any:
    """A logits processor that changes nothing and counts generated frames (MusicGen's step hook)."""
    from transformers import LogitsProcessor

    class Count(LogitsProcessor):
        def __init__(self) -> None:
            self.steps = 0

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            self.steps += 1
            if progress is not None and (self.steps % 10 == 0 or self.steps == total):
                progress(min(1.0, self.steps / total), f"generating music: frame {self.steps}/{total}")
            return scores

    return Count()


class MusicgenTextToMusic:
    """MusicGen via transformers: text to music, 32 kHz mono (CC-BY-NC-4.0 weights)."""

    name = "musicgen-transformers"
    task = "text_to_music"
    kind = "full"

    def __init__(self, model: str = "facebook/musicgen-small", *, guidance: float = 3.0, seed: int = 0,
                 temperature: float = 1.0, device: str = "auto", fp16: bool = True, revision: str | None = None,
                 cache_dir: str | None = None, min_seconds: float = 2.0, max_seconds: float = 30.0) -> None:
        self.model = HFModel(model, revision, cache_dir)
        self.guidance = guidance
        self.seed = seed
        self.temperature = temperature
        self.device = device
        self.fp16 = fp16
        self.min_seconds = min_seconds
        self.max_seconds = max_seconds  # MusicGen was trained on 30 s clips

    def _missing(self) -> str:
        return why_missing("MusicGen text-to-music", [("MusicGen", self.model, PROCESSOR_FILES)])

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(name=self.name, task=self.task, kind=self.kind, model=f"MusicGen ({self.model.ref})",
                           licence="CC-BY-NC-4.0 (MusicGen weights, non-commercial); MIT (code), Apache-2.0 (transformers)",
                           installed=not reason, install_hint=install_hint([self.model]), reason=reason,
                           memory_mb=2400, description=f"Autoregressive music generation up to {self.max_seconds:.0f} s.")

    def load(self) -> MusicgenBundle:
        from audiogpt.models.base import ModelNotInstalled

        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {install_hint([self.model])}.")
        from transformers import AutoProcessor, MusicgenForConditionalGeneration

        t0 = time.perf_counter()
        device, dtype = torch_device_dtype(self.device, self.fp16)
        processor = load_pretrained(AutoProcessor.from_pretrained, self.model, "MusicGen")
        model = load_pretrained(MusicgenForConditionalGeneration.from_pretrained, self.model, "MusicGen")
        model = model.to(device=device, dtype=dtype).eval()
        enc = model.config.audio_encoder
        rate = int(enc.sampling_rate)
        frame_rate = float(getattr(enc, "frame_rate", None) or rate / float(np.prod(enc.upsampling_ratios)))
        log.info("loaded MusicGen %s on %s in %.2f s", self.model.ref, device, time.perf_counter() - t0)
        return MusicgenBundle(model, processor, device, rate, frame_rate, int(model.decoder.num_codebooks))

    def run(self, model: MusicgenBundle, *, text: str, seconds: float | None = None, seed: int | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        import torch
        from transformers import LogitsProcessorList

        t0 = time.perf_counter()
        text = prompt.check_prompt(text, "music", "calm lo-fi piano")
        secs, note = clamp_seconds(seconds, min(MUSIC_DEFAULT_S, self.max_seconds), self.min_seconds,
                                   self.max_seconds)
        use_seed = self.seed if seed is None else int(seed)
        frames = max(1, round(secs * model.frame_rate)) + model.codebooks - 1  # the delay pattern's tail
        counter = _progress_processor(frames, progress)
        inputs = model.processor(text=[text], padding=True, return_tensors="pt").to(model.device)
        with model.lock, torch.inference_mode():
            torch.manual_seed(use_seed)
            wav = model.model.generate(**inputs, do_sample=True, guidance_scale=self.guidance,
                                       temperature=self.temperature, max_new_tokens=frames,
                                       logits_processor=LogitsProcessorList([counter]))
        samples = wav[0].float().mean(dim=0).cpu().numpy()[: int(secs * model.rate)]
        audio = Audio(dsp.finish(samples, model.rate), model.rate)
        took = time.perf_counter() - t0
        return BackendResult(
            text=(f"Generated {audio.duration:.1f} s of music for '{text}' with MusicGen (seed {use_seed}). "
                  + (note + " " if note else "") + f"(full: {self.name})"),
            outputs=[OutputFile(name="music", audio=audio, description=f"MusicGen: {text[:80]}")],
            data={"prompt": text, "model": self.model.ref, "seed": use_seed, "frames": frames,
                  "guidance": self.guidance, "seconds": round(audio.duration, 3), "sample_rate": model.rate,
                  "seconds_to_make": round(took, 3), **({"note": note} if note else {})},
        )
