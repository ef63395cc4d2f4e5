"""Transformation and video: audio inpainting, mono-to-binaural, talking head.

Nothing heavy is imported here: the full backends import torch, diffusers and
transformers only in ``load()``/``run()``, so building the registry stays cheap.
Lite backends come first (the registry's ``auto`` picks lite on a CPU).

Configuration (settings, handed in as a :class:`BackendConfig`):
``AUDIOGPT_INPAINT_MODEL`` (AudioLDM folder or cached HF id),
``AUDIOGPT_HRTF_SOFA`` (a SimpleFreeFieldHRIR .sofa or .npz file),
``AUDIOGPT_WAV2LIP_CHECKPOINT`` (wav2lip.pth / wav2lip_gan.pth).
"""

from __future__ import annotations

from audiogpt.models.backend_config import BackendConfig
from audiogpt.models.base import Backend


def backends(config: BackendConfig | None = None) -> list[Backend]:
    """Every transformation backend built from ``config``, lite first."""
    from audiogpt.models.transform.binaural_head import SphericalHeadBinaural
    from audiogpt.models.transform.binaural_kemar import KemarHrtfBinaural
    from audiogpt.models.transform.full_binaural import SofaHrtfBinaural
    from audiogpt.models.transform.full_inpaint import DEFAULT_MODEL, LatentDiffusionInpainting
    from audiogpt.models.transform.full_talking_head import Wav2LipTalkingHead
    from audiogpt.models.transform.inpaint_lpc import LpcInpainting
    from audiogpt.models.transform.talking_head_lite import MouthAnimator

    c = config or BackendConfig()
    inpaint = LatentDiffusionInpainting.name
    return [LpcInpainting(), KemarHrtfBinaural(), SphericalHeadBinaural(), MouthAnimator(),
            LatentDiffusionInpainting(c.model(inpaint, c.inpaint_model or DEFAULT_MODEL), device=c.device,
                                      revision=c.revision(inpaint), cache_dir=c.hf_cache_dir),
            SofaHrtfBinaural(c.model(SofaHrtfBinaural.name, c.hrtf_sofa or "") or None),
            Wav2LipTalkingHead(c.model(Wav2LipTalkingHead.name, c.wav2lip_checkpoint or "") or None,
                               device=c.device)]
