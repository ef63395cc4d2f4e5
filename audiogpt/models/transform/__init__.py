"""Transformation and video: audio inpainting, mono-to-binaural, talking head.

Nothing heavy is imported here: the full backends import torch, diffusers and
transformers only in ``load()``/``run()``, so building the registry stays cheap.
Lite backends come first (the registry's ``auto`` picks lite on a CPU).

Configuration (environment, read when the registry is built):
``AUDIOGPT_INPAINT_MODEL`` (AudioLDM folder or cached HF id),
``AUDIOGPT_HRTF_SOFA`` (a SimpleFreeFieldHRIR .sofa or .npz file),
``AUDIOGPT_WAV2LIP_CHECKPOINT`` (wav2lip.pth / wav2lip_gan.pth).
"""

from __future__ import annotations

from audiogpt.models.base import Backend


def backends() -> list[Backend]:
    from audiogpt.models.transform.binaural_head import SphericalHeadBinaural
    from audiogpt.models.transform.full_binaural import SofaHrtfBinaural
    from audiogpt.models.transform.full_inpaint import LatentDiffusionInpainting
    from audiogpt.models.transform.full_talking_head import Wav2LipTalkingHead
    from audiogpt.models.transform.inpaint_lpc import LpcInpainting
    from audiogpt.models.transform.talking_head_lite import MouthAnimator

    return [LpcInpainting(), SphericalHeadBinaural(), MouthAnimator(),
            LatentDiffusionInpainting(), SofaHrtfBinaural(), Wav2LipTalkingHead()]
