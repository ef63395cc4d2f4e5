"""Full speech synthesis through ``transformers``: SpeechT5, MMS-TTS (VITS), and voice style transfer.

* :class:`SpeechT5Tts` - English SpeechT5 + HiFi-GAN at 16 kHz. SpeechT5 needs a
  512-d x-vector saying *who* speaks: voices come from ``.npy`` files named in
  configuration; without one a fixed seeded vector is used, a synthetic voice
  that is stable across runs but was never heard in training, and the backend
  says so. Non-English text can be handed to an :class:`MmsTts` when one is
  configured, else it is read with English pronunciation and a note.
* :class:`MmsTts` - Meta's MMS-TTS, one small VITS model per language
  (``facebook/mms-tts-<iso639-3>``), loaded lazily per language.
  MMS weights are CC-BY-NC-4.0: non-commercial only.
* :class:`SpeechT5StyleTransfer` - SpeechT5 conditioned on an x-vector computed
  from the reference clip by a speaker-verification model
  (``microsoft/wavlm-base-plus-sv``), i.e. "say this in that voice".

Text is split into sentences (long ones at commas) before synthesis because
SpeechT5's text positions are bounded and autoregressive decoding cost grows
with length; every piece is spoken, nothing is cut silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendInfo,
    BackendResult,
    BadInput,
    ModelNotInstalled,
    OutputFile,
    have_module,
)
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.full_common import (
    LANGUAGES,
    HFModel,
    install_hint,
    iso3,
    language_code,
    language_name,
    load_pretrained,
    stack_missing,
    torch_device_dtype,
    trim_silence,
    why_missing,
)
from audiogpt.models.speech.tts_piper import split_text

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000  # SpeechT5 + HiFi-GAN and the MMS voices all run at 16 kHz
MAX_CHARS = 5000
MAX_CHUNK_CHARS = 250  # well inside SpeechT5's 450 text positions
SENTENCE_GAP_S = 0.15
PEAK = 0.9
SPEAKER_DIM = 512
DEFAULT_SEED = 7306
MIN_REFERENCE_S = 1.5
MAX_REFERENCE_S = 30.0
SILENCE_PEAK = 1e-4
DEFAULT_VOICE = "default"
SPEECHT5_FILES: tuple[str | tuple[str, ...], ...] = (
    ("preprocessor_config.json", "processor_config.json"),
    "spm_char.model",
)
XVECTOR_FILES: tuple[str | tuple[str, ...], ...] = (("preprocessor_config.json", "processor_config.json"),)
MMS_FILES: tuple[str | tuple[str, ...], ...] = ("vocab.json",)


def seeded_speaker(seed: int = DEFAULT_SEED, dim: int = SPEAKER_DIM) -> np.ndarray:
    """A fixed unit-norm vector: a stable stand-in voice when no x-vector is configured."""
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / float(np.linalg.norm(v))


def read_voices(speaker: str | Path | None) -> dict[str, np.ndarray]:
    """Voices from one ``.npy`` (named "default") or a folder of ``<voice>.npy`` files."""
    if speaker is None:
        return {}
    path = Path(speaker).expanduser()
    files = [path] if path.is_file() else sorted(path.glob("*.npy")) if path.is_dir() else []
    voices: dict[str, np.ndarray] = {}
    for f in files:
        vec = np.asarray(np.load(f), dtype=np.float32).reshape(-1)
        name = DEFAULT_VOICE if path.is_file() else f.stem.lower()
        voices[name] = vec
    return voices


def finish(parts: list[np.ndarray], rate: int) -> np.ndarray:
    """Pieces joined with short pauses, peak-normalised to ``PEAK``, float32."""
    gap = np.zeros(int(SENTENCE_GAP_S * rate), dtype=np.float32)
    joined: list[np.ndarray] = []
    for p in parts:
        if joined:
            joined.append(gap)
        joined.append(p)
    samples = np.concatenate(joined).astype(np.float32)
    samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0:
        samples = samples * (PEAK / peak)
    return samples.astype(np.float32)


def check_text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise BadInput("There is no text to speak.")
    if len(text) > MAX_CHARS:
        raise BadInput(f"The text is {len(text):,} characters long; the limit is {MAX_CHARS:,}.")
    return text


# --- SpeechT5 ---------------------------------------------------------------------------------


@dataclass
class SpeechT5Parts:
    """Loaded SpeechT5 acoustic model, HiFi-GAN vocoder and processor."""

    model: Any
    vocoder: Any
    processor: Any
    device: str
    dtype: Any
    max_chars: int

    @property
    def speaker_dim(self) -> int:
        return int(self.model.config.speaker_embedding_dim)

    @property
    def rate(self) -> int:
        return int(getattr(self.vocoder.config, "sampling_rate", SAMPLE_RATE))


def load_speecht5(model: HFModel, vocoder: HFModel, device_pref: str, fp16: bool) -> SpeechT5Parts:
    from transformers import SpeechT5ForTextToSpeech, SpeechT5HifiGan, SpeechT5Processor

    t0 = time.perf_counter()
    device, dtype = torch_device_dtype(device_pref, fp16)
    processor = load_pretrained(SpeechT5Processor.from_pretrained, model, "SpeechT5")
    tts = load_pretrained(SpeechT5ForTextToSpeech.from_pretrained, model, "SpeechT5")
    voc = load_pretrained(SpeechT5HifiGan.from_pretrained, vocoder, "HiFi-GAN vocoder")
    tts = tts.to(device=device, dtype=dtype).eval()
    voc = voc.to(device=device, dtype=dtype).eval()
    tok = processor.tokenizer
    if hasattr(tok, "normalize"):
        tok.normalize = True  # "42" is read "forty two", not skipped as unknown characters
    positions = int(getattr(tts.config, "max_text_positions", 450))
    log.info("loaded SpeechT5 %s + %s on %s in %.2f s", model.ref, vocoder.ref, device, time.perf_counter() - t0)
    return SpeechT5Parts(tts, voc, processor, device, dtype, max(20, min(MAX_CHUNK_CHARS, positions - 10)))


def pronounceable(tok: Any, ids: list[int]) -> bool:
    """Whether any token is a real letter or digit (not unknown, special or a word boundary)."""
    special = set(tok.all_special_ids)
    return any(i not in special and any(ch.isalnum() for ch in (tok.convert_ids_to_tokens(i) or ""))
               for i in ids)


def speecht5_speak(parts: SpeechT5Parts, text: str, speaker: np.ndarray) -> np.ndarray:
    """Every sentence of ``text`` spoken in ``speaker``'s voice; BadInput when nothing is pronounceable."""
    import torch

    tok = parts.processor.tokenizer
    emb = torch.as_tensor(speaker, dtype=parts.dtype, device=parts.device).reshape(1, -1)
    pieces: list[np.ndarray] = []
    with torch.inference_mode():
        for piece in split_text(text, parts.max_chars):
            ids = parts.processor(text=piece, return_tensors="pt").input_ids
            if not pronounceable(tok, ids[0].tolist()):
                continue  # nothing this vocabulary can say (e.g. another script): all unknown tokens
            wav = parts.model.generate_speech(ids.to(parts.device), emb, vocoder=parts.vocoder)
            wav = wav.float().reshape(-1).cpu().numpy()
            if wav.size:
                pieces.append(wav)
    if not pieces:
        raise BadInput("I could not turn that text into speech: SpeechT5 reads English in Latin letters only.")
    return finish(pieces, parts.rate)


