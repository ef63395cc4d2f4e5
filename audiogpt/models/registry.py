"""Which backends exist for which task, and how one is chosen.

``auto`` picks the first installed full backend when a GPU is present, else the
first installed lite backend. Every task ships a lite backend; a backend family
whose module cannot be imported is logged and left out, and its tasks then say so
in one sentence instead of failing obscurely.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from audiogpt.models.base import Backend, BackendInfo, ModelNotInstalled

log = logging.getLogger(__name__)


def _speech_backends() -> list[Backend]:
    from audiogpt.models.speech.asr_lite import FasterWhisperTinyEn
    from audiogpt.models.speech.style_lite import PiperWorldStyle
    from audiogpt.models.speech.tts_piper import PiperJoeMedium
    from audiogpt.models.speech.whisper_base import FasterWhisperBase, WhisperBaseTranslate

    # Whisper base first: multilingual with language detection (voice messages in any language);
    # tiny.en stays selectable (AUDIOGPT_BACKENDS=speech_recognition=faster-whisper-tiny.en), ~5x faster.
    return [FasterWhisperBase(), FasterWhisperTinyEn(), PiperJoeMedium(), WhisperBaseTranslate(), PiperWorldStyle()]


def _enhance_separate_backends() -> list[Backend]:
    from audiogpt.models.speech.convtasnet import ConvTasNetEnhance, ConvTasNetSeparate
    from audiogpt.models.speech.enhance_lite import DeepFilterNet3Lite
    from audiogpt.models.speech.separate_lite import HarmonicPitchSeparation

    return [DeepFilterNet3Lite(), HarmonicPitchSeparation(), ConvTasNetEnhance(), ConvTasNetSeparate()]


def _speech_full_backends() -> list[Backend]:
    """transformers backends for a GPU deployment; honest "not installed" without weights."""
    from audiogpt.models.speech.full_translate import WhisperM2M100Translation
    from audiogpt.models.speech.full_tts import SpeechT5StyleTransfer, SpeechT5Tts
    from audiogpt.models.speech.full_whisper import WhisperTransformers

    return [WhisperTransformers(), WhisperM2M100Translation(), SpeechT5Tts(), SpeechT5StyleTransfer()]


def _sound_backends() -> list[Backend]:
    """Sound understanding: detection, target detection, extraction, captioning."""
    from audiogpt.models.sound import backends

    return backends()


def _generation_backends() -> list[Backend]:
    """Generation: text-to-audio, image-to-audio, text-to-music, singing."""
    from audiogpt.models.generation import backends

    return backends()


def _transform_backends() -> list[Backend]:
    """Transformation and video: inpainting, binaural, talking head."""
    from audiogpt.models.transform import backends

    return backends()


# Factories run once, lazily; each returns backends for one or more tasks.
FACTORIES: list[Callable[[], list[Backend]]] = [_speech_backends, _enhance_separate_backends, _speech_full_backends,
                                                _sound_backends, _generation_backends, _transform_backends]


class Registry:
    """All backends by task, built lazily; selection honours per-task settings."""

    def __init__(self, preferences: dict[str, str] | None = None, device: str = "cpu",
                 factories: list[Callable[[], list[Backend]]] | None = None) -> None:
        self.preferences = dict(preferences or {})
        self.device = device
        self._factories = factories if factories is not None else FACTORIES
        self._by_task: dict[str, list[Backend]] | None = None
        # select() runs on every job; describe() does file and cache look-ups, so the answer
        # (or the ModelNotInstalled sentence) is kept until refresh() or register().
        self._chosen: dict[str, Backend | ModelNotInstalled] = {}

    def refresh(self) -> None:
        """Forget cached choices (after installing weights at run time)."""
        self._chosen.clear()

    def _build(self) -> dict[str, list[Backend]]:
        if self._by_task is None:
            by_task: dict[str, list[Backend]] = {}
            for factory in self._factories:
                try:
                    backends = factory()
                except ImportError as exc:  # a backend module whose import fails is simply absent
                    log.warning("backend factory %s unavailable: %s", getattr(factory, "__name__", factory), exc)
                    continue
                for b in backends:
                    by_task.setdefault(b.task, []).append(b)
            self._by_task = by_task
        return self._by_task

    def register(self, backend: Backend) -> None:
        self._build().setdefault(backend.task, []).insert(0, backend)
        self._chosen.pop(backend.task, None)

    def backends(self, task: str) -> list[Backend]:
        return list(self._build().get(task, []))

    def infos(self, task: str) -> list[BackendInfo]:
        return [b.describe() for b in self.backends(task)]

    def select(self, task: str) -> Backend:
        """The backend to run for ``task``, or :class:`ModelNotInstalled` with one clear sentence."""
        if task not in self._chosen:
            try:
                self._chosen[task] = self._select(task)
            except ModelNotInstalled as exc:
                self._chosen[task] = exc
        chosen = self._chosen[task]
        if isinstance(chosen, ModelNotInstalled):
            raise ModelNotInstalled(str(chosen))
        return chosen

    def _select(self, task: str) -> Backend:
        pref = self.preferences.get(task, "auto")
        candidates = self.backends(task)
        infos = {b.name: b.describe() for b in candidates}
        if pref not in ("auto", "full", "lite"):
            named = [b for b in candidates if b.name == pref]
            if not named:
                names = ", ".join(infos) or "none"
                raise ModelNotInstalled(f"The backend '{pref}' configured for {task} does not exist (available: {names}).")
            if not infos[pref].installed:
                raise ModelNotInstalled(infos[pref].unavailable_message())
            return named[0]
        if pref == "auto":
            order = ["full", "lite"] if self.device != "cpu" else ["lite", "full"]
        else:
            order = [pref]
        for kind in order:
            for b in candidates:
                if b.kind == kind and infos[b.name].installed:
                    return b
        wanted = [b for b in candidates if b.kind in order]
        if wanted:
            raise ModelNotInstalled(infos[wanted[0].name].unavailable_message())
        which = f"{pref} " if pref in ("full", "lite") else ""
        raise ModelNotInstalled(f"No {which}backend for {task} is installed in this deployment "
                                "(its backend module failed to load; the log says why).")

    def availability(self, task: str) -> str:
        """A short phrase for the LLM: which backend would run, or why none can."""
        try:
            b = self.select(task)
        except ModelNotInstalled as exc:
            return f"[Unavailable here: {exc}]"
        return f"[Available: {b.kind} backend {b.name}.]"
