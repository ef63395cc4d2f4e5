"""Full speech translation: Whisper transcribes (language detected), a text MT model translates.

The default MT model is M2M100 (``facebook/m2m100_418M``, MIT, 100 languages,
any direction); NLLB checkpoints load the same way (their ``spa_Latn`` style
codes are recognised) but are CC-BY-NC. When Whisper hears a language the MT
model cannot read, Whisper's own speech-to-English translation is used as a
pivot, so any of Whisper's 99 languages can be translated.

Asked to speak, the translation goes to the first configured TTS backend that
has a real voice for the target language; when none does, the answer says so
instead of reading Spanish with an English voice.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from audiogpt.models.base import (
    Audio,
    BackendInfo,
    BackendResult,
    BadInput,
    ModelNotInstalled,
    OutputFile,
)
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.full_common import (
    HFModel,
    install_hint,
    language_code,
    language_name,
    load_pretrained,
    memory_mb,
    torch_device_dtype,
    why_missing,
)
from audiogpt.models.speech.full_tts import SpeechT5Tts
from audiogpt.models.speech.full_whisper import (
    SAMPLE_RATE,
    WHISPER_FILES,
    WhisperBundle,
    check_audio,
    load_whisper,
    transcribe,
)
from audiogpt.models.speech.tts_piper import split_text

log = logging.getLogger(__name__)

MT_CHUNK_CHARS = 400  # sentences grouped up to this size; far below M2M100's 1024 positions
MT_BATCH = 8
_NLLB_CODE = re.compile(r"^[a-z]{3}_[A-Z][a-z]{3}$")
_MEMORY = {"m2m100_1.2b": 5000, "m2m100_418m": 2000, "nllb-200-distilled-600m": 2600,
           "nllb-200-1.3b": 5500, "nllb-200-3.3b": 13000}


class SpeakingBackend(Protocol):
    """What translation needs from a TTS backend (``SpeechT5Tts`` and ``MmsTts`` fit)."""

    name: str

    def speaks(self, code: str | None) -> bool: ...

    def load(self) -> Any: ...

    def run(self, model: Any, *, text: str, voice: str | None = None, language: str | None = None) -> BackendResult: ...


def mt_language_table(tok: Any) -> dict[str, tuple[str, str]]:
    """Canonical code -> (the tokenizer's ``src_lang`` value, the target language token)."""
    table: dict[str, tuple[str, str]] = {}
    by_code = getattr(tok, "lang_code_to_token", None)
    if isinstance(by_code, dict) and by_code:  # M2M100: "es" -> "__es__"
        for raw, token in by_code.items():
            code = language_code(raw)
            if code and code not in table:
                table[code] = (raw, token)
        return table
    for token in sorted(tok.get_vocab()):  # NLLB: "spa_Latn"
        if _NLLB_CODE.match(token):
            code = language_code(token)
            if code and code not in table:
                table[code] = (token, token)
    return table


def fit_pieces(tok: Any, pieces: list[str], max_tokens: int) -> list[str]:
    """Split pieces further until each encodes to at most ``max_tokens`` (half the positions:
    the other half is room for the translation), so nothing is ever truncated."""
    out: list[str] = []
    stack = list(reversed(pieces))
    while stack:
        piece = stack.pop()
        if len(piece) < 16 or len(tok(piece)["input_ids"]) <= max_tokens:
            out.append(piece)
            continue
        halves = split_text(piece, max(8, len(piece) // 2))
        if len(halves) < 2:
            mid = len(piece) // 2
            halves = [piece[:mid], piece[mid:]]
        stack.extend(reversed(halves))
    return out


@dataclass
class TranslationBundle:
    whisper: WhisperBundle
    mt_model: Any
    mt_tokenizer: Any
    mt_langs: dict[str, tuple[str, str]]
    device: str
    speakers: dict[int, Any] = field(default_factory=dict)  # index in the tts list -> its loaded model
    lock: threading.Lock = field(default_factory=threading.Lock)


class WhisperM2M100Translation:
    """Whisper speech recognition + M2M100 text translation (+ optional TTS) via transformers."""

    name = "whisper-m2m100-transformers"
    task = "speech_translation"
    kind = "full"

    def __init__(self, asr: str = "openai/whisper-small", mt: str = "facebook/m2m100_418M", *,
                 tts: Sequence[SpeakingBackend] | None = None, device: str = "auto", fp16: bool = True,
                 batch_size: int = 8, beam_size: int = 1, mt_beams: int = 4, temperature_fallback: bool = True,
                 revision: str | None = None, cache_dir: str | None = None) -> None:
        self.asr = HFModel(asr, revision, cache_dir)
        self.mt = HFModel(mt, None, cache_dir)
        self.tts: list[SpeakingBackend] = (
            list(tts) if tts is not None else [SpeechT5Tts(device=device, fp16=fp16, cache_dir=cache_dir)])
        self.device = device
        self.fp16 = fp16
        self.batch_size = batch_size
        self.beam_size = beam_size
        self.mt_beams = mt_beams
        self.temperature_fallback = temperature_fallback

    def _missing(self) -> str:
        return why_missing("speech translation", [
            ("Whisper speech recognition", self.asr, WHISPER_FILES),
            ("translation", self.mt, (("sentencepiece.bpe.model", "tokenizer.json"),)),
        ])

    def install_hint(self) -> str:
        return install_hint([self.asr, self.mt])

    @property
    def licence_class(self) -> str:
        """Commercial use by the configured translation model (the licence sentence names NLLB's terms too)."""
        return "non-commercial" if "nllb" in self.mt.ref.lower() else "commercial"

    def describe(self) -> BackendInfo:
        reason = self._missing()
        speak = "; spoken output in English" if any(t.speaks("en") for t in self.tts) else ""
        return BackendInfo(
            name=self.name,
            task=self.task,
            kind=self.kind,
            model=f"Whisper {self.asr.ref} + {self.mt.ref} (transformers)",
            licence=("Apache-2.0 (transformers, Whisper weights); MIT (M2M100 weights); "
                     "NLLB weights would be CC-BY-NC-4.0"),
            installed=not reason,
            install_hint=self.install_hint(),
            reason=reason,
            memory_mb=memory_mb(self.asr.ref, {"tiny": 300, "base": 500, "small": 1200, "medium": 3200,
                                               "large": 6500}, 1200) + memory_mb(self.mt.ref, _MEMORY, 2000),
            description=("Translates speech in any of Whisper's 99 languages into any language of the "
                         f"translation model (M2M100: 100 languages){speak}."),
        )

    def load(self) -> TranslationBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint()}.")
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        whisper = load_whisper(self.asr, self.device, self.fp16)
        t0 = time.perf_counter()
        device, dtype = torch_device_dtype(self.device, self.fp16)
        tok = load_pretrained(AutoTokenizer.from_pretrained, self.mt, "translation")
        model = load_pretrained(AutoModelForSeq2SeqLM.from_pretrained, self.mt, "translation")
        model = model.to(device=device, dtype=dtype).eval()
        langs = mt_language_table(tok)
        if not langs:
            raise ModelNotInstalled(f"The translation model {self.mt.ref} has no language codes this backend "
                                    "understands; use an M2M100 or NLLB checkpoint.")
        log.info("loaded MT %s (%d languages) on %s in %.2f s", self.mt.ref, len(langs), device,
                 time.perf_counter() - t0)
        return TranslationBundle(whisper, model, tok, langs, device)

    # --- steps ---------------------------------------------------------------------------

    def _target(self, bundle: TranslationBundle, target_language: str) -> str:
        code = language_code(target_language)
        if code is None:
            raise BadInput(f"'{target_language}' is not a language I know; give a name such as 'Spanish' or a code such as 'es'.")
        if code not in bundle.mt_langs:
            raise BadInput(f"The translation model {self.mt.ref} cannot translate into {language_name(code)}.")
        return code

    def translate_text(self, bundle: TranslationBundle, text: str, source: str, target: str) -> str:
        """Sentence groups translated in batches; the whole text, never truncated."""
        import torch

        src_value, _ = bundle.mt_langs[source]
        _, tgt_token = bundle.mt_langs[target]
        tok = bundle.mt_tokenizer
        forced = tok.convert_tokens_to_ids(tgt_token)
        limit = int(getattr(bundle.mt_model.config, "max_position_embeddings", 1024)) - 2
        pieces = fit_pieces(tok, split_text(text, MT_CHUNK_CHARS), max(8, limit // 2))
        out: list[str] = []
        for i in range(0, len(pieces), MT_BATCH):
            batch = pieces[i : i + MT_BATCH]
            with bundle.lock:  # src_lang is tokenizer state shared by concurrent jobs
                tok.src_lang = src_value
                enc = tok(batch, return_tensors="pt", padding=True)
            length = int(enc["input_ids"].shape[1])
            with torch.inference_mode():
                gen = bundle.mt_model.generate(
                    **{k: v.to(bundle.device) for k, v in enc.items()},
                    forced_bos_token_id=forced,
                    num_beams=max(1, self.mt_beams),
                    max_new_tokens=max(16, min(limit, 2 * length + 16)),
                )
            out.extend(t.strip() for t in tok.batch_decode(gen, skip_special_tokens=True))
        return " ".join(t for t in out if t)

    def _speak(self, bundle: TranslationBundle, text: str, target: str) -> tuple[list[OutputFile], str]:
        for i, backend in enumerate(self.tts):
            if not backend.speaks(target):
                continue
            with bundle.lock:
                if i not in bundle.speakers:
                    bundle.speakers[i] = backend.load()
                loaded = bundle.speakers[i]
            try:
                result = backend.run(loaded, text=text, language=target)
            except BadInput as exc:
                return [], f"The translation could not be spoken: {exc}"
            for out in result.outputs:
                out.name = "translation_speech"
            return result.outputs, ""
        return [], (f"Speech in {language_name(target)} is not available in this deployment "
                    "(no text-to-speech voice for it is installed), so the translation is text only.")

    def run(self, model: TranslationBundle, *, audio: Audio, target_language: str,
            speak: bool = False) -> BackendResult:
        check_audio(audio, "Speech translation")
        target = self._target(model, target_language)
        x = to_mono_rate(audio, SAMPLE_RATE)
        t0 = time.perf_counter()
        opts = {"batch_size": self.batch_size, "beam_size": self.beam_size, "fallback": self.temperature_fallback}
        heard = transcribe(model.whisper, x, **opts)
        source = heard.language
        source_text = " ".join(s["text"] for s in heard.segments).strip()
        notes: list[str] = []
        data: dict[str, Any] = {"source_language": source, "target_language": target, "source_text": source_text,
                                "translation": "", "duration": round(audio.duration, 3)}
        if not source_text:
            data["source_language"] = None
            return BackendResult(text=f"No speech was found in the audio ({audio.duration:.1f} s), so there is "
                                      "nothing to translate.", data=data)
        if source == target:
            translation = source_text
            notes.append(f"The speech is already in {language_name(target)}.")
        elif source in model.mt_langs:
            translation = self.translate_text(model, source_text, source, target)
        elif target != "en" and "en" not in model.mt_langs:
            raise BadInput(f"The translation model {self.mt.ref} cannot read {language_name(source)}.")
        else:
            # The MT model cannot read this language: let Whisper translate the speech to English.
            english = transcribe(model.whisper, x, task="translate",
                                 language_token=model.whisper.language_token(source) if source else None, **opts)
            translation = " ".join(s["text"] for s in english.segments).strip()
            if target != "en" and translation:
                translation = self.translate_text(model, translation, "en", target)
            data["pivot"] = "English (Whisper speech translation)"
            notes.append(f"{language_name(source)} was translated through English, because the translation model "
                         "does not read it.")
        data["translation"] = translation
        log.info("%s: %s -> %s for %.1f s of audio in %.2f s", self.name, source, target, audio.duration,
                 time.perf_counter() - t0)

        outputs: list[OutputFile] = []
        if speak and translation:
            outputs, note = self._speak(model, translation, target)
            if note:
                notes.append(note)
        if notes:
            data["note"] = " ".join(notes)
        text = f"{translation}\n[{language_name(source)} -> {language_name(target)}]"
        if notes:
            text += f"\n[note: {' '.join(notes)}]"
        return BackendResult(text=text, outputs=outputs, data=data)
