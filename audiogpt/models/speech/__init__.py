"""Speech backends: recognition and translation (voice in), synthesis and style (voice out),
enhancement and separation.

Nothing heavy is imported here: :func:`backends` imports the backend modules, each of
which defers torch/transformers/faster-whisper to ``load()``.
"""

from __future__ import annotations

from pathlib import Path

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Backend


def _is_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).expanduser().exists()


def backends(config: BackendConfig | None = None) -> list[Backend]:
    """Every speech backend, built from ``config``; within a task the first installed of a kind wins."""
    from audiogpt.models.speech.asr_lite import FasterWhisperTinyEn
    from audiogpt.models.speech.convtasnet import (
        ENHANCEMENT_MODEL,
        SEPARATION_MODEL,
        ConvTasNetEnhance,
        ConvTasNetSeparate,
    )
    from audiogpt.models.speech.diarize_lite import SileroDVectorDiarization
    from audiogpt.models.speech.diarize_pyannote import DEFAULT_MODEL as PYANNOTE_MODEL
    from audiogpt.models.speech.diarize_pyannote import PyannoteDiarization
    from audiogpt.models.speech.enhance_lite import DeepFilterNet3Lite
    from audiogpt.models.speech.full_translate import WhisperM2M100Translation
    from audiogpt.models.speech.full_tts import SpeechT5StyleTransfer, SpeechT5Tts
    from audiogpt.models.speech.full_whisper import WhisperTransformers
    from audiogpt.models.speech.separate_lite import HarmonicPitchSeparation
    from audiogpt.models.speech.style_lite import PiperWorldStyle
    from audiogpt.models.speech.tts_piper import PiperJoeMedium
    from audiogpt.models.speech.whisper_base import FasterWhisperBase, WhisperBaseTranslate

    c = config or BackendConfig()
    whisper_cache = c.cache("whisper-base")
    piper = PiperJoeMedium()
    # Whisper base first: multilingual with language detection (voice messages in any language);
    # tiny.en stays selectable (AUDIOGPT_BACKENDS=speech_recognition=faster-whisper-tiny.en), ~5x faster.
    lite: list[Backend] = [FasterWhisperBase(whisper_cache), FasterWhisperTinyEn(), piper,
                           WhisperBaseTranslate(whisper_cache, tts=piper), PiperWorldStyle(piper),
                           DeepFilterNet3Lite(), HarmonicPitchSeparation(), SileroDVectorDiarization()]

    def convtasnet(cls: type[ConvTasNetEnhance] | type[ConvTasNetSeparate], default: str) -> Backend:
        ref = c.model(cls.name, default)
        return cls(local_dir=ref, device=c.device) if _is_path(ref) else cls(model_id=ref, device=c.device)

    hf = {"device": c.device, "fp16": c.fp16, "cache_dir": c.hf_cache_dir}
    whisper = WhisperTransformers.name
    speecht5 = SpeechT5Tts.name
    tts = SpeechT5Tts(c.model(speecht5, "microsoft/speecht5_tts"),
                      c.model(f"{speecht5}:vocoder", "microsoft/speecht5_hifigan"),
                      revision=c.revision(speecht5), **hf)
    m2m = WhisperM2M100Translation.name
    style = SpeechT5StyleTransfer.name
    full: list[Backend] = [
        WhisperTransformers(c.model(whisper, "openai/whisper-small"), revision=c.revision(whisper), **hf),
        WhisperM2M100Translation(c.model(m2m, "openai/whisper-small"), c.model(f"{m2m}:mt", "facebook/m2m100_418M"),
                                 tts=[tts], revision=c.revision(m2m), **hf),
        tts,
        SpeechT5StyleTransfer(c.model(style, "microsoft/speecht5_tts"),
                              c.model(f"{style}:vocoder", "microsoft/speecht5_hifigan"),
                              c.model(f"{style}:xvector", "microsoft/wavlm-base-plus-sv"),
                              revision=c.revision(style), **hf),
        convtasnet(ConvTasNetEnhance, ENHANCEMENT_MODEL),
        convtasnet(ConvTasNetSeparate, SEPARATION_MODEL),
        PyannoteDiarization(c.model(PyannoteDiarization.name, PYANNOTE_MODEL), device=c.device,
                            revision=c.revision(PyannoteDiarization.name), cache_dir=c.hf_cache_dir),
    ]
    return lite + full
