"""The full (GPU deployment) sound backends, one instance each; models named by env overrides."""

from __future__ import annotations

from audiogpt.models.base import Backend


def full_backends() -> list[Backend]:
    from audiogpt.models.sound.full_ast import AstSoundDetection
    from audiogpt.models.sound.full_caption import Qwen2AudioCaption
    from audiogpt.models.sound.full_clap import ClapExtraction, ClapTargetDetection

    return [AstSoundDetection(), ClapTargetDetection(), ClapExtraction(), Qwen2AudioCaption()]