@dataclass
class SpeechT5Bundle:
    parts: SpeechT5Parts
    voices: dict[str, np.ndarray]
    synthetic: bool
    mms: Any = None  # an MmsBundle, loaded on first non-English request
    lock: threading.Lock = field(default_factory=threading.Lock)


class SpeechT5Tts:
    """SpeechT5 TTS + HiFi-GAN (``microsoft/speecht5_tts``), English, 16 kHz; MIT."""

    name = "speecht5-transformers"
    task = "text_to_speech"
    kind = "full"

    def __init__(self, model: str = "microsoft/speecht5_tts", vocoder: str = "microsoft/speecht5_hifigan", *,
                 speaker: str | Path | None = None, seed: int = DEFAULT_SEED, mms: MmsTts | None = None,
                 device: str = "auto", fp16: bool = True, revision: str | None = None,
                 cache_dir: str | None = None) -> None:
        self.model = HFModel(model, revision, cache_dir)
        self.vocoder = HFModel(vocoder, None, cache_dir)
        self.speaker = Path(speaker).expanduser() if speaker else None
        self.seed = seed
        self.mms = mms
        self.device = device
        self.fp16 = fp16

    def _missing(self) -> str:
        reason = why_missing("SpeechT5 text to speech", [
            ("SpeechT5 text to speech", self.model, SPEECHT5_FILES),
            ("HiFi-GAN vocoder", self.vocoder, ()),
        ])
        if not reason and self.speaker is not None and not self.speaker.exists():
            reason = f"The SpeechT5 speaker embedding {self.speaker} does not exist."
        return reason

    def install_hint(self) -> str:
        hint = install_hint([self.model, self.vocoder])
        if self.speaker is not None:
            hint += f", and put a 512-value x-vector .npy at {self.speaker}"
        return hint

    def speaks(self, code: str | None) -> bool:
        """Whether this backend can speak ``code`` with a real voice (cheap: files only)."""
        if self._missing():
            return False
        if code in (None, "en"):
            return True
        return self.mms is not None and self.mms.speaks(code)

    def describe(self) -> BackendInfo:
        reason = self._missing()
        voice = (f"voices from {self.speaker}" if self.speaker is not None
                 else f"no speaker x-vector configured, so the default voice is a fixed synthetic one (seed {self.seed})")
        extra = ""
        if self.mms is not None:
            langs = self.mms.installed_languages()
            if langs:
                extra = f"; other languages through MMS-TTS ({', '.join(language_name(c) for c in langs[:12])})"
        return BackendInfo(
            name=self.name,
            task=self.task,
            kind=self.kind,
            model=f"SpeechT5 {self.model.ref} + {self.vocoder.ref} (transformers)",
            licence="MIT (SpeechT5 and HiFi-GAN weights); Apache-2.0 (transformers)",
            installed=not reason,
            install_hint=self.install_hint(),
            reason=reason,
            memory_mb=700 + (300 if self.mms is not None else 0),
            description=f"English speech at 16 kHz, long text spoken sentence by sentence; {voice}{extra}.",
        )

    def load(self) -> SpeechT5Bundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint()}.")
        parts = load_speecht5(self.model, self.vocoder, self.device, self.fp16)
        voices = read_voices(self.speaker)
        synthetic = DEFAULT_VOICE not in voices
        if synthetic:
            voices[DEFAULT_VOICE] = seeded_speaker(self.seed, parts.speaker_dim)
        bad = [n for n, v in voices.items() if v.size != parts.speaker_dim]
        if bad:
            raise ModelNotInstalled(f"The SpeechT5 voice {bad[0]} is not a {parts.speaker_dim}-value x-vector; "
                                    "fix the speaker .npy file.")
        return SpeechT5Bundle(parts, voices, synthetic)

    def _voice(self, bundle: SpeechT5Bundle, voice: str | None) -> str:
        name = (voice or "").strip().lower()
        if not name or name in (DEFAULT_VOICE, "speecht5"):
            return DEFAULT_VOICE
        if name in bundle.voices:
            return name
        raise BadInput(f"There is no voice called '{voice}'; available voices: {', '.join(sorted(bundle.voices))}.")

    def run(self, model: SpeechT5Bundle, *, text: str, voice: str | None = None,
            language: str | None = None) -> BackendResult:
        text = check_text(text)
        name = self._voice(model, voice)
        code = language_code(language) if language else None
        if language and code is None:
            raise BadInput(f"'{language}' is not a language I know; give a name such as 'German' or a code such as 'de'.")
        if code not in (None, "en") and self.mms is not None and self.mms.speaks(code):
            with model.lock:
                if model.mms is None:
                    model.mms = self.mms.load()
            return self.mms.run(model.mms, text=text, language=code)
        note = ""
        if code not in (None, "en"):
            note = (f"SpeechT5 speaks English only; the {language_name(code)} text was read with English "
                    "pronunciation.")
        t0 = time.perf_counter()
        samples = speecht5_speak(model.parts, text, model.voices[name])
        audio = Audio(samples, model.parts.rate)
        log.info("%s: %.1f s of speech in %.2f s", self.name, audio.duration, time.perf_counter() - t0)
        voice_desc = "synthetic default voice" if name == DEFAULT_VOICE and model.synthetic else f"voice '{name}'"
        data: dict[str, Any] = {"text": text, "voice": name, "language": code or "en",
                                "sample_rate": audio.sample_rate, "duration": round(audio.duration, 3)}
        words = len(text.split())
        summary = f"Spoke {words} word{'s' if words != 1 else ''} ({audio.duration:.1f} s) with SpeechT5 ({voice_desc})."
        if note:
            data["note"] = note
            summary += f" Note: {note}"
        return BackendResult(text=summary, data=data, outputs=[
            OutputFile(name="speech", audio=audio, description=f"Speech (SpeechT5, {voice_desc}): {text[:80]}")])


