"""Full speech recognition: Whisper through ``transformers``, any length, any Whisper language.

Long recordings are cut into windows of at most 30 s (Whisper's receptive
field) at the quietest moment near each boundary, so a word is rarely split,
and the windows are decoded in batches (fast on a GPU) with timestamps;
segment times are then shifted back onto the recording's clock. Every sample
of the clip belongs to exactly one window, so nothing past 30 s is dropped.

Language: a given language (name, code or locale) is forced; otherwise one
decoder step per window gives Whisper's language distribution, weighted by how
sure the window holds speech, and the winner is forced for every window so
one clip gets one consistent language. Silent windows never reach the model.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import Audio, BackendInfo, BackendResult, BadInput, ModelNotInstalled
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.full_common import (
    HFModel,
    code_variants,
    install_hint,
    language_code,
    language_name,
    load_pretrained,
    memory_mb,
    torch_device_dtype,
    why_missing,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
WINDOW_S = 30.0  # Whisper sees at most 30 s at once
SEARCH_S = 5.0  # look this far back from a window's end for a quiet place to cut
QUIET_BLOCK_S = 0.02
QUIET_SPAN_S = 0.2  # the cut goes in the middle of the quietest span this long
SILENCE_PEAK = 1e-4  # a window this quiet is digital silence: not decoded
TIME_PRECISION = 0.02  # seconds per Whisper timestamp token
# OpenAI's decoding defaults: retry at higher temperature when the output is
# repetitive (token compression ratio) or unlikely, and drop windows the model
# rates as no speech whose text is also unlikely.
TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
COMPRESSION_RATIO = 1.35
LOGPROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
WHISPER_FILES: tuple[str | tuple[str, ...], ...] = (
    ("preprocessor_config.json", "processor_config.json"),
    "generation_config.json",
    ("tokenizer.json", "vocab.json"),
)
_MEMORY = {"tiny": 300, "base": 500, "small": 1200, "medium": 3200, "large": 6500}


def plan_windows(x: np.ndarray, rate: int = SAMPLE_RATE, window_s: float = WINDOW_S,
                 search_s: float = SEARCH_S) -> list[tuple[int, int]]:
    """Contiguous ``(start, end)`` sample ranges of at most ``window_s`` covering all of ``x``.

    Each cut is placed in the quietest ``QUIET_SPAN_S`` of the last ``search_s``
    before the window limit, so cuts fall in pauses rather than inside words.
    """
    n = int(x.size)
    limit = int(window_s * rate)
    if n <= limit:
        return [(0, n)] if n else []
    block = max(1, int(QUIET_BLOCK_S * rate))
    span = max(1, int(QUIET_SPAN_S / QUIET_BLOCK_S))
    windows: list[tuple[int, int]] = []
    start = 0
    while n - start > limit:
        lo = start + max(limit - int(search_s * rate), limit // 2)
        hi = start + limit
        region = x[lo:hi].astype(np.float64)
        nb = region.size // block
        if nb > span:
            energy = (region[: nb * block].reshape(nb, block) ** 2).sum(axis=1)
            sums = np.convolve(energy, np.ones(span), mode="valid")
            best = int(np.argmin(sums))
            cut = lo + (best + span // 2) * block
        else:
            cut = hi
        cut = min(max(cut, start + 1), hi)
        windows.append((start, cut))
        start = cut
    windows.append((start, n))
    return windows


def parse_timestamped(ids: list[int], *, ts_begin: int, specials: set[int], stop: set[int],
                      length_s: float) -> list[tuple[float, float, list[int]]]:
    """Whisper output tokens -> ``(start, end, text_tokens)`` relative to the window.

    Text before the first timestamp starts at 0; text after the last one runs
    to the window end. Times are clamped into ``[0, length_s]`` and made
    non-decreasing, because a sampled or hallucinated timestamp can go backwards.
    """
    out: list[tuple[float, float, list[int]]] = []
    start = 0.0
    tokens: list[int] = []
    for tid in ids:
        if tid in stop:
            break
        if tid >= ts_begin:
            t = (tid - ts_begin) * TIME_PRECISION
            if tokens:
                out.append((start, t, tokens))
                tokens = []
            start = t
        elif tid in specials:
            continue
        else:
            tokens.append(tid)
    if tokens:
        out.append((start, length_s, tokens))
    clean: list[tuple[float, float, list[int]]] = []
    floor = 0.0
    for s, e, toks in out:
        s = min(max(s, floor), length_s)
        e = min(max(e, s), length_s)
        clean.append((s, e, toks))
        floor = e
    return clean


@dataclass
class WhisperBundle:
    """A loaded Whisper plus the token ids the decoding code needs."""

    model: Any
    processor: Any
    device: str
    dtype: Any
    multilingual: bool
    lang_ids: dict[str, int]  # "<|de|>" -> id
    sot: int
    ts_begin: int
    no_speech: int | None
    stop: set[int]
    specials: set[int]
    max_length: int  # whole decoder sequence, prompt included (Whisper's 448 positions)
    ref: str = ""
    window_samples: int = int(WINDOW_S * SAMPLE_RATE)

    @classmethod
    def create(cls, model: Any, processor: Any, device: str, dtype: Any, ref: str) -> WhisperBundle:
        tok = processor.tokenizer
        gc = model.generation_config
        lang_ids = dict(getattr(gc, "lang_to_id", None) or {})
        multilingual = bool(getattr(gc, "is_multilingual", False)) and bool(lang_ids)
        no_ts = getattr(gc, "no_timestamps_token_id", None)
        if no_ts is None:
            no_ts = tok.convert_tokens_to_ids("<|notimestamps|>")
        sot = getattr(gc, "decoder_start_token_id", None) or tok.convert_tokens_to_ids("<|startoftranscript|>")
        eos = gc.eos_token_id if gc.eos_token_id is not None else tok.eos_token_id
        stop = set(eos) if isinstance(eos, list) else {int(eos)}
        specials = set(tok.all_special_ids) | set(tok.get_added_vocab().values())
        unk = tok.unk_token_id
        no_speech = None
        for name in ("<|nospeech|>", "<|nocaptions|>"):
            tid = tok.convert_tokens_to_ids(name)
            if tid is not None and tid != unk and tid not in stop:
                no_speech = int(tid)
                break
        fe = processor.feature_extractor
        window = int(getattr(fe, "n_samples", WINDOW_S * SAMPLE_RATE))
        return cls(
            model=model, processor=processor, device=device, dtype=dtype,
            multilingual=multilingual, lang_ids=lang_ids, sot=int(sot), ts_begin=int(no_ts) + 1,
            no_speech=no_speech, stop=stop, specials=specials,
            max_length=int(model.config.max_target_positions), ref=ref,
            window_samples=window,
        )

    def language_token(self, code: str) -> str | None:
        """The vocabulary's token for a canonical code (``he`` may be ``<|iw|>``)."""
        for variant in code_variants(code):
            token = f"<|{variant}|>"
            if token in self.lang_ids:
                return token
        return None


