"""The contract every model backend implements, and the audio value passed around.

Backends know nothing about chats, platforms or storage: they receive decoded
inputs (an :class:`Audio`, image bytes, plain arguments) and return a
:class:`BackendResult`. Core turns artifact ids into inputs and outputs into
artifacts, so a backend can be reused by any runner (in-process, Ray Serve).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

BackendKind = Literal["full", "lite"]

# A backend whose ``run`` takes a ``progress`` keyword gets one of these: call it from the worker
# thread with (fraction 0..1 or None, a few words such as "generating 8 s of audio"). It never blocks.
ProgressReport = Callable[[float | None, str], None]


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 samples in [-1, 1].

    ``samples`` is 1-D for mono or ``(channels, frames)`` for multi-channel.
    """

    samples: np.ndarray
    sample_rate: int  # Hertz

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[-1])

    @property
    def duration(self) -> float:
        """Seconds."""
        return self.frames / float(self.sample_rate) if self.sample_rate else 0.0

    def mono(self) -> Audio:
        if self.samples.ndim == 1:
            return self
        return Audio(self.samples.mean(axis=0).astype(np.float32), self.sample_rate)


@dataclass(frozen=True)
class Image:
    """An encoded image as received (PNG/JPEG/...)."""

    data: bytes
    mime: str = "image/png"


@dataclass
class OutputFile:
    """One file a backend produced. Either ``audio`` (core encodes it) or raw ``data``."""

    name: str  # a short stem such as "speech" or "timeline"; core adds the id and extension
    audio: Audio | None = None
    data: bytes | None = None
    mime: str | None = None  # required with ``data``
    description: str = ""


@dataclass
class BackendResult:
    """What a backend returns: text for the LLM/user, files, and structured data."""

    text: str = ""
    outputs: list[OutputFile] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendInfo:
    """Capability record (Wyoming ``Info`` style): what a backend is and whether it can run here."""

    name: str  # e.g. "faster-whisper-tiny-en"
    task: str  # tool name it serves
    kind: BackendKind
    model: str  # model id or package it loads
    licence: str
    installed: bool
    install_hint: str = ""  # how to install it, one clause
    reason: str = ""  # why it is not available, one sentence
    memory_mb: int = 0  # rough resident size once loaded, for the cache budget
    description: str = ""

    def unavailable_message(self) -> str:
        """The one sentence a user gets when this backend cannot run."""
        msg = self.reason or f"The {self.kind} backend '{self.name}' for {self.task} is not installed."
        if self.install_hint:
            msg = msg.rstrip(".") + f"; {self.install_hint}."
        return msg


class ModelNotInstalled(RuntimeError):
    """Raised when a backend's package or weights are absent. ``str()`` is one sentence."""


class BadInput(ValueError):
    """Raised by a backend for input it cannot work with. ``str()`` is one sentence for the user."""


@runtime_checkable
class Backend(Protocol):
    """One model behind one task. Nothing heavy happens in ``__init__``."""

    name: str
    task: str
    kind: BackendKind

    def describe(self) -> BackendInfo:
        """Cheap: must not import heavy packages or load weights."""
        ...

    def load(self) -> Any:
        """Load weights (blocking; called in a worker thread, cached by the runtime)."""
        ...

    def run(self, model: Any, **inputs: Any) -> BackendResult:
        """Run inference (blocking; called in a worker thread) with the object ``load`` returned.

        A long-running backend may declare a ``progress: ProgressReport | None = None`` keyword;
        core passes it only to backends whose ``run`` names it.
        """
        ...


def accepts_progress(backend: Any) -> bool:
    """True when ``backend.run`` declares a ``progress`` keyword."""
    import inspect

    try:
        return "progress" in inspect.signature(backend.run).parameters
    except (TypeError, ValueError):
        return False


def have_module(name: str) -> bool:
    """True when ``name`` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


class BackendBase:
    """The one base of every backend: ``describe()``, the load guard and a declared install check.

    A subclass sets ``name``, ``task``, ``kind``, ``install_hint`` and the ``info_*``
    attributes, and declares what must be installed: ``requires_modules`` (importable
    packages, looked up without importing them) and ``required_files()`` (weights,
    model folders' files, libraries). Anything subtler (a model folder's layout, a
    configured path left empty) goes in ``_missing()``, one sentence or "". The checks
    only look at files, so ``describe()`` stays cheap enough to run on every listing.
    ``run_batch`` is optional: a backend that defines it is batched by the serving layer.
    """

    name: str
    task: str
    kind: BackendKind
    install_hint: str = ""
    info_model: str = ""
    info_licence: str = ""
    info_memory_mb: int = 0
    info_description: str = ""
    requires_modules: tuple[str, ...] = ()

    def required_files(self) -> tuple[Path, ...]:
        """Files that must exist for the backend to run (none by default)."""
        return ()

    def _missing(self) -> str:
        """Why it cannot run beyond the declared modules and files, or ""."""
        return ""

    def missing(self) -> str:
        """One sentence saying why this backend cannot run here, or "" when it can."""
        absent = [m for m in self.requires_modules if not have_module(m)]
        if absent:
            which = "the " + " and ".join(absent) + (" packages, which are" if len(absent) > 1 else " package, which is")
            return f"The {self.kind} backend '{self.name}' needs {which} not installed."
        files = [p for p in self.required_files() if not Path(p).is_file()]
        if files:
            names = ", ".join(Path(p).name for p in files)
            return f"The {self.kind} backend '{self.name}' is missing {names} (looked in {Path(files[0]).parent})."
        return self._missing()

    def describe(self) -> BackendInfo:
        reason = self.missing()
        return BackendInfo(name=self.name, task=self.task, kind=self.kind, model=self.info_model,
                           licence=self.info_licence, installed=not reason, install_hint=self.install_hint,
                           reason=reason, memory_mb=self.info_memory_mb, description=self.info_description)

    def _require(self) -> None:
        """Raise :class:`ModelNotInstalled` (one sentence with the install hint) when it cannot run."""
        reason = self.missing()
        if reason:
            raise ModelNotInstalled(reason.rstrip(".") + (f"; {self.install_hint}." if self.install_hint else "."))


# The name the lite backends were written against; the same class.
CheckedBackend = BackendBase


def supports_batch(backend: object) -> bool:
    """True when ``backend`` runs several requests in one call (``run_batch(model, inputs)``)."""
    return callable(getattr(backend, "run_batch", None))