# --- MMS-TTS (VITS) -------------------------------------------------------------------------


@dataclass
class MmsBundle:
    """MMS voices loaded so far, by language code; more load on demand."""

    device: str
    voices: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # code -> (model, tokenizer)
    lock: threading.Lock = field(default_factory=threading.Lock)


class MmsTts:
    """Meta MMS-TTS VITS voices (``facebook/mms-tts-<iso3>``), one per language, 16 kHz; CC-BY-NC-4.0."""

    name = "mms-tts-transformers"
    task = "text_to_speech"
    kind = "full"

    def __init__(self, models: Mapping[str, str] | None = None, *, template: str | None = "facebook/mms-tts-{iso3}",
                 languages: Iterable[str] | None = None, default_language: str = "en", device: str = "auto",
                 cache_dir: str | None = None) -> None:
        self.models: dict[str, HFModel] = {}
        for lang, ref in (models or {}).items():
            code = language_code(lang)
            if code is None:
                raise ValueError(f"unknown language {lang!r} in the MMS voice table")
            self.models[code] = HFModel(ref, None, cache_dir)
        self.template = template
        self.languages = [c for c in (language_code(lang) for lang in languages or ()) if c]
        self.default_language = language_code(default_language) or "en"
        self.device = device
        self.cache_dir = cache_dir

    def ref(self, code: str) -> HFModel | None:
        if code in self.models:
            return self.models[code]
        three = iso3(code)
        if self.template and three:
            return HFModel(self.template.format(iso3=three, code=code), None, self.cache_dir)
        return None

    def _candidates(self) -> list[str]:
        if self.languages:
            return list(dict.fromkeys(self.languages))
        if self.models and not self.template:
            return list(self.models)
        return list(dict.fromkeys([*self.models, *LANGUAGES]))

    def speaks(self, code: str | None) -> bool:
        code = code or self.default_language
        ref = self.ref(code)
        return not stack_missing() and ref is not None and not ref.missing(*MMS_FILES)

    def installed_languages(self) -> list[str]:
        if stack_missing():
            return []
        return [c for c in self._candidates() if self.speaks(c)]

    def _missing(self) -> str:
        gone = stack_missing()
        if gone:
            return f"The full MMS-TTS backend needs {gone}, which is not installed."
        if not self.installed_languages():
            ref = self.ref(self.default_language)
            example = ref.ref if ref is not None else "facebook/mms-tts-eng"
            return f"No MMS-TTS voice is installed (for example {example} is not in the local Hugging Face cache)."
        return ""

    def install_hint(self) -> str:
        ref = self.ref(self.default_language) or HFModel("facebook/mms-tts-eng")
        return install_hint([ref]) + " (one facebook/mms-tts-<iso639-3> model per language)"

    def describe(self) -> BackendInfo:
        reason = self._missing()
        langs = self.installed_languages() if not reason else []
        return BackendInfo(
            name=self.name,
            task=self.task,
            kind=self.kind,
            model="MMS-TTS VITS voices (facebook/mms-tts-*, transformers)",
            licence="CC-BY-NC-4.0 (MMS-TTS weights, non-commercial); Apache-2.0 (transformers)",
            installed=not reason,
            install_hint=self.install_hint(),
            reason=reason,
            memory_mb=160 * max(1, min(len(langs), 3)),
            description=("One neural voice per language at 16 kHz; installed languages: "
                         + (", ".join(language_name(c) for c in langs) or "none") + "."),
        )

    def load(self) -> MmsBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint()}.")
        device, _dtype = torch_device_dtype(self.device, fp16=False)  # VITS flows are fragile in fp16
        bundle = MmsBundle(device)
        first = self.default_language if self.speaks(self.default_language) else self.installed_languages()[0]
        self._voice(bundle, first)
        return bundle

    def _voice(self, bundle: MmsBundle, code: str) -> tuple[Any, Any]:
        with bundle.lock:
            if code not in bundle.voices:
                from transformers import AutoTokenizer, VitsModel

                ref = self.ref(code)
                assert ref is not None
                what = f"MMS-TTS {language_name(code)}"
                tok = load_pretrained(AutoTokenizer.from_pretrained, ref, what)
                model = load_pretrained(VitsModel.from_pretrained, ref, what).to(bundle.device).eval()
                bundle.voices[code] = (model, tok)
                log.info("loaded MMS-TTS voice %s (%s)", code, ref.ref)
            return bundle.voices[code]

    def run(self, model: MmsBundle, *, text: str, voice: str | None = None,
            language: str | None = None) -> BackendResult:
        import torch

        text = check_text(text)
        code = language_code(language) if language else self.default_language
        if language and code is None:
            raise BadInput(f"'{language}' is not a language I know; give a name such as 'German' or a code such as 'de'.")
        assert code is not None
        if voice and voice.strip().lower() not in (DEFAULT_VOICE, "mms", code, language_name(code).lower()):
            raise BadInput(f"MMS-TTS has one voice per language; there is no voice called '{voice}'.")
        if not self.speaks(code):
            have = ", ".join(language_name(c) for c in self.installed_languages()) or "none"
            ref = self.ref(code)
            which = f" ({ref.ref})" if ref is not None else ""
            raise BadInput(f"No MMS-TTS voice for {language_name(code)}{which} is installed here; installed: {have}.")
        vits, tok = self._voice(model, code)
        if getattr(tok, "is_uroman", False) and not have_module("uroman") and any(ord(c) > 0x24F for c in text):
            raise BadInput(f"The MMS-TTS {language_name(code)} voice needs romanised text and the uroman "
                           "package is not installed; pip install uroman.")
        rate = int(getattr(vits.config, "sampling_rate", SAMPLE_RATE))
        t0 = time.perf_counter()
        parts: list[np.ndarray] = []
        with torch.inference_mode():
            for piece in split_text(text):
                inputs = tok(piece, return_tensors="pt")
                if inputs["input_ids"].shape[-1] == 0:
                    continue
                wav = vits(**{k: v.to(model.device) for k, v in inputs.items()}).waveform
                wav = wav.float().reshape(-1).cpu().numpy()
                if wav.size:
                    parts.append(wav)
        if not parts:
            raise BadInput(f"I could not turn that text into {language_name(code)} speech (nothing in it can be pronounced).")
        audio = Audio(finish(parts, rate), rate)
        log.info("%s: %.1f s of %s speech in %.2f s", self.name, audio.duration, code, time.perf_counter() - t0)
        words = len(text.split())
        data = {"text": text, "voice": f"mms-{code}", "language": code, "sample_rate": rate,
                "duration": round(audio.duration, 3)}
        summary = (f"Spoke {words} word{'s' if words != 1 else ''} ({audio.duration:.1f} s) "
                   f"with the MMS-TTS {language_name(code)} voice.")
        return BackendResult(text=summary, data=data, outputs=[
            OutputFile(name="speech", audio=audio, description=f"Speech (MMS-TTS {code}): {text[:80]}")])


