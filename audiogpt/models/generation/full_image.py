"""Full image-to-audio: a BLIP image captioner (``transformers``) feeding AudioLDM 2.

The picture is described in words by BLIP (``Salesforce/blip-image-captioning-base``), the
caption is turned into a sound prompt ("the sound of <caption>") and AudioLDM 2 generates it.
Both models come from local files only; the answer shows the caption so the user sees why the
sound is what it is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendInfo,
    BackendResult,
    BadInput,
    Image,
    ModelNotInstalled,
    OutputFile,
    ProgressReport,
)
from audiogpt.models.generation import dsp, image_scene
from audiogpt.models.generation.full_audioldm import AudioLDM2TextToAudio, LdmBundle
from audiogpt.models.generation.lite import SOUND_DEFAULT_S, clamp_seconds
from audiogpt.models.speech.full_common import (
    HFModel,
    install_hint,
    load_pretrained,
    torch_device_dtype,
    why_missing,
)

log = logging.getLogger(__name__)

BLIP_FILES: tuple[str | tuple[str, ...], ...] = (("preprocessor_config.json", "processor_config.json"),)
CAPTION_SIDE = 384  # BLIP's input resolution
FALLBACK_PROMPT = "ambient room tone"


@dataclass
class CaptionSoundBundle:
    captioner: Any
    processor: Any
    device: str
    dtype: Any
    sound: LdmBundle


class BlipAudioLDM2ImageToAudio:
    """BLIP caption -> AudioLDM 2 sound (BSD-3-Clause BLIP weights; CC-BY-NC-SA-4.0 AudioLDM 2 weights)."""

    name = "blip-caption-audioldm2"
    task = "image_to_audio"
    kind = "full"

    def __init__(self, captioner: str = "Salesforce/blip-image-captioning-base", *,
                 sound: AudioLDM2TextToAudio | None = None, max_caption_tokens: int = 30, device: str = "auto",
                 fp16: bool = True, revision: str | None = None, cache_dir: str | None = None) -> None:
        self.captioner = HFModel(captioner, revision, cache_dir)
        self.sound = sound or AudioLDM2TextToAudio(device=device, fp16=fp16, cache_dir=cache_dir)
        self.max_caption_tokens = max_caption_tokens
        self.device = device
        self.fp16 = fp16

    def _missing(self) -> str:
        return why_missing("BLIP image captioning", [("BLIP captioner", self.captioner, BLIP_FILES)]) or \
            self.sound.describe().reason

    def install_hint(self) -> str:
        return install_hint([self.captioner]) + f", and for the sound: {self.sound.describe().install_hint}"

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(name=self.name, task=self.task, kind=self.kind,
                           model=f"BLIP ({self.captioner.ref}) + AudioLDM 2 ({self.sound.model.ref})",
                           licence="BSD-3-Clause (BLIP); CC-BY-NC-SA-4.0 (AudioLDM 2 weights, non-commercial)",
                           installed=not reason, install_hint=self.install_hint(), reason=reason, memory_mb=4500,
                           description="Captions the picture, then generates the sound the caption describes.")

    def load(self) -> CaptionSoundBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint()}.")
        from transformers import BlipForConditionalGeneration, BlipProcessor

        t0 = time.perf_counter()
        device, dtype = torch_device_dtype(self.device, self.fp16)
        processor = load_pretrained(BlipProcessor.from_pretrained, self.captioner, "BLIP captioner")
        model = load_pretrained(BlipForConditionalGeneration.from_pretrained, self.captioner, "BLIP captioner")
        model = model.to(device=device, dtype=dtype).eval()
        sound = self.sound.load()
        log.info("loaded BLIP %s + AudioLDM 2 in %.2f s", self.captioner.ref, time.perf_counter() - t0)
        return CaptionSoundBundle(model, processor, device, dtype, sound)

    def caption(self, bundle: CaptionSoundBundle, image: Image) -> str:
        import torch
        from PIL import Image as PILImage

        pixels = image_scene.load_pixels(image, CAPTION_SIDE)
        pil = PILImage.fromarray(np.clip(pixels * 255.0, 0, 255).astype(np.uint8))
        inputs = bundle.processor(images=pil, return_tensors="pt")
        pv = inputs["pixel_values"].to(device=bundle.device, dtype=bundle.dtype)
        with torch.inference_mode():
            ids = bundle.captioner.generate(pixel_values=pv, max_new_tokens=self.max_caption_tokens)
        return " ".join(bundle.processor.decode(ids[0], skip_special_tokens=True).split())

    def run(self, model: CaptionSoundBundle, *, image: Image, seconds: float | None = None, seed: int | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        t0 = time.perf_counter()
        if not isinstance(image, Image):
            raise BadInput("Image to audio needs a picture.")
        if progress is not None:
            progress(0.0, "describing the picture")
        caption = self.caption(model, image)
        secs, note = clamp_seconds(seconds, SOUND_DEFAULT_S, self.sound.min_seconds, self.sound.max_seconds)
        sound_prompt = f"the sound of {caption}" if caption else FALLBACK_PROMPT
        use_seed = self.sound.seed if seed is None else int(seed)
        wave = self.sound.generate(model.sound, sound_prompt, secs, use_seed, progress)
        audio = Audio(dsp.finish(wave, model.sound.rate), model.sound.rate)
        said = f"The picture shows: '{caption}'." if caption else "The captioner found no words for the picture."
        return BackendResult(
            text=(f"{said} Generated {audio.duration:.1f} s of '{sound_prompt}' with AudioLDM 2 (seed {use_seed}). "
                  + (note + " " if note else "") + f"(full: {self.name})"),
            outputs=[OutputFile(name="sound", audio=audio, description=f"Sound for the picture: {caption[:80]}")],
            data={"caption": caption, "prompt": sound_prompt, "seed": use_seed, "seconds": round(audio.duration, 3),
                  "sample_rate": model.sound.rate, "seconds_to_make": round(time.perf_counter() - t0, 3),
                  **({"note": note} if note else {})},
        )
