"""What a backend is built from: device, dtype, cache folders and per-backend model ids.

``models`` cannot import core's ``Settings``, so core turns the settings into one
of these (``audiogpt.core.backends.backend_config``) and the family packages hand
each backend the fields it needs in its constructor. Backends never read the
environment for their model: a deployment names it once, in settings (or ``.env``),
and the same value reaches the bot process and every Ray replica.

Per-backend overrides are keyed by backend name (``whisper-transformers``,
``ast-audioset``...) so a new backend needs no new setting; the few model paths that
had their own environment variables before keep them as named fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Dtype = Literal["auto", "float16", "float32"]


@dataclass(frozen=True)
class BackendConfig:
    """Everything backend constructors may need; picklable, so it travels to Ray replicas."""

    device: str = "cpu"  # cpu, cuda, cuda:N or mps; "auto" only until the process that builds backends resolves it
    dtype: Dtype = "auto"  # auto = float16 on a GPU, float32 on the CPU; float32 forces full precision
    cache_dir: Path | None = None  # our own writable cache (joined weights, embeddings); None = ~/.cache/audiogpt
    hf_cache_dir: str | None = None  # Hugging Face hub cache for full models; None = the HF default (HF_HOME)
    models_dir: Path | None = None  # AUDIOGPT_MODELS_DIR: <dir>/<org>/<name>, when there, replaces hub id <org>/<name>
    models: Mapping[str, str] = field(default_factory=dict)  # backend name -> model id or local folder
    revisions: Mapping[str, str] = field(default_factory=dict)  # backend name -> hub revision (commit or tag)
    # the model paths that had their own variables before the catalogue of backends was settings-driven
    sound_ast_model: str | None = None
    sound_clap_model: str | None = None
    sound_caption_model: str | None = None
    inpaint_model: str | None = None
    hrtf_sofa: str | None = None
    wav2lip_checkpoint: str | None = None

    @property
    def fp16(self) -> bool:
        """Half precision where the device allows it (full backends still use float32 on a CPU)."""
        return self.dtype != "float32"

    def model(self, backend: str, default: str) -> str:
        """The model id or folder for ``backend``: the per-backend setting, else ``default``.

        A hub id with a copy in ``models_dir`` becomes that folder, so weights an operator pulled
        or copied there are read without a hub cache (an air-gapped machine gets one plain folder).
        """
        ref = (self.models.get(backend) or "").strip() or default
        return self.local_copy(ref) or ref

    def local_copy(self, ref: str) -> str | None:
        """``models_dir/ref`` when ``ref`` is a hub id (org/name) and that folder exists, else None."""
        if self.models_dir is None or ref.count("/") != 1 or ref.startswith(("/", ".", "~")):
            return None
        folder = self.models_dir.expanduser() / ref
        return str(folder) if folder.is_dir() else None

    def revision(self, backend: str) -> str | None:
        return (self.revisions.get(backend) or "").strip() or None

    def cache(self, sub: str) -> Path | None:
        """``cache_dir/sub``, or None so the backend uses its default folder."""
        return self.cache_dir / sub if self.cache_dir is not None else None

    def key(self) -> tuple[object, ...]:
        """A hashable identity, so one process builds one registry per distinct config."""
        return (self.device, self.dtype, str(self.cache_dir), self.hf_cache_dir, str(self.models_dir),
                tuple(sorted(self.models.items())),
                tuple(sorted(self.revisions.items())), self.sound_ast_model, self.sound_clap_model,
                self.sound_caption_model, self.inpaint_model, self.hrtf_sofa, self.wav2lip_checkpoint)
