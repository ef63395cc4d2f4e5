"""Full singing: an MMS-TTS VITS voice (``transformers``) per syllable, set to the melody with WORLD.

No singing-voice model ships with transformers, so this is a TTS + pitch-control pipeline, said
plainly: the English MMS voice (``facebook/mms-tts-eng``, the project's :class:`MmsTts`) speaks
each syllable, and the same WORLD re-timing and re-pitching as the lite singer fits it to the
notes (see :mod:`.singing`). On a GPU the neural voice is clearer than Piper on odd syllables;
the pitch accuracy is the vocoder's and is measured the same way.
"""

from __future__ import annotations

import numpy as np

from audiogpt.models.base import BackendInfo, BadInput, ModelNotInstalled, have_module
from audiogpt.models.generation.lite import SingerModel, WorldSinging
from audiogpt.models.speech.full_tts import SAMPLE_RATE, MmsTts


class MmsWorldSinging(WorldSinging):
    """MMS-TTS (VITS) syllables + WORLD pitch and timing (CC-BY-NC-4.0 voice weights)."""

    name = "mms-vits-world-singing"
    task = "singing_synthesis"
    kind = "full"  # type: ignore[assignment]

    def __init__(self, voice: str = "facebook/mms-tts-eng", *, device: str = "auto",
                 cache_dir: str | None = None) -> None:
        super().__init__(use_piper=False)
        self.voice_ref = voice
        self.mms = MmsTts({"en": voice}, template=None, languages=["en"], default_language="en", device=device,
                          cache_dir=cache_dir)

    def _missing(self) -> str:
        if not have_module("pyworld"):
            return "Singing (full) needs the pyworld package (WORLD vocoder), which is not installed."
        return self.mms.describe().reason

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(name=self.name, task=self.task, kind=self.kind,
                           model=f"MMS-TTS VITS ({self.voice_ref}) per syllable + WORLD vocoder (pyworld)",
                           licence="CC-BY-NC-4.0 (MMS-TTS weights, non-commercial); pyworld MIT; WORLD modified BSD",
                           installed=not reason, install_hint=self.mms.install_hint() + " and pip install pyworld-prebuilt",
                           reason=reason, memory_mb=300,
                           description="TTS + pitch control, not a trained singing model: a neural speaking voice "
                                       "set to the notes syllable by syllable.")

    def load(self) -> SingerModel:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {self.describe().install_hint}.")
        import pyworld  # noqa: F401

        return SingerModel(self.mms.load(), self.mms)

    def voice_name(self, model: SingerModel) -> str:
        return f"the MMS-TTS voice {self.voice_ref}"

    def speak(self, model: SingerModel, syl: str) -> tuple[np.ndarray, int]:
        from audiogpt.models.generation import singing

        try:
            res = self.mms.run(model.voice, text=syl, language="en")
        except BadInput:  # nothing pronounceable in the fragment: the formant voice sings it
            return singing.formant_syllable(syl, SAMPLE_RATE)
        audio = res.outputs[0].audio
        assert audio is not None
        return np.asarray(audio.samples, dtype=np.float64), int(audio.sample_rate)