# --- style transfer ---------------------------------------------------------------------------


@dataclass
class StyleBundle:
    parts: SpeechT5Parts
    xvector: Any
    extractor: Any
    device: str


class SpeechT5StyleTransfer:
    """SpeechT5 speaking in the voice of a reference clip, via a WavLM x-vector; MIT."""

    name = "speecht5-wavlm-xvector"
    task = "style_transfer"
    kind = "full"

    def __init__(self, model: str = "microsoft/speecht5_tts", vocoder: str = "microsoft/speecht5_hifigan",
                 xvector: str = "microsoft/wavlm-base-plus-sv", *, device: str = "auto", fp16: bool = True,
                 min_reference_s: float = MIN_REFERENCE_S, max_reference_s: float = MAX_REFERENCE_S,
                 revision: str | None = None, cache_dir: str | None = None) -> None:
        self.model = HFModel(model, revision, cache_dir)
        self.vocoder = HFModel(vocoder, None, cache_dir)
        self.xvector = HFModel(xvector, None, cache_dir)
        self.device = device
        self.fp16 = fp16
        self.min_reference_s = min_reference_s
        self.max_reference_s = max_reference_s

    def _missing(self) -> str:
        return why_missing("SpeechT5 voice style transfer", [
            ("SpeechT5 text to speech", self.model, SPEECHT5_FILES),
            ("HiFi-GAN vocoder", self.vocoder, ()),
            ("speaker x-vector", self.xvector, XVECTOR_FILES),
        ])

    def install_hint(self) -> str:
        return install_hint([self.model, self.vocoder, self.xvector])

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(
            name=self.name,
            task=self.task,
            kind=self.kind,
            model=f"SpeechT5 {self.model.ref} + {self.vocoder.ref}, x-vector {self.xvector.ref} (transformers)",
            licence="MIT (SpeechT5, HiFi-GAN and WavLM weights); Apache-2.0 (transformers)",
            installed=not reason,
            install_hint=self.install_hint(),
            reason=reason,
            memory_mb=1100,
            description=(f"Speaks English text in a voice like the reference clip (at least {self.min_reference_s:g} s "
                         "of speech; the voice is approximated from a speaker x-vector, not cloned exactly), 16 kHz."),
        )

    def load(self) -> StyleBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint()}.")
        from transformers import AutoFeatureExtractor, WavLMForXVector

        parts = load_speecht5(self.model, self.vocoder, self.device, self.fp16)
        extractor = load_pretrained(AutoFeatureExtractor.from_pretrained, self.xvector, "speaker x-vector")
        xvec = load_pretrained(WavLMForXVector.from_pretrained, self.xvector, "speaker x-vector")
        # fp32: the x-vector model is small and its statistics pooling is precision-sensitive
        xvec = xvec.to(parts.device).eval()
        dim = int(xvec.config.xvector_output_dim)
        if dim != parts.speaker_dim:
            raise ModelNotInstalled(f"The x-vector model {self.xvector.ref} makes {dim}-value embeddings but "
                                    f"SpeechT5 {self.model.ref} needs {parts.speaker_dim}; configure a matching pair.")
        return StyleBundle(parts, xvec, extractor, parts.device)

    def embed(self, bundle: StyleBundle, reference: Audio) -> tuple[np.ndarray, float]:
        """Unit-norm x-vector of the voiced part of ``reference`` and how many seconds it used."""
        import torch

        if not isinstance(reference, Audio) or reference.frames == 0 or reference.sample_rate <= 0:
            raise BadInput("Style transfer needs a reference voice clip.")
        rate = int(getattr(bundle.extractor, "sampling_rate", SAMPLE_RATE))
        x = to_mono_rate(reference, rate)
        if float(np.max(np.abs(x))) < SILENCE_PEAK:
            raise BadInput("The reference clip is silent; send a recording of the voice to imitate.")
        voiced = trim_silence(x, rate)
        seconds = voiced.size / rate
        if seconds < self.min_reference_s:
            raise BadInput(f"The reference clip has only {seconds:.1f} s of voice; I need at least "
                           f"{self.min_reference_s:g} s to capture a voice.")
        voiced = voiced[: int(self.max_reference_s * rate)]
        feats = bundle.extractor(voiced, sampling_rate=rate, return_tensors="pt")
        with torch.inference_mode():
            emb = bundle.xvector(**{k: v.to(bundle.device) for k, v in feats.items()}).embeddings
            emb = torch.nn.functional.normalize(emb.float(), dim=-1)
        return emb[0].cpu().numpy(), min(seconds, self.max_reference_s)

    def run(self, model: StyleBundle, *, text: str, reference: Audio) -> BackendResult:
        text = check_text(text)
        speaker, used = self.embed(model, reference)
        t0 = time.perf_counter()
        samples = speecht5_speak(model.parts, text, speaker)
        audio = Audio(samples, model.parts.rate)
        log.info("%s: %.1f s of speech in %.2f s", self.name, audio.duration, time.perf_counter() - t0)
        words = len(text.split())
        data = {"text": text, "sample_rate": audio.sample_rate, "duration": round(audio.duration, 3),
                "reference_seconds": round(used, 2)}
        summary = (f"Spoke {words} word{'s' if words != 1 else ''} ({audio.duration:.1f} s) in a voice modelled on "
                   f"{used:.1f} s of the reference clip (SpeechT5 + x-vector; similar, not an exact clone).")
        return BackendResult(text=summary, data=data, outputs=[
            OutputFile(name="styled_speech", audio=audio, description=f"Speech in the reference voice: {text[:80]}")])
