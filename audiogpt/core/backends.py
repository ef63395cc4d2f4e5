"""The one place a process builds its backend registry from settings.

The bot (``App``), every Ray replica and ``audiogpt tools`` ask here, so they all
list and run the same backends: the same device (resolved on the machine that runs
them, so a CPU bot next to GPU replicas lists what the replicas will run only when
it is itself told the device), the same model ids, the same cache folders. The
registry is built once per process and per distinct configuration; building it
again would construct every backend again and forget the cached choices.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import cast

from audiogpt.config import Settings
from audiogpt.models import runtime
from audiogpt.models.backend_config import BackendConfig, Dtype
from audiogpt.models.registry import Registry

_LOCK = threading.Lock()
_REGISTRIES: dict[tuple[object, ...], Registry] = {}


def backend_config(settings: Settings, *, resolve: bool = True) -> BackendConfig:
    """What backends are built from; ``resolve=False`` keeps ``device="auto"`` for a replica to resolve."""
    dtype = settings.dtype.strip().lower() or "auto"
    if dtype not in ("auto", "float16", "float32"):
        raise ValueError(f"AUDIOGPT_DTYPE must be auto, float16 or float32, not '{settings.dtype}'.")
    config = BackendConfig(
        device=settings.device.strip().lower() or "auto", dtype=cast(Dtype, dtype),
        cache_dir=settings.cache_dir.expanduser() if settings.cache_dir else None,
        hf_cache_dir=settings.hf_cache_dir or None, models=dict(settings.model_ids),
        models_dir=settings.models_dir.expanduser() if settings.models_dir else None,
        revisions=dict(settings.model_revisions), sound_ast_model=settings.sound_ast_model or None,
        sound_clap_model=settings.sound_clap_model or None, sound_caption_model=settings.sound_caption_model or None,
        inpaint_model=settings.inpaint_model or None, hrtf_sofa=settings.hrtf_sofa or None,
        wav2lip_checkpoint=settings.wav2lip_checkpoint or None)
    return resolved(config) if resolve else config


def resolved(config: BackendConfig) -> BackendConfig:
    """``config`` with its device made concrete here (``runtime.pick_device``, patchable in tests)."""
    return replace(config, device=runtime.pick_device(config.device))


def registry_for(preferences: dict[str, str], config: BackendConfig) -> Registry:
    """The process's registry for these per-task choices and this (resolved) config, built on first use."""
    key = (tuple(sorted(preferences.items())), config.key())
    with _LOCK:
        reg = _REGISTRIES.get(key)
        if reg is None:
            reg = _REGISTRIES[key] = Registry(preferences, config=config)
        return reg


def build_registry(settings: Settings, *, device: str | None = None) -> Registry:
    """The registry for ``settings`` (``device`` forces one, e.g. ``cpu`` for a dry run)."""
    config = backend_config(settings, resolve=device is None)
    if device is not None:
        config = replace(config, device=device)
    return registry_for(dict(settings.backends), config)


def forget_registries() -> None:
    """Drop the process's registries (tests that install weights or plug-ins at run time)."""
    with _LOCK:
        _REGISTRIES.clear()
