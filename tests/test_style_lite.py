"""Lite style transfer (Piper + WORLD pitch/formant transform), run for real.

References are built here: the Piper voice pushed through WORLD with a known
pitch and formant scale (a 'female-ish' voice up, a deeper one down), and a
pure-numpy vowel voice whose pitch is known exactly by construction.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from audiogpt.models.base import Audio, Backend, BadInput, ModelNotInstalled
from audiogpt.models.speech import style_lite
from audiogpt.models.speech.dsp import to_mono_rate
from audiogpt.models.speech.style_lite import METHOD, PiperWorldStyle, StyleBundle, measure_f0

REFERENCE_TEXT = "A cold wind blew across the harbour as the boats came home."
TEXT = "Please send me the quarterly report before Friday afternoon."
# Standard vowel formants of an adult male voice (Peterson & Barney, rounded), Hz.
VOWELS = {"a": (730, 1090, 2440), "i": (270, 2290, 3010), "u": (300, 870, 2240),
          "e": (530, 1840, 2480), "o": (570, 840, 2410)}


@pytest.fixture(scope="module")
def style() -> tuple[PiperWorldStyle, StyleBundle]:
    backend = PiperWorldStyle()
    info = backend.describe()
    if not info.installed:
        pytest.skip(info.unavailable_message())
    return backend, backend.load()


@pytest.fixture(scope="module")
def rendition(style: tuple[PiperWorldStyle, StyleBundle]) -> tuple[np.ndarray, ...]:
    """One Piper rendition of the reference sentence (the same on every call), analysed by WORLD once."""
    import pyworld as pw

    _, bundle = style
    speech = bundle.tts.run(bundle.voice, text=REFERENCE_TEXT).outputs[0].audio
    assert speech is not None
    x = speech.samples.astype(np.float64)
    f0, t, _ = style_lite.analyse_f0(x, speech.sample_rate)
    return f0, pw.cheaptrick(x, f0, t, speech.sample_rate), pw.d4c(x, f0, t, speech.sample_rate)


def world_voice(rendition: tuple[np.ndarray, ...], f0_scale: float, formant_scale: float) -> Audio:
    """The Piper voice with its pitch and formants scaled by WORLD: a different 'speaker'."""
    import pyworld as pw

    f0, sp, ap = rendition
    sp = np.exp(style_lite.warp_log_envelope(np.log(sp), formant_scale))
    y = pw.synthesize(f0 * f0_scale, np.ascontiguousarray(sp), ap, 22_050, style_lite.FRAME_MS)
    return Audio((0.9 * y / np.max(np.abs(y))).astype(np.float32), 22_050)


def vowel_voice(f0_median: float = 210.0, rate: int = 16_000, seconds: float = 3.0) -> tuple[Audio, float]:
    """Sung-vowel 'syllables' (additive harmonics through formant peaks) with intonation and gaps.

    Returns the clip and the true median F0 over its voiced samples.
    """
    n = int(seconds * rate)
    t = np.arange(n) / rate
    f0 = f0_median * 2 ** (0.25 * np.sin(2 * np.pi * 0.7 * t) - 0.1 * (t / seconds - 0.5))
    phase = 2 * np.pi * np.cumsum(f0) / rate
    out = np.zeros(n)
    voiced = np.zeros(n, dtype=bool)
    syllable, gap = int(0.22 * rate), int(0.06 * rate)
    names = list(VOWELS)
    pos = i = 0
    while pos + syllable < n:
        seg = slice(pos, pos + syllable)
        x = np.zeros(syllable)
        for k in range(1, int(3900 / f0_median)):
            fk = k * f0[seg]
            amp = sum(1.0 / (1 + ((fk - f) / (60 + 0.06 * f)) ** 2) for f in VOWELS[names[i % 5]]) / k**0.5
            x += amp * np.sin(k * phase[seg])
        out[seg] = x * np.hanning(syllable) ** 0.5
        voiced[pos + syllable // 6 : pos + 5 * syllable // 6] = True
        pos += syllable + gap + (int(0.25 * rate) if i % 4 == 3 else 0)
        i += 1
    out += 0.003 * np.random.default_rng(0).standard_normal(n)
    return Audio((0.8 * out / np.max(np.abs(out))).astype(np.float32), rate), float(np.median(f0[voiced]))


# --- describe / install state -------------------------------------------------------------------


def test_protocol_and_describe_is_cheap() -> None:
    backend = PiperWorldStyle()
    assert isinstance(backend, Backend)
    info = backend.describe()
    assert (info.name, info.task, info.kind) == (METHOD, "style_transfer", "lite")
    assert "GPL-3.0-or-later" in info.licence and "pyworld MIT" in info.licence
    assert "not voice cloning" in info.description.lower()
    code = (
        "import sys, json\n"
        "from audiogpt.models.speech.style_lite import PiperWorldStyle\n"
        "info = PiperWorldStyle().describe()\n"
        "heavy = [m for m in ('pyworld', 'piper', 'onnxruntime', 'faster_whisper', 'audiogpt.core')"
        " if m in sys.modules]\n"
        "print(json.dumps({'heavy': heavy, 'installed': info.installed}))\n"
    )
    out = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                    check=True).stdout)
    assert out["heavy"] == []


def test_not_installed_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(style_lite, "have_module", lambda name: name != "pyworld")
    info = PiperWorldStyle().describe()
    assert not info.installed and "pyworld" in info.reason
    assert info.unavailable_message().endswith(f"; {style_lite.INSTALL_HINT}.")
    with pytest.raises(ModelNotInstalled, match="pyworld"):
        PiperWorldStyle().load()


def test_formant_warp_helpers() -> None:
    """A shift on the envelope moves a peak by the ratio; the search finds a known warp."""
    bins = 513
    freqs = np.arange(bins) * 8000 / (bins - 1)
    env = -((freqs - 1000) / 150) ** 2 / 10
    up = style_lite.warp_log_envelope(env, 1.2)
    assert freqs[np.argmax(up)] == pytest.approx(1200, abs=20)
    assert style_lite.warp_log_envelope(env, 1.0) == pytest.approx(env)


# --- the transform ------------------------------------------------------------------------------


@pytest.mark.slow
def test_output_pitch_follows_the_reference(style: tuple[PiperWorldStyle, StyleBundle],
                                            rendition: tuple[np.ndarray, ...]) -> None:
    """The issue's goal: output median F0 within 15 % of the reference's, at clearly different pitches.

    Both references come from one Piper rendition scaled by WORLD ('female-ish' 1.6x pitch with
    formants 1.15x; deeper 0.7x with formants 0.9x), so they differ by a known 2.3x in pitch.
    """
    backend, bundle = style
    outputs: dict[str, float] = {}
    for name, f0_scale, formant_scale in (("higher", 1.6, 1.15), ("deeper", 0.7, 0.9)):
        res = backend.run(bundle, text=TEXT, reference=world_voice(rendition, f0_scale, formant_scale))
        d = res.data
        assert d["method"] == METHOD
        assert set(d) >= {"reference_f0_median", "output_f0_median", "formant_ratio", "method"}
        ref, out = d["reference_f0_median"], d["output_f0_median"]
        assert abs(out / ref - 1) <= 0.15, (name, d)
        (audio,) = [o.audio for o in res.outputs]
        assert audio is not None and audio.sample_rate == 22_050 and audio.samples.dtype == np.float32
        again = measure_f0(audio)  # measured again from the audio alone, with the public helper
        assert again is not None and abs(again.median / ref - 1) <= 0.15, (name, again, d)
        # the formant scale is recovered from a different sentence (frame matching on a 3 % grid)
        assert d["formant_ratio"] == pytest.approx(formant_scale, rel=0.06), (name, d)
        assert 2.0 < audio.duration < 8.0 and 0.5 < float(np.max(np.abs(audio.samples))) <= 0.9 + 1e-6
        assert "not voice cloning" in res.text and f"{out:.0f} Hz" in res.text
        outputs[name] = out
    # clearly apart (the references are 2.3x apart by construction; Harvest reads the deeper one's
    # creaky frames, pushed below its 50 Hz floor, a little high)
    assert outputs["higher"] / outputs["deeper"] > 1.6, outputs


@pytest.mark.slow
def test_reference_with_known_pitch(style: tuple[PiperWorldStyle, StyleBundle]) -> None:
    """A numpy vowel voice at a pitch known by construction: analysis and output both land on it."""
    backend, bundle = style
    reference, truth = vowel_voice(230.0)
    stats, _ratio = backend.analyse_reference(bundle, reference)
    assert stats.median == pytest.approx(truth, rel=0.05)
    res = backend.run(bundle, text="Good morning to you all.", reference=reference)
    assert res.data["output_f0_median"] == pytest.approx(truth, rel=0.15)


@pytest.mark.slow
def test_reference_rates_and_channels(style: tuple[PiperWorldStyle, StyleBundle],
                                      rendition: tuple[np.ndarray, ...]) -> None:
    """8 kHz phone audio, 44.1 kHz stereo: the same voice reads the same."""
    backend, bundle = style
    reference = world_voice(rendition, 1.4, 1.1)
    base, base_ratio = backend.analyse_reference(bundle, reference)
    for rate, stereo in ((8_000, False), (44_100, True)):
        x = to_mono_rate(reference, rate)
        clip = Audio(np.stack([x, 0.7 * x]) if stereo else x, rate)
        stats, ratio = backend.analyse_reference(bundle, clip)
        assert stats.median == pytest.approx(base.median, rel=0.05), rate
        assert ratio == pytest.approx(base_ratio, rel=0.05), rate


# --- bad input -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_bad_references(style: tuple[PiperWorldStyle, StyleBundle]) -> None:
    backend, bundle = style
    rate = 16_000
    t = np.arange(3 * rate) / rate

    def fails(reference: Any, match: str, b: StyleBundle = bundle) -> str:
        with pytest.raises(BadInput, match=match) as err:
            backend.run(b, text="Hello there.", reference=reference)
        msg = str(err.value)
        assert msg.count(". ") == 0 and msg.endswith("."), msg  # one sentence
        return msg

    fails(b"not audio", "needs a reference")
    fails(Audio(np.zeros(0, np.float32), rate), "empty")
    short = vowel_voice(200.0, seconds=1.0)[0]
    assert "1.0 s long" in fails(short, "at least 1.5 s")
    fails(Audio(np.zeros(3 * rate, np.float32), rate), "silent")
    chord = Audio(sum(0.2 * np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)).astype(np.float32), rate)
    fails(chord, "voice|voiced")
    noise = Audio((0.1 * np.random.default_rng(1).standard_normal(3 * rate)).astype(np.float32), rate)
    fails(noise, "voice|voiced")
    # without the VAD the pitch tracker alone still refuses a chord
    fails(chord, "no voiced speech", replace(bundle, vad=None))
    with pytest.raises(BadInput, match="no text"):
        backend.run(bundle, text="   ", reference=vowel_voice(200.0)[0])
