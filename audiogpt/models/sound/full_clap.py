"""Full target sound detection and extraction with CLAP (text-audio similarity over windows).

``laion/clap-htsat-unfused`` (Apache-2.0) embeds audio and text in one space,
so any description can be looked for: no label list, no "unknown sound". Each
1 s window (every 0.25 s, resampled to 48 kHz batch by batch) is compared with
the query and with a set of contrast descriptions (common everyday sounds,
minus those CLAP's own text space puts close to the query); the window's score
is the query's softmax share at CLAP's learned logit scale, i.e. zero-shot
classification with an open set of alternatives. Scores decode into segments
like every detector here (:mod:`events`).

Extraction reuses those segments to steer :mod:`masking`: "CLAP-guided
masking" (a learned language-queried separator such as AudioSep does not ship
through transformers).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendResult, OutputFile, ProgressReport
from audiogpt.models.sound.common import (
    MAX_EXTRACT_S,
    check_audio,
    is_silent,
    iter_windows,
    window_count,
)
from audiogpt.models.sound.detect_lite import target_answer
from audiogpt.models.sound.events import Scores, decode
from audiogpt.models.sound.full_base import HFBackend, pooled, to_device
from audiogpt.models.sound.labels import clean_query
from audiogpt.models.sound.masking import extract
from audiogpt.models.speech.full_common import load_pretrained, torch_device_dtype

log = logging.getLogger(__name__)

CLAP_MODEL = "laion/clap-htsat-unfused"  # AUDIOGPT_SOUND_CLAP_MODEL overrides it (settings)
WINDOW_S = 1.0
HOP_S = 0.25
BATCH = 16
CONTRAST = (
    "silence", "background noise", "a person speaking", "music", "a dog barking", "a car engine",
    "birds chirping", "rain", "wind blowing", "footsteps", "a door closing", "typing on a keyboard",
    "a beep", "a siren", "people laughing", "water running", "a phone ringing", "clapping",
)
TOO_CLOSE = 0.8  # contrast descriptions this similar to the query (CLAP text space) are dropped
MIN_CONTRAST = 4


@dataclass
class ClapBundle:
    model: Any
    processor: Any
    rate: int
    device: str
    dtype: Any


class _ClapBackend(HFBackend):
    what = "CLAP text-audio"
    licence = "Apache-2.0 (laion/clap-htsat-unfused weights and transformers)"
    memory = 900
    required = (("preprocessor_config.json", "processor_config.json"), ("tokenizer.json", "vocab.json"))

    def __init__(self, model: str = CLAP_MODEL, window_s: float = WINDOW_S, hop_s: float = HOP_S,
                 **kw: Any) -> None:
        super().__init__(model, **kw)
        self.window_s = window_s
        self.hop_s = hop_s

    def load(self) -> ClapBundle:
        self._require()
        from transformers import ClapModel, ClapProcessor

        device, dtype = torch_device_dtype(self.device, self.fp16)
        processor = load_pretrained(ClapProcessor.from_pretrained, self.model, self.what)
        model = load_pretrained(ClapModel.from_pretrained, self.model, self.what, dtype=dtype)
        model.to(device).eval()
        return ClapBundle(model, processor, int(processor.feature_extractor.sampling_rate), device, dtype)

    def text_embeddings(self, bundle: ClapBundle, texts: list[str]) -> np.ndarray:
        import torch

        tok = bundle.processor.tokenizer(texts, padding=True, return_tensors="pt")
        with torch.inference_mode():
            emb = pooled(bundle.model.get_text_features(**to_device(tok, bundle.device, bundle.dtype)))
        emb = torch.nn.functional.normalize(emb.float(), dim=-1)
        return emb.cpu().numpy()

    def query_track(self, bundle: ClapBundle, audio: Audio, query: str,
                    progress: ProgressReport | None = None) -> tuple[np.ndarray, Scores, list[str]]:
        """Per-window probability that the window sounds like ``query`` rather than a contrast sound."""
        import torch

        texts = [query, *CONTRAST]
        text = self.text_embeddings(bundle, texts)
        sims = text[1:] @ text[0]
        far = [i + 1 for i in np.argsort(sims) if sims[i] < TOO_CLOSE]
        if len(far) < MIN_CONTRAST:  # never compare the query with nothing: keep the least similar few
            far = [int(i) + 1 for i in np.argsort(sims)[:MIN_CONTRAST]]
        keep = [0, *sorted(far)]
        text = text[keep]
        scale_param = getattr(bundle.model, "logit_scale_a", None)
        scale = float(scale_param.detach().float().exp()) if scale_param is not None else 100.0
        n = window_count(audio.duration, self.window_s, self.hop_s)
        track = np.zeros(n, np.float32)
        levels: list[np.ndarray] = []
        fe = bundle.processor.feature_extractor
        # the unfused checkpoint takes one mel channel; "fusion" would stack four (windows are < 10 s,
        # so "rand_trunc" never truncates: it only repeat-pads)
        fused = bool(getattr(bundle.model.config.audio_config, "enable_fusion", False))
        mode = "fusion" if fused else "rand_trunc"
        for first, batch in iter_windows(audio, bundle.rate, self.window_s, self.hop_s, BATCH, levels):
            feats = fe(list(batch), sampling_rate=bundle.rate, return_tensors="pt", truncation=mode)
            with torch.inference_mode():
                emb = pooled(bundle.model.get_audio_features(**to_device(feats, bundle.device, bundle.dtype)))
            emb = torch.nn.functional.normalize(emb.float(), dim=-1).cpu().numpy()
            logits = scale * emb @ text.T
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            track[first : first + batch.shape[0]] = p[:, 0] / p.sum(axis=1)
            if progress is not None and n > BATCH:
                progress((first + batch.shape[0]) / n, f"listening for {query}")
        scores = Scores(probs=track[:, None], labels=[query], duration=audio.duration,
                        level_db=np.concatenate(levels) if levels else None, hop=self.hop_s, length=self.window_s)
        return track, scores, [texts[i] for i in keep[1:]]


class ClapTargetDetection(_ClapBackend):
    """When does a described sound occur: CLAP similarity of each window with the description."""

    name = "clap-htsat"
    task = "target_sound_detection"
    description = ("Finds when any described sound occurs by comparing each 1 s window with the description in "
                   "CLAP's joint text-audio space (open vocabulary).")

    def run(self, model: ClapBundle, *, audio: Audio, query: str,
            progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Target sound detection")
        q = clean_query(query)
        tag = f"full: {self.name}"
        data: dict[str, Any] = {"backend": self.name, "query": query, "duration": round(audio.duration, 2),
                                "known": True}
        if is_silent(audio):
            data.update(found=False, segments=[], silent=True)
            return BackendResult(text=f"Not found: the clip is silent, so there is no {q} in it ({tag}).", data=data)
        track, scores, contrast = self.query_track(model, audio, q, progress)
        data["contrast"] = contrast
        return target_answer(audio, track, scores, query=q, described="CLAP text-audio match", tag=tag, data=data)


class ClapExtraction(_ClapBackend):
    """Described sound out of a mix: CLAP finds when, a spectral mask pulls it out; two files."""

    name = "clap-mask"
    task = "sound_extraction"
    description = ("Pulls any described sound out of a mix: CLAP finds the windows where it sounds, a "
                   "time-frequency mask built from those windows separates it from the rest.")

    def run(self, model: ClapBundle, *, audio: Audio, query: str,
            progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Sound extraction", MAX_EXTRACT_S)
        q = clean_query(query)
        tag = f"full: {self.name}, CLAP-guided spectral mask"
        data: dict[str, Any] = {"backend": self.name, "query": query, "duration": round(audio.duration, 2)}
        if is_silent(audio):
            data.update(found=False, silent=True)
            return BackendResult(text=f"The clip is silent: there is no {q} to extract ({tag}).", data=data)
        track, scores, _contrast = self.query_track(model, audio, q, progress)
        events = decode(track, q, hop=scores.hop, length=scores.length, duration=scores.duration,
                        level=scores.level_db)
        data.update(found=bool(events), segments=[{"start": round(e.start, 2), "end": round(e.end, 2)} for e in events])
        if not events:
            return BackendResult(text=(f"Nothing to extract: CLAP found no {q} in the {audio.duration:.1f} s clip "
                                       f"(highest score {float(track.max()):.2f}) ({tag})."), data=data)
        sr = int(audio.sample_rate)
        result = extract(np.asarray(audio.mono().samples, np.float32), sr, [(e.start, e.end) for e in events])
        lo, hi = result.band_hz
        data.update(band_hz=[round(lo), round(hi)], active_seconds=round(result.active_s, 2))
        total = sum(e.duration for e in events)
        return BackendResult(
            text=(f"Extracted '{q}': {len(events)} segment(s), {total:.1f} s in all, mostly {lo:.0f}-{hi:.0f} Hz; "
                  f"the second file is everything else ({tag})."),
            outputs=[OutputFile(name="extracted", audio=Audio(np.clip(result.target, -1, 1), sr),
                                description=f"The {q} on its own."),
                     OutputFile(name="residual", audio=Audio(np.clip(result.residual, -1, 1), sr),
                                description=f"The mix without the {q}.")],
            data=data,
        )
