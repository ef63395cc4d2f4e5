"""Generation: text-to-audio, image-to-audio, text-to-music and singing (lite and full backends)."""

from __future__ import annotations

from audiogpt.models.base import Backend


def backends() -> list[Backend]:
    """Every generation backend, lite ones first (the registry's ``auto`` picks lite on a CPU)."""
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

    full: list[Backend] = [AudioLDM2TextToAudio(), BlipAudioLDM2ImageToAudio(), MusicgenTextToMusic(),
                           MmsWorldSinging()]
    return lite + full
