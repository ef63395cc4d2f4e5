"""Full sound event detection: the Audio Spectrogram Transformer (AudioSet, 527 labels) on sliding windows.

``MIT/ast-finetuned-audioset-10-10-0.4593`` (BSD-3-Clause) is a clip tagger:
one sigmoid score per label for up to 10.24 s. Run on 2 s windows every 0.5 s
(constructor arguments), its
scores over time decode into events exactly as YAMNet's do (hysteresis,
level-step refinement), and the same timeline picture is drawn. Windows are
read and resampled batch by batch, so a long recording stays in bounded memory,
and progress is reported per batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendResult, ProgressReport
from audiogpt.models.sound.common import check_audio, is_silent, iter_windows, window_count
from audiogpt.models.sound.detect_lite import detection_answer, silent_detection
from audiogpt.models.sound.events import Scores
from audiogpt.models.sound.full_base import HFBackend, to_device
from audiogpt.models.speech.full_common import load_pretrained, torch_device_dtype

log = logging.getLogger(__name__)

AST_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"  # AUDIOGPT_SOUND_AST_MODEL overrides it (settings)
SAMPLE_RATE = 16_000
WINDOW_S = 2.0
HOP_S = 0.5
BATCH = 16


@dataclass
class AstBundle:
    model: Any
    extractor: Any
    labels: list[str]
    device: str
    dtype: Any


class AstSoundDetection(HFBackend):
    """AST AudioSet tagger over sliding windows -> events + timeline."""

    name = "ast-audioset"
    task = "sound_detection"
    what = "AST sound event tagger"
    licence = "BSD-3-Clause (MIT/ast-finetuned-audioset weights); Apache-2.0 (transformers)"
    memory = 400
    description = ("Tags sound events over time with the Audio Spectrogram Transformer (527 AudioSet labels) "
                   "on 2 s windows every 0.5 s, and draws a timeline.")
    required = ("preprocessor_config.json",)

    def __init__(self, model: str = AST_MODEL, window_s: float = WINDOW_S, hop_s: float = HOP_S, **kw: Any) -> None:
        super().__init__(model, **kw)
        self.window_s = window_s
        self.hop_s = hop_s

    def load(self) -> AstBundle:
        self._require()
        from transformers import ASTFeatureExtractor, ASTForAudioClassification

        device, dtype = torch_device_dtype(self.device, self.fp16)
        extractor = load_pretrained(ASTFeatureExtractor.from_pretrained, self.model, self.what)
        model = load_pretrained(ASTForAudioClassification.from_pretrained, self.model, self.what, dtype=dtype)
        model.to(device).eval()
        labels = [str(model.config.id2label[i]) for i in range(model.config.num_labels)]
        return AstBundle(model, extractor, labels, device, dtype)

    def scores(self, bundle: AstBundle, audio: Audio, progress: ProgressReport | None = None) -> Scores:
        import torch

        n = window_count(audio.duration, self.window_s, self.hop_s)
        probs = np.zeros((n, len(bundle.labels)), np.float32)
        levels: list[np.ndarray] = []
        for first, batch in iter_windows(audio, SAMPLE_RATE, self.window_s, self.hop_s, BATCH, levels):
            feats = bundle.extractor(list(batch), sampling_rate=SAMPLE_RATE, return_tensors="pt")
            with torch.inference_mode():
                logits = bundle.model(**to_device(feats, bundle.device, bundle.dtype)).logits
            probs[first : first + batch.shape[0]] = torch.sigmoid(logits.float()).cpu().numpy()
            if progress is not None and n > BATCH:
                progress((first + batch.shape[0]) / n, "tagging sound events")
        return Scores(probs=probs, labels=bundle.labels, duration=audio.duration,
                      level_db=np.concatenate(levels) if levels else None, hop=self.hop_s, length=self.window_s)

    def run(self, model: AstBundle, *, audio: Audio, progress: ProgressReport | None = None) -> BackendResult:
        audio = check_audio(audio, "Sound detection")
        tag = f"full: {self.name}"
        if is_silent(audio):
            return silent_detection(audio, self.name, tag)
        return detection_answer(audio, self.scores(model, audio, progress), backend=self.name, tag=tag)
