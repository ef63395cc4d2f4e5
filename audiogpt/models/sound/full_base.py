"""What the full (transformers) sound backends share: model lookup without downloads, devices.

Same rules as the full speech backends (:mod:`audiogpt.models.speech.full_common`):
a model is a local folder or a Hugging Face id already in the local cache;
``describe()`` only looks at files; ``load()`` passes ``local_files_only=True``,
so absent weights are one :class:`ModelNotInstalled` sentence, never a download.
Model ids come from module constants, overridable per deployment through the
environment variables named next to each constant.
"""

from __future__ import annotations

import os
from typing import Any

from audiogpt.models.base import BackendInfo, BackendKind, ModelNotInstalled
from audiogpt.models.speech.full_common import HFModel, install_hint, why_missing


def model_ref(env: str, default: str) -> str:
    """The model id or folder: ``$env`` when set, else ``default``."""
    return os.environ.get(env, "").strip() or default


class HFBackend:
    """``describe()``/``_require()`` for a backend made of one or more :class:`HFModel`."""

    name: str
    task: str
    kind: BackendKind = "full"
    what: str = ""  # "AST sound event tagger"
    licence: str = ""
    memory: int = 1000
    description: str = ""
    required: tuple[str | tuple[str, ...], ...] = ()

    def __init__(self, model: str, device: str = "auto", fp16: bool = True, revision: str | None = None,
                 cache_dir: str | None = None) -> None:
        self.model = HFModel(model, revision, cache_dir)
        self.device = device
        self.fp16 = fp16

    def _missing(self) -> str:
        return why_missing(self.what, [(self.what, self.model, self.required)])

    def describe(self) -> BackendInfo:
        reason = self._missing()
        return BackendInfo(name=self.name, task=self.task, kind=self.kind,
                           model=f"{self.model.ref} (transformers)", licence=self.licence,
                           installed=not reason, install_hint=install_hint([self.model]), reason=reason,
                           memory_mb=self.memory, description=self.description)

    def _require(self) -> None:
        reason = self._missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + f"; {install_hint([self.model])}.")


def to_device(batch: Any, device: str, dtype: Any) -> dict[str, Any]:
    """Processor output -> tensors on ``device``; floating tensors in the model's dtype."""
    out: dict[str, Any] = {}
    for k, v in dict(batch).items():
        if hasattr(v, "to"):
            v = v.to(device)
            if v.is_floating_point():
                v = v.to(dtype)
        out[k] = v
    return out


def pooled(x: Any) -> Any:
    """transformers 5 returns model outputs from ``get_*_features``; 4.x returned the tensor."""
    return getattr(x, "pooler_output", x)