@dataclass
class Transcript:
    segments: list[dict[str, Any]]
    language: str | None
    language_probability: float | None
    windows: list[tuple[float, float]]


def _features(bundle: WhisperBundle, pieces: list[np.ndarray]) -> Any:
    fe = bundle.processor.feature_extractor
    feats = fe(pieces, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    return feats.to(device=bundle.device, dtype=bundle.dtype)


def _probe(bundle: WhisperBundle, feats: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """One decoder step after start-of-transcript: P(no speech) and the language distribution."""
    import torch

    model = bundle.model
    batch = feats.shape[0]
    start = torch.full((batch, 1), bundle.sot, dtype=torch.long, device=bundle.device)
    logits = model(input_features=feats, decoder_input_ids=start).logits[:, -1].float()
    probs = torch.softmax(logits, dim=-1)
    if bundle.no_speech is not None:
        p_none = probs[:, bundle.no_speech].cpu().numpy()
    else:
        p_none = np.zeros(batch)
    langs = None
    if bundle.multilingual:
        ids = torch.tensor(list(bundle.lang_ids.values()), device=logits.device)
        langs = torch.softmax(logits[:, ids], dim=-1).cpu().numpy()
    return p_none, langs


def transcribe(bundle: WhisperBundle, x: np.ndarray, *, language_token: str | None = None,
               task: str = "transcribe", batch_size: int = 8, beam_size: int = 1,
               fallback: bool = True) -> Transcript:
    """Transcribe (or, with ``task="translate"``, translate to English) 16 kHz mono samples."""
    import torch

    rate = SAMPLE_RATE
    windows = plan_windows(x, rate, window_s=bundle.window_samples / rate)
    live = [(s, e) for s, e in windows if e > s and float(np.max(np.abs(x[s:e]))) >= SILENCE_PEAK]
    spans = [(round(s / rate, 3), round(e / rate, 3)) for s, e in windows]
    if not live:
        forced = language_code(language_token) if language_token else None
        return Transcript([], forced if bundle.multilingual else "en", None, spans)
    batch_size = max(1, batch_size)
    tok = bundle.processor.tokenizer
    lang_keys = list(bundle.lang_ids)
    model = bundle.model

    with torch.inference_mode():
        detected_prob: float | None = None
        if bundle.multilingual and language_token is None:
            votes = np.zeros(len(lang_keys))
            for i in range(0, len(live), batch_size):
                part = live[i : i + batch_size]
                p_none, langs = _probe(bundle, _features(bundle, [x[s:e] for s, e in part]))
                assert langs is not None
                weights = np.clip(1.0 - p_none, 1e-3, 1.0)
                votes += (langs * weights[:, None]).sum(axis=0)
            best = int(np.argmax(votes))
            language_token = lang_keys[best]
            detected_prob = float(votes[best] / max(votes.sum(), 1e-9))

        gen: dict[str, Any] = {"return_timestamps": True, "max_length": bundle.max_length,
                               "num_beams": max(1, beam_size)}
        if bundle.multilingual:
            gen["language"] = language_token
            gen["task"] = task
        if fallback:
            gen.update(temperature=TEMPERATURES, compression_ratio_threshold=COMPRESSION_RATIO,
                       logprob_threshold=LOGPROB_THRESHOLD, no_speech_threshold=NO_SPEECH_THRESHOLD)

        segments: list[dict[str, Any]] = []
        for i in range(0, len(live), batch_size):
            part = live[i : i + batch_size]
            feats = _features(bundle, [x[s:e] for s, e in part])
            seqs = model.generate(input_features=feats, **gen)
            if not isinstance(seqs, torch.Tensor):  # a dict-like output on some versions
                seqs = seqs["sequences"]
            for (s, e), ids in zip(part, seqs.tolist(), strict=True):
                offset, length = s / rate, (e - s) / rate
                for a, b, toks in parse_timestamped(ids, ts_begin=bundle.ts_begin, specials=bundle.specials,
                                                    stop=bundle.stop, length_s=length):
                    text = tok.decode(toks, skip_special_tokens=True).strip()
                    if text:
                        segments.append({"start": round(offset + a, 2), "end": round(offset + b, 2),
                                         "text": text})
    code = language_code(language_token) if language_token else ("en" if not bundle.multilingual else None)
    return Transcript(segments, code, detected_prob, spans)


def check_audio(audio: Any, what: str) -> None:
    if not isinstance(audio, Audio):
        raise BadInput(f"{what} needs an audio clip.")
    if audio.frames == 0 or audio.sample_rate <= 0:
        raise BadInput("The audio clip is empty.")


class WhisperTransformers:
    """Whisper (default ``openai/whisper-small``) via transformers; chunked long-form, 99 languages."""

    name = "whisper-transformers"
    task = "speech_recognition"
    kind = "full"

    def __init__(self, model: str = "openai/whisper-small", *, device: str = "auto", fp16: bool = True,
                 batch_size: int = 8, beam_size: int = 1, temperature_fallback: bool = True,
                 revision: str | None = None, cache_dir: str | None = None) -> None:
        self.model = HFModel(model, revision, cache_dir)
        self.device = device
        self.fp16 = fp16
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.temperature_fallback = temperature_fallback

    def _missing(self) -> str:
        return why_missing("Whisper speech recognition",
                           [("Whisper speech recognition", self.model, WHISPER_FILES)])

    def install_hint(self) -> str:
        return install_hint([self.model])

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(
            name=self.name,
            task=self.task,
            kind=self.kind,
            model=f"Whisper {self.model.ref} (transformers)",
            licence="Apache-2.0 (transformers; openai/whisper-* weights Apache-2.0 on the Hub, MIT upstream)",
            installed=not reason,
            install_hint=self.install_hint(),
            reason=reason,
            memory_mb=memory_mb(self.model.ref, _MEMORY, 1200),
            description=("Multilingual speech recognition of any length (30 s windows cut at pauses) "
                         "with timestamps and language detection; fp16 on a GPU."),
        )

    def load(self) -> WhisperBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint()}.")
        return load_whisper(self.model, self.device, self.fp16)

    def run(self, model: WhisperBundle, *, audio: Audio, language: str | None = None) -> BackendResult:
        check_audio(audio, "Speech recognition")
        token, note = resolve_language(model, language)
        x = to_mono_rate(audio, SAMPLE_RATE)
        t0 = time.perf_counter()
        result = transcribe(model, x, language_token=token, batch_size=self.batch_size,
                            beam_size=self.beam_size, fallback=self.temperature_fallback)
        log.info("%s: %.1f s of audio in %.2f s (%d windows)", self.name, audio.duration,
                 time.perf_counter() - t0, len(result.windows))
        transcript = " ".join(s["text"] for s in result.segments).strip()
        data: dict[str, Any] = {
            "transcript": transcript,
            "language": result.language,
            "segments": result.segments,
            "duration": round(audio.duration, 3),
            "windows": [list(w) for w in result.windows],
        }
        if result.language_probability is not None:
            data["language_probability"] = round(result.language_probability, 3)
        if note:
            data["note"] = note
        if transcript:
            text = transcript
            if language is None and result.language:
                text += f"\n[detected language: {language_name(result.language)}]"
        else:
            text = f"No speech was found in the audio ({audio.duration:.1f} s)."
        if note:
            text += f"\n[note: {note}]"
        return BackendResult(text=text, data=data)


def load_whisper(ref: HFModel, device_pref: str, fp16: bool) -> WhisperBundle:
    """Processor and model from local files, on the chosen device, in eval mode."""
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    t0 = time.perf_counter()
    device, dtype = torch_device_dtype(device_pref, fp16)
    processor = load_pretrained(WhisperProcessor.from_pretrained, ref, "Whisper")
    model = load_pretrained(WhisperForConditionalGeneration.from_pretrained, ref, "Whisper")
    model = model.to(device=device, dtype=dtype).eval()
    log.info("loaded Whisper %s on %s (%s) in %.2f s", ref.ref, device, dtype, time.perf_counter() - t0)
    return WhisperBundle.create(model, processor, device, dtype, ref.ref)


def resolve_language(bundle: WhisperBundle, language: str | None) -> tuple[str | None, str]:
    """``(token to force or None to detect, note)``; a language Whisper lacks is :class:`BadInput`."""
    if language is None or not language.strip():
        return None, ""
    code = language_code(language)
    if not bundle.multilingual:
        if code == "en":
            return None, ""
        return None, (f"The Whisper model {bundle.ref} understands English only; the audio was said to be "
                      f"in '{language}', so this transcript is the English it heard and is probably wrong.")
    if code is None:
        raise BadInput(f"'{language}' is not a language I know; omit the language to detect it automatically.")
    token = bundle.language_token(code)
    if token is None:
        raise BadInput(f"Whisper ({bundle.ref}) cannot recognise {language_name(code)}; "
                       "omit the language to detect it automatically.")
    return token, ""
