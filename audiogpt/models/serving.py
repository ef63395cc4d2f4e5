"""Running several requests of one backend together (the model side of dynamic batching).

A serving replica (``core/runner_ray.py``) gathers concurrent requests with
``@serve.batch`` and hands them here. A backend batches when it defines
``run_batch(model, inputs: list[dict]) -> list[BackendResult | Exception]``, or
when a batcher below knows its model. Everything else runs one by one, so
batching never changes which backends work, only how fast.

The lite ASR batcher runs Whisper tiny.en (CTranslate2) on a whole batch of short
clips at once: one padded encoder pass and one beam-search ``generate`` over all
clips. Clips longer than one Whisper window, or silent ones, take the backend's own
path. Its output has the backend's shape (``transcript``, ``segments``, ``language``,
``duration``), with one segment per clip since the batched decode runs without
timestamps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, Backend, BackendResult, BadInput

log = logging.getLogger(__name__)

BatchFn = Callable[[Any, Any, Sequence[dict[str, Any]]], list[BackendResult | Exception]]


def batcher_for(backend: Backend) -> BatchFn | None:
    """The batch function of ``backend``, or None when it only runs one request at a time."""
    own = getattr(backend, "run_batch", None)
    if callable(own):
        return lambda b, model, inputs: own(model, list(inputs))
    return _BATCHERS.get(getattr(backend, "name", ""))


def can_batch(backend: Backend) -> bool:
    return batcher_for(backend) is not None


def run_batch(backend: Backend, model: Any, inputs: Sequence[dict[str, Any]]) -> list[BackendResult | Exception]:
    """Run every request; a request's own failure is returned in its slot, never raised for the batch."""
    fn = batcher_for(backend)
    if fn is None or len(inputs) == 1:
        return [_one(backend, model, kw) for kw in inputs]
    try:
        return fn(backend, model, inputs)
    except Exception as exc:  # the batch path failed as a whole: fall back to one by one
        log.warning("batched %s failed (%r); running the %d requests one by one", backend.name, exc, len(inputs))
        return [_one(backend, model, kw) for kw in inputs]


def _one(backend: Backend, model: Any, kw: dict[str, Any]) -> BackendResult | Exception:
    try:
        return backend.run(model, **kw)
    except Exception as exc:
        return exc


# --- Whisper (faster-whisper / CTranslate2) ------------------------------------------------


def _whisper_batch(backend: Any, model: Any, inputs: Sequence[dict[str, Any]]) -> list[BackendResult | Exception]:
    import ctranslate2
    from faster_whisper.tokenizer import Tokenizer

    from audiogpt.models.speech import asr_lite
    from audiogpt.models.speech.dsp import to_mono_rate

    results: list[BackendResult | Exception | None] = [None] * len(inputs)
    batch: list[tuple[int, np.ndarray, float]] = []
    for i, kw in enumerate(inputs):
        audio = kw.get("audio")
        lang = kw.get("language")
        if not isinstance(audio, Audio) or audio.frames == 0 or audio.sample_rate <= 0 or not asr_lite.is_english(lang):
            results[i] = _one(backend, model, kw)  # its own checks and notes
            continue
        x = to_mono_rate(audio, asr_lite.SAMPLE_RATE)
        if audio.duration > asr_lite.VAD_AFTER_S or float(np.max(np.abs(x))) < asr_lite.SILENCE_PEAK:
            results[i] = _one(backend, model, kw)
            continue
        batch.append((i, x, audio.duration))
    if batch:
        fe = model.feature_extractor
        n_frames = fe.nb_max_frames
        feats = []
        for _i, x, _d in batch:
            f = fe(x)[:, :n_frames]
            if f.shape[1] < n_frames:
                f = np.pad(f, ((0, 0), (0, n_frames - f.shape[1])))
            feats.append(f.astype(np.float32))
        tok = Tokenizer(model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language="en")
        prompt = [*tok.sot_sequence, tok.no_timestamps]
        encoded = model.model.encode(ctranslate2.StorageView.from_array(np.stack(feats)), to_cpu=False)
        out = model.model.generate(encoded, [prompt] * len(batch), beam_size=backend.beam_size,
                                   return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                                   suppress_tokens=backend._suppress_tokens(model), max_length=448)
        for (i, _x, duration), res in zip(batch, out, strict=True):
            ids = [t for t in res.sequences_ids[0] if t < tok.eot]
            text = tok.decode(ids).strip()
            avg_logprob = res.scores[0] * (len(ids) ** 1.0) / (len(ids) + 1)
            if res.no_speech_prob >= asr_lite.NO_SPEECH_PROB and avg_logprob < asr_lite.NO_SPEECH_LOGPROB:
                text = ""
            segments = [{"start": 0.0, "end": round(duration, 2), "text": text}] if text else []
            data = {"transcript": text, "language": "en", "segments": segments, "duration": round(duration, 3)}
            shown = text or f"No speech was found in the audio ({duration:.1f} s)."
            results[i] = BackendResult(text=shown, data=data)
    return [r if r is not None else BadInput("The request was not run.") for r in results]


_BATCHERS: dict[str, BatchFn] = {"faster-whisper-tiny.en": _whisper_batch}
