"""What the full (transformers) sound backends share: model lookup without downloads, devices.

Same rules as the full speech backends (:mod:`audiogpt.models.speech.full_common`):
a model is a local folder or a Hugging Face id already in the local cache;
``describe()`` only looks at files; ``load()`` passes ``local_files_only=True``,
so absent weights are one :class:`ModelNotInstalled` sentence, never a download.
Model ids default to module constants; a deployment names others in settings
(``AUDIOGPT_SOUND_*_MODEL``, ``AUDIOGPT_MODEL_IDS``), which reach the constructor through
:func:`audiogpt.models.sound.backends`.
"""

from __future__ import annotations

from typing import Any

from audiogpt.models.base import BackendBase, BackendKind
from audiogpt.models.speech.full_common import HFModel, install_hint, why_missing


class HFBackend(BackendBase):
    """A backend made of one :class:`HFModel`: ``describe()``/``_require()`` come from :class:`BackendBase`."""

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

    # what BackendBase.describe() reports, from this family's own attribute names
    @property
    def install_hint(self) -> str:  # type: ignore[override]
        return install_hint([self.model])

    @property
    def info_model(self) -> str:  # type: ignore[override]
        return f"{self.model.ref} (transformers)"

    @property
    def info_licence(self) -> str:  # type: ignore[override]
        return self.licence

    @property
    def info_memory_mb(self) -> int:  # type: ignore[override]
        return self.memory

    @property
    def info_description(self) -> str:  # type: ignore[override]
        return self.description


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
