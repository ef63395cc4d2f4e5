"""Full audio captioning with an audio-language model: Qwen2-Audio-7B-Instruct through transformers.

Why this model: it is a general audio-language model (sounds, speech and
music) under Apache-2.0, served by a stock transformers class
(``Qwen2AudioForConditionalGeneration`` + ``Qwen2AudioProcessor``), so the
backend needs no custom code; a prompt asks for one or two sentences. The
dedicated captioners on the hub (e.g. Whisper fine-tunes on Clotho/AudioCaps)
carry non-commercial data terms. The same class builds at toy sizes from a
config, which is how the test runs the real loading and generation code.

The model hears at most 30 s (its Whisper-style encoder); a longer clip is
described from its first 30 s and the answer says so. Decoding is greedy, so a
clip always gets the same caption.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from audiogpt.models.base import Audio, BackendResult, ProgressReport
from audiogpt.models.sound.common import check_audio, is_silent
from audiogpt.models.sound.full_base import HFBackend, to_device
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.full_common import load_pretrained, torch_device_dtype

log = logging.getLogger(__name__)

CAPTION_MODEL = "Qwen/Qwen2-Audio-7B-Instruct"  # AUDIOGPT_SOUND_CAPTION_MODEL overrides it (settings)
MAX_SECONDS = 30.0
MAX_NEW_TOKENS = 64
INSTRUCTION = ("Describe what can be heard in this recording in one or two sentences: the main sounds, "
               "their order, and the setting.")
# Qwen2-Audio's chat format, as its processor's default chat template writes it for one audio.
PROMPT = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
          "<|im_start|>user\nAudio 1: <|audio_bos|><|AUDIO|><|audio_eos|>\n{instruction}<|im_end|>\n"
          "<|im_start|>assistant\n")


def two_sentences(text: str, limit: int = 400) -> str:
    """The first one or two sentences, whitespace tidied, at most ``limit`` characters."""
    text = " ".join(text.split())
    parts = re.split(r"(?<=[.!?])\s+", text)
    out = " ".join(parts[:2]).strip()
    return out[:limit].rstrip()


@dataclass
class CaptionBundle:
    model: Any
    processor: Any
    rate: int
    device: str
    dtype: Any


class Qwen2AudioCaption(HFBackend):
    """One or two sentences about a recording from Qwen2-Audio (greedy decoding)."""

    name = "qwen2-audio"
    task = "audio_to_text"
    what = "Qwen2-Audio audio-language"
    licence = "Apache-2.0 (Qwen/Qwen2-Audio-7B-Instruct weights and transformers)"
    memory = 16_000
    description = ("Describes a recording in one or two sentences with Qwen2-Audio-7B-Instruct, an "
                   "audio-language model (sounds, speech, music; first 30 s).")
    required = (("preprocessor_config.json", "processor_config.json"), ("tokenizer.json", "vocab.json"))

    def __init__(self, model: str = CAPTION_MODEL, **kw: Any) -> None:
        super().__init__(model, **kw)

    def load(self) -> CaptionBundle:
        self._require()
        from transformers import Qwen2AudioForConditionalGeneration, Qwen2AudioProcessor

        device, dtype = torch_device_dtype(self.device, self.fp16)
        processor = load_pretrained(Qwen2AudioProcessor.from_pretrained, self.model, self.what)
        model = load_pretrained(Qwen2AudioForConditionalGeneration.from_pretrained, self.model, self.what,
                                dtype=dtype)
        model.to(device).eval()
        return CaptionBundle(model, processor, int(processor.feature_extractor.sampling_rate), device, dtype)

    def run(self, model: CaptionBundle, *, audio: Audio, progress: ProgressReport | None = None) -> BackendResult:
        import torch

        audio = check_audio(audio, "Audio captioning")
        tag = f"full: {self.name}"
        data: dict[str, Any] = {"backend": self.name, "duration": round(audio.duration, 2)}
        if is_silent(audio):
            data.update(caption="Silence: nothing can be heard.", silent=True)
            return BackendResult(text=f"Silence: nothing can be heard ({tag}).", data=data)
        heard = audio
        if audio.duration > MAX_SECONDS:
            heard = Audio(audio.samples[..., : int(MAX_SECONDS * audio.sample_rate)], audio.sample_rate)
        x = to_mono_rate(heard, model.rate)
        if progress is not None:
            progress(None, "listening and describing")
        inputs = model.processor(text=PROMPT.format(instruction=INSTRUCTION), audio=[x], sampling_rate=model.rate,
                                 return_tensors="pt")
        batch = to_device(inputs, model.device, model.dtype)
        prompt_len = int(batch["input_ids"].shape[1])
        tok = model.processor.tokenizer
        with torch.inference_mode():
            out = model.model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                       pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        raw = tok.decode(out[0, prompt_len:], skip_special_tokens=True)
        caption = two_sentences(raw) or "The model gave no description."
        data.update(caption=caption, raw=raw[:2000], heard_seconds=round(min(audio.duration, MAX_SECONDS), 2))
        note = (f" (described from the first {MAX_SECONDS:.0f} s of the {audio.duration / 60:.1f} min clip)"
                if audio.duration > MAX_SECONDS else "")
        return BackendResult(text=f"{caption}{note} ({tag})", data=data)


__all__ = ["CAPTION_MODEL", "Qwen2AudioCaption"]
