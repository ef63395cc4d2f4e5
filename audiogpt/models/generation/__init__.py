"""Generation: text-to-audio, image-to-audio, text-to-music and singing (lite and full backends)."""

from __future__ import annotations

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Backend


def backends(config: BackendConfig | None = None) -> list[Backend]:
    """Every generation backend built from ``config``, lite ones first (``auto`` picks lite on a CPU)."""
    from audiogpt.models.generation.lite import (
        AlgorithmicComposer,
        ColourCuesToSound,
        ProceduralSoundDesign,
        WorldSinging,
    )

    lite: list[Backend] = [ProceduralSoundDesign(), ColourCuesToSound(), AlgorithmicComposer(), WorldSinging()]
    from audiogpt.models.generation.full_audioldm import AudioLDM2TextToAudio
    from audiogpt.models.generation.full_image import BlipAudioLDM2ImageToAudio
    from audiogpt.models.generation.full_musicgen import MusicgenTextToMusic
    from audiogpt.models.generation.full_singing import MmsWorldSinging

    c = config or BackendConfig()
    ldm, blip, music, sing = (AudioLDM2TextToAudio.name, BlipAudioLDM2ImageToAudio.name, MusicgenTextToMusic.name,
                              MmsWorldSinging.name)
    audioldm = AudioLDM2TextToAudio(c.model(ldm, "cvssp/audioldm2"), device=c.device, fp16=c.fp16,
                                    revision=c.revision(ldm), cache_dir=c.hf_cache_dir)
    # image-to-audio sounds its caption with the same AudioLDM 2 (one set of weights, one setting)
    full: list[Backend] = [
        audioldm,
        BlipAudioLDM2ImageToAudio(c.model(blip, "Salesforce/blip-image-captioning-base"), sound=audioldm,
                                  device=c.device, fp16=c.fp16, revision=c.revision(blip), cache_dir=c.hf_cache_dir),
        MusicgenTextToMusic(c.model(music, "facebook/musicgen-small"), device=c.device, fp16=c.fp16,
                            revision=c.revision(music), cache_dir=c.hf_cache_dir),
        MmsWorldSinging(c.model(sing, "facebook/mms-tts-eng"), device=c.device, cache_dir=c.hf_cache_dir),
    ]
    return lite + full
