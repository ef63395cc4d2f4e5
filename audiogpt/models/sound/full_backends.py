"""The full (GPU deployment) sound backends, one instance each, built from the backend config."""

from __future__ import annotations

from typing import Any

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Backend


def full_backends(config: BackendConfig | None = None) -> list[Backend]:
    """AST, CLAP (detection and extraction) and Qwen2-Audio, with the configured model ids and device.

    A per-backend id (``AUDIOGPT_MODEL_IDS``) wins over the family setting
    (``AUDIOGPT_SOUND_*_MODEL``), which wins over the module default.
    """
    from audiogpt.models.sound.full_ast import AST_MODEL, AstSoundDetection
    from audiogpt.models.sound.full_caption import CAPTION_MODEL, Qwen2AudioCaption
    from audiogpt.models.sound.full_clap import CLAP_MODEL, ClapExtraction, ClapTargetDetection

    c = config or BackendConfig()

    def kw(name: str) -> dict[str, Any]:
        return {"device": c.device, "fp16": c.fp16, "revision": c.revision(name), "cache_dir": c.hf_cache_dir}

    ast, clap_t, clap_x, cap = (AstSoundDetection.name, ClapTargetDetection.name, ClapExtraction.name,
                                Qwen2AudioCaption.name)
    return [
        AstSoundDetection(c.model(ast, c.sound_ast_model or AST_MODEL), **kw(ast)),
        ClapTargetDetection(c.model(clap_t, c.sound_clap_model or CLAP_MODEL), **kw(clap_t)),
        ClapExtraction(c.model(clap_x, c.sound_clap_model or CLAP_MODEL), **kw(clap_x)),
        Qwen2AudioCaption(c.model(cap, c.sound_caption_model or CAPTION_MODEL), **kw(cap)),
    ]
