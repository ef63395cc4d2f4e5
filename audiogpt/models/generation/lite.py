"""The four lite generation backends: real synthesis methods on the CPU, named for what they are.

* ``procedural-sound-design`` (text_to_audio): the description is parsed into sound layers
  (:mod:`.prompt`) and each layer is synthesised by its physical model (:mod:`.sfx`).
* ``colour-cues-to-procedural`` (image_to_audio): colour and texture cues of the picture
  (:mod:`.image_scene`) become a description for the same sound designer.
* ``algorithmic-composer`` (text_to_music): key, mode, tempo, instruments from the words; a
  composed score rendered by additive, FM and Karplus-Strong instruments (:mod:`.composer`).
* ``piper-world-singing`` (singing_synthesis): Piper speaks each syllable and WORLD sets it to
  the note (:mod:`.singing`); without Piper a formant voice stands in and the answer says so.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendResult,
    BadInput,
    CheckedBackend,
    Image,
    OutputFile,
    ProgressReport,
    have_module,
)
from audiogpt.models.generation import composer, dsp, image_scene, prompt, sfx, singing
from audiogpt.models.generation.analysis import spectral_shape

log = logging.getLogger(__name__)

SOUND_DEFAULT_S, SOUND_MIN_S, SOUND_MAX_S = 8.0, 1.0, 60.0
MUSIC_DEFAULT_S, MUSIC_MIN_S, MUSIC_MAX_S = 15.0, 2.0, 120.0
LAYER_RMS_DB = -20.0


def clamp_seconds(seconds: Any, default: float, lo: float, hi: float) -> tuple[float, str]:
    """A usable duration and, when the asked one was changed, the sentence that says so."""
    if seconds is None:
        return default, ""
    try:
        value = float(seconds)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"The duration '{seconds}' is not a number of seconds.") from exc
    if not np.isfinite(value):
        raise BadInput("The duration must be a finite number of seconds.")
    if value < lo:
        return lo, f"{value:g} s is too short, so I made {lo:g} s."
    if value > hi:
        return hi, f"{value:g} s is longer than the {hi:g} s limit, so I made {hi:g} s."
    return value, ""


def _report(progress: ProgressReport | None, fraction: float | None, words: str) -> None:
    if progress is not None:
        try:
            progress(fraction, words)
        except Exception:  # a platform's status edit failing must not stop the generation
            log.debug("progress report failed", exc_info=True)


# --- text to audio ---------------------------------------------------------------------------


def render_sound(plan: prompt.SoundPlan, seconds: float, seed: int, sr: int = dsp.SR,
                 progress: ProgressReport | None = None) -> np.ndarray:
    """Every layer of the plan synthesised, levelled and mixed; distance adds a low-pass and a room."""
    n = int(seconds * sr)
    mix = np.zeros(n)
    target = 10 ** (LAYER_RMS_DB / 20)
    for i, layer in enumerate(plan.layers):
        _report(progress, i / len(plan.layers), f"making {layer.kind} ({seconds:.0f} s)")
        scene = sfx.Scene(n=n, sr=sr, rng=np.random.default_rng(seed + 7919 * i), intensity=plan.intensity,
                          speed=plan.speed, surface=plan.surface, extras=set(layer.extras))
        x = np.nan_to_num(sfx.GENERATORS[layer.kind](scene))
        if "distant" in layer.extras and not plan.distant:  # far away: highs absorbed, mostly reflections
            x = dsp.reverb(dsp.lowpass(x, sr, 1800), sr, 1.5, 0.6, np.random.default_rng(seed + 31 * i))
        rms = float(np.sqrt(np.mean(x**2))) if x.size else 0.0
        if rms > 0:
            far = 0.5 if "distant" in layer.extras and not plan.distant else 1.0
            mix += far * layer.gain * target * x / rms
    if plan.distant:
        rng = np.random.default_rng(seed + 1)
        mix = dsp.reverb(dsp.lowpass(mix, sr, 2200), sr, 1.5, 0.5, rng)
    return mix


class ProceduralSoundDesign(CheckedBackend):
    """Text to sound by procedural synthesis (noise shaping, granular drops, modal impacts, FM chirps)."""

    name = "procedural-sound-design"
    task = "text_to_audio"
    kind = "lite"
    info_model = "procedural sound design (numpy); MiniLM matches unknown words to the nearest sound"
    info_licence = "Apache-2.0 (project code); all-MiniLM-L6-v2 Apache-2.0"
    info_memory_mb = 90  # nothing is loaded up front; MiniLM (shared, ~90 MB) only for unknown words
    info_description = ("Synthesises sound effects and ambiences from physical recipes: rain, wind, thunder, "
                        "sirens, engines and traffic, knocks, footsteps, crashes, crowds, birds, water, waves, "
                        "fire, dogs, bells, clocks, alarms, insects, applause, typing, hum, explosions, "
                        "helicopters, trains, and scenes that combine them. Not a neural generator.")

    def load(self) -> Any:
        return None

    def run(self, model: Any, *, text: str, seconds: float | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        t0 = time.perf_counter()
        plan = prompt.plan_sound(text)
        secs, note = clamp_seconds(seconds, SOUND_DEFAULT_S, SOUND_MIN_S, SOUND_MAX_S)
        seed = prompt.seed_for(text)
        audio = Audio(dsp.finish(render_sound(plan, secs, seed, progress=progress), dsp.SR), dsp.SR)
        _report(progress, 1.0, "done")
        return sound_result(self.name, text, plan, audio, note, time.perf_counter() - t0)


def sound_result(backend: str, text: str, plan: prompt.SoundPlan, audio: Audio, note: str, took: float,
                 extra: dict[str, Any] | None = None, lead: str = "") -> BackendResult:
    shape = spectral_shape(audio.samples, audio.sample_rate)
    how = (f"no recipe matched the words, so I made the nearest sound by meaning: {plan.nearest} "
           f"(similarity {plan.similarity:.2f})" if plan.nearest else
           f"from the words {', '.join(repr(m) for m in plan.matched)}")
    if plan.by_meaning:
        how += "; by meaning: " + ", ".join(f"'{p}' as {prompt.LABELS.get(k, k)}" for p, k in plan.by_meaning)
    missing = (f" I did not understand {', '.join(repr(p) for p in plan.not_understood)}, so it is not in the mix."
               if plan.not_understood else "")
    text_out = (f"{lead}Made {audio.duration:.1f} s of {plan.summary()} ({how}).{missing} "
                + (note + " " if note else "") + f"(lite: {backend}, procedural synthesis)")
    data: dict[str, Any] = {
        "prompt": text, "method": backend, "layers": [layer.kind for layer in plan.layers],
        "intensity": plan.intensity, "speed": plan.speed, "surface": plan.surface, "distant": plan.distant,
        "matched_words": plan.matched, "nearest_by_meaning": plan.nearest or None,
        "phrases_by_meaning": [list(x) for x in plan.by_meaning], "not_understood": plan.not_understood,
        "similarity": round(plan.similarity, 3) if plan.nearest else None,
        "seconds": round(audio.duration, 3), "sample_rate": audio.sample_rate,
        "spectral_flatness": round(shape.flatness, 4), "spectral_centroid_hz": round(shape.centroid_hz, 1),
        "seconds_to_make": round(took, 3),
    }
    if note:
        data["note"] = note
    if extra:
        data.update(extra)
    return BackendResult(text=text_out, outputs=[OutputFile(name="sound", audio=audio,
                                                            description=f"Sound: {plan.summary()}")], data=data)


# --- image to audio ----------------------------------------------------------------------------


class ColourCuesToSound(CheckedBackend):
    """Image to sound: colour/texture scene cues -> a description -> procedural sound design."""

    name = "colour-cues-to-procedural"
    task = "image_to_audio"
    kind = "lite"
    info_model = "colour and texture statistics (Pillow + numpy) feeding procedural-sound-design"
    info_licence = "Apache-2.0 (project code); Pillow MIT-CMU"
    info_memory_mb = 10  # no model: buffers live only while a sound is made
    info_description = ("Guesses the scene from colour and texture (sky, water, foliage, night, fire, city) "
                        "and synthesises its ambience; it does not recognise objects.")

    def _missing(self) -> str:
        return "" if have_module("PIL") else "Image to audio (lite) needs Pillow, which is not installed."

    def load(self) -> Any:
        self._require()
        return None

    def run(self, model: Any, *, image: Image, seconds: float | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        t0 = time.perf_counter()
        if not isinstance(image, Image):
            raise BadInput("Image to audio needs a picture.")
        cues = image_scene.analyse(image_scene.load_pixels(image))
        plan = prompt.plan_sound(cues.description, use_embeddings=False)
        secs, note = clamp_seconds(seconds, SOUND_DEFAULT_S, SOUND_MIN_S, SOUND_MAX_S)
        seed = prompt.seed_for(cues.description + str(sorted(cues.stats.items())))
        audio = Audio(dsp.finish(render_sound(plan, secs, seed, progress=progress), dsp.SR), dsp.SR)
        lead = f"The picture suggests {cues.description} (cues: {'; '.join(cues.cues)}). "
        return sound_result(self.name, cues.description, plan, audio, note, time.perf_counter() - t0,
                            extra={"scene": cues.description, "cues": cues.cues,
                                   "image_stats": {k: round(v, 3) for k, v in cues.stats.items()}}, lead=lead)


# --- text to music ------------------------------------------------------------------------------


class AlgorithmicComposer(CheckedBackend):
    """Text to music: a rule-based composer rendered with additive/FM/Karplus-Strong instruments."""

    name = "algorithmic-composer"
    task = "text_to_music"
    kind = "lite"
    info_model = "algorithmic composer (chords, melody, bass, drums) + numpy instrument synthesis"
    info_licence = "Apache-2.0 (project code)"
    info_memory_mb = 10  # no model: buffers live only while a piece is rendered
    info_description = ("Composes from genre, mood, tempo and instrument words: key and mode from the mood, "
                        "tempo from words or BPM, a chord progression, a melodic motif, bass and drums by "
                        "genre; instruments are synthesised (piano, electric piano, guitar, strings, pads, "
                        "synths, bass, bells, organ, flute, brass, drums). No vocals.")

    def load(self) -> Any:
        return None

    def run(self, model: Any, *, text: str, seconds: float | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        t0 = time.perf_counter()
        plan = prompt.plan_music(text)
        secs, note = clamp_seconds(seconds, MUSIC_DEFAULT_S, MUSIC_MIN_S, MUSIC_MAX_S)
        rng = np.random.default_rng(prompt.seed_for(text, "music"))
        _report(progress, 0.0, f"composing {secs:.0f} s of music")
        score = composer.compose(plan, secs, rng)
        mix = composer.render(score, secs, dsp.SR, rng,
                              progress=lambda f: _report(progress, f, f"rendering {secs:.0f} s of music"))
        audio = Audio(dsp.finish(mix, dsp.SR), dsp.SR)
        _report(progress, 1.0, "done")
        notes = [*plan.notes, note] if note else list(plan.notes)
        text_out = (f"Composed {audio.duration:.1f} s of {plan.summary()}; progression "
                    f"{'-'.join(score.progression)}, tempo from {plan.tempo_source}"
                    + (f", mood {', '.join(plan.moods)}" if plan.moods else "") + ". "
                    + " ".join(n.rstrip(".") + "." for n in notes) + (" " if notes else "")
                    + f"(lite: {self.name}, synthesised instruments)")
        data: dict[str, Any] = {
            "prompt": text, "method": self.name, "tempo_bpm": plan.tempo, "tempo_from": plan.tempo_source,
            "key": plan.key_name, "mode": plan.mode, "genre": plan.genre or None, "moods": plan.moods,
            "energy": round(plan.energy, 2), "instruments": plan.instruments, "drums": plan.drums,
            "beats_per_bar": plan.beats_per_bar, "progression": score.progression, "bars": score.bars,
            "notes": len(score.notes), "drum_hits": len(score.hits), "seconds": round(audio.duration, 3),
            "sample_rate": audio.sample_rate, "seconds_to_make": round(time.perf_counter() - t0, 3),
        }
        if notes:
            data["note"] = " ".join(notes)
        return BackendResult(text=text_out, outputs=[OutputFile(name="music", audio=audio,
                                                                description=f"Music: {plan.summary()}")], data=data)


# --- singing ----------------------------------------------------------------------------------


@dataclass
class SingerModel:
    voice: Any  # a loaded Piper voice, or None for the formant voice
    tts: Any


class WorldSinging(CheckedBackend):
    """Singing: per-syllable TTS (Piper, else a formant voice) re-pitched and re-timed to the melody with WORLD."""

    name = "piper-world-singing"
    task = "singing_synthesis"
    kind = "lite"
    install_hint = "pip install pyworld-prebuilt (and 'audiogpt[tts-piper-gpl]' for the Piper voice)"
    info_model = "Piper en_US-joe-medium per syllable (formant voice without Piper) + WORLD vocoder (pyworld)"
    info_licence = "GPL-3.0-or-later with Piper (optional); pyworld MIT; WORLD modified BSD"
    info_memory_mb = 230
    info_description = ("Sings English lyrics to a melody of note names (one per syllable) or a known tune; "
                        "the voice is a speaking voice set to pitch, so it sounds like a talk-singing robot, "
                        "not a trained singer.")

    def __init__(self, use_piper: bool = True) -> None:
        self.use_piper = use_piper

    def _missing(self) -> str:
        if not have_module("pyworld"):
            return "Singing (lite) needs the pyworld package (WORLD vocoder), which is not installed."
        return ""

    def _piper(self) -> Any:
        from audiogpt.models.speech.tts_piper import PiperJoeMedium

        return PiperJoeMedium()

    def load(self) -> SingerModel:
        self._require()
        import pyworld  # noqa: F401

        if self.use_piper:
            tts = self._piper()
            if tts.describe().installed:
                return SingerModel(tts.load(), tts)
        return SingerModel(None, None)

    def voice_name(self, model: SingerModel) -> str:
        return "Piper en_US-joe-medium" if model.voice is not None else "a formant vowel synthesiser"

    def speak(self, model: SingerModel, syl: str) -> tuple[np.ndarray, int]:
        """One syllable spoken: (samples, rate)."""
        if model.voice is None:
            return singing.formant_syllable(syl)
        try:
            res = model.tts.run(model.voice, text=syl)
        except BadInput:  # a fragment Piper cannot pronounce: the formant voice sings it
            return singing.formant_syllable(syl)
        audio = res.outputs[0].audio
        assert audio is not None
        return np.asarray(audio.samples, dtype=np.float64), int(audio.sample_rate)

    def run(self, model: SingerModel, *, lyrics: str, notes: str | None = None, tempo: float | None = None,
            progress: ProgressReport | None = None) -> BackendResult:
        t0 = time.perf_counter()
        if not (lyrics or "").strip():
            raise BadInput("There are no lyrics to sing.")
        if tempo is not None and not 30 <= float(tempo) <= 300:
            raise BadInput(f"A tempo of {tempo:g} BPM is not singable; use 30 to 300 BPM.")
        melody = singing.choose_melody(notes, tempo)
        sylls = singing.lyric_syllables(lyrics)
        pairs, fit_msgs = singing.assign(sylls, melody)
        messages = melody.messages + fit_msgs
        voice_name = self.voice_name(model)
        if model.voice is None:
            messages.append("The Piper voice is not installed here, so a formant vowel synthesiser sang "
                            "(vowels only roughly right, no real consonants).")

        def speak(syl: str) -> tuple[np.ndarray, int]:
            return self.speak(model, syl)

        _report(progress, 0.0, f"singing {len(sylls)} syllables")
        sung = singing.sing(pairs, melody.tempo, speak,
                            progress=lambda f: _report(progress, f, f"singing {len(sylls)} syllables"))
        rng = np.random.default_rng(prompt.seed_for(lyrics, "sing"))
        wet = dsp.reverb(sung.samples, sung.rate, 1.0, 0.15, rng)
        audio = Audio(dsp.finish(wet, sung.rate), sung.rate)
        tune = f" to '{melody.title}'" if melody.title else ""
        text_out = (f"Sang {len(sylls)} syllables{tune} ({audio.duration:.1f} s at {melody.tempo:.0f} BPM) with "
                    f"{voice_name} set to the notes by the WORLD vocoder; {sung.pitch_accuracy:.0%} of sung frames "
                    "are within a semitone of the written notes. " + " ".join(messages)
                    + (" " if messages else "") + f"({self.kind}: {self.name})")
        data: dict[str, Any] = {
            "lyrics": lyrics, "method": self.name, "voice": voice_name, "tempo_bpm": melody.tempo,
            "tune": melody.title or None, "syllables": sylls,
            "notes": [n.name for _s, n in pairs], "layout": [list(x) for x in sung.layout],
            "pitch_accuracy": round(sung.pitch_accuracy, 3), "voiced_frames": sung.voiced_frames,
            "seconds": round(audio.duration, 3), "sample_rate": audio.sample_rate,
            "seconds_to_make": round(time.perf_counter() - t0, 3),
        }
        if messages:
            data["note"] = " ".join(messages)
        return BackendResult(text=text_out, outputs=[OutputFile(name="singing", audio=audio,
                                                                description=f"Singing: {lyrics[:80]}")], data=data)
