"""Full speaker diarization with pyannote.audio's pipeline (segmentation + embeddings + clustering).

pyannote is the reference open diarization system: its segmentation model sees up
to three speakers at once in every 10 s window, so it finds overlapped speech, which
the lite backend cannot. The pipeline is loaded by model id (default
``pyannote/speaker-diarization-community-1``; ``pyannote/speaker-diarization-3.1``
works too) or from a local folder holding its ``config.yaml``. The hub weights are
gated: accept the model's conditions once on the hub and give the deployment a token
(``HF_TOKEN``), or the load fails with one sentence saying so.

Both pyannote.audio 3.x (``use_auth_token=``, returns an ``Annotation``) and 4.x
(``token=``, returns an output whose ``speaker_diarization`` is the annotation) are
handled. Installing pyannote.audio pulls torchaudio, whose wheels must match the
deployment's torch: on this project's pinned torch (2.13.0) the newest torchaudio
(2.11.1) does not load, so the backend reports itself not installed until a matching
torchaudio exists; the import failure is caught and said in one sentence.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from audiogpt.models.base import (
    Audio,
    BackendBase,
    BackendResult,
    ModelNotInstalled,
    ProgressReport,
)
from audiogpt.models.speech.diarize_lite import (
    Segment,
    check_request,
    diarization_answer,
    is_silent,
)

DEFAULT_MODEL = "pyannote/speaker-diarization-community-1"
RATE = 16_000
MAX_DURATION_S = 4 * 3600.0
INSTALL_HINT = ("install it with `pip install pyannote.audio` (its torchaudio must match the installed torch), "
                "accept the model's conditions on the Hugging Face hub and set HF_TOKEN")


def _is_path(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).expanduser().exists()


def annotation_segments(output: Any) -> tuple[list[Segment], dict[str, str]]:
    """Segments from what a pyannote pipeline returned (4.x output or a 3.x ``Annotation``).

    Speakers are renamed "Speaker 1", "Speaker 2"... in order of first appearance (pyannote's
    own labels, ``SPEAKER_00``..., are returned as the mapping for anyone who needs them).
    """
    annotation = getattr(output, "speaker_diarization", output)
    tracks = sorted(((float(seg.start), float(seg.end), str(label))
                     for seg, _track, label in annotation.itertracks(yield_label=True)), key=lambda t: t[:2])
    names: dict[str, str] = {}
    segments = []
    for start, end, label in tracks:
        if end <= start:
            continue
        name = names.setdefault(label, f"Speaker {len(names) + 1}")
        segments.append(Segment(name, round(start, 3), round(end, 3)))
    return segments, names


class PyannoteDiarization(BackendBase):
    """pyannote.audio's speaker-diarization pipeline, on the configured device."""

    name = "pyannote-diarization"
    task = "speaker_diarization"
    kind = "full"
    install_hint = INSTALL_HINT
    info_licence = "MIT (pyannote.audio); the pipelines' weights are gated (CC-BY-4.0 / MIT, see their cards)"
    info_memory_mb = 1500
    info_description = ("Who spoke when with pyannote.audio: neural segmentation (detects overlapping speech), "
                        "speaker embeddings and clustering; counts the speakers itself.")
    requires_modules = ("torch", "pyannote.audio")
    tag = "full: pyannote.audio speaker-diarization pipeline"
    # what Pipeline.from_pretrained reads from the repo (`audiogpt models pull` fetches only these)
    model_files = ("*.yaml", "*.json", "*.bin", "*.safetensors", "*.npz")

    def hub_models(self) -> tuple[Any, ...]:
        """The gated pipeline repo ``audiogpt models`` lists and pulls (HF_TOKEN); none for a folder."""
        from audiogpt.models.speech.full_common import HFModel

        return () if _is_path(self.model) else (HFModel(self.model, self.revision, self.cache_dir),)

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu", revision: str | None = None,
                 cache_dir: str | None = None, token: str | None = None) -> None:
        self.model = model
        self.device = device
        self.revision = revision
        self.cache_dir = cache_dir
        self._token = token
        self.info_model = model

    def _missing(self) -> str:
        if _is_path(self.model):
            folder = Path(self.model).expanduser()
            config = folder if folder.is_file() else folder / "config.yaml"
            if not config.is_file():
                return f"The full backend '{self.name}' found no pipeline config.yaml at {folder}."
        return ""

    def token(self) -> str | None:
        """The hub token: the one given, else ``HF_TOKEN`` (a secret, so it stays out of settings files)."""
        return self._token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None

    def load(self) -> Any:
        self._require()
        try:
            from pyannote.audio import Pipeline
        except (ImportError, OSError) as exc:  # a torchaudio built for another torch fails with OSError
            raise ModelNotInstalled(f"pyannote.audio is installed but cannot be imported ({type(exc).__name__}: "
                                    f"{str(exc)[:120]}); {self.install_hint}.") from exc
        import inspect

        ref: str | Path = self.model
        if _is_path(self.model):
            folder = Path(self.model).expanduser()
            ref = folder if folder.is_file() else folder / "config.yaml"
        params = inspect.signature(Pipeline.from_pretrained).parameters
        kwargs: dict[str, Any] = {}
        token = self.token()
        if not _is_path(self.model):
            if "token" in params:  # pyannote.audio 4.x
                kwargs["token"] = token
            elif "use_auth_token" in params:  # 3.x
                kwargs["use_auth_token"] = token
            if self.revision and "revision" in params:
                kwargs["revision"] = self.revision
            if self.cache_dir and "cache_dir" in params:
                kwargs["cache_dir"] = self.cache_dir
        try:
            pipeline = Pipeline.from_pretrained(ref, **kwargs)
        except Exception as exc:
            raise ModelNotInstalled(self._load_failure(exc)) from exc
        if pipeline is None:  # 3.x returns None for a gated model it could not fetch
            raise ModelNotInstalled(self._load_failure(None))
        if self.device and self.device != "cpu":
            import torch

            pipeline.to(torch.device(self.device))
        return pipeline

    def _load_failure(self, exc: Exception | None) -> str:
        why = f" ({type(exc).__name__}: {str(exc)[:160]})" if exc is not None else ""
        if not _is_path(self.model) and not self.token():
            return (f"The pyannote pipeline '{self.model}' could not be loaded{why}: its weights are gated, so "
                    "accept its conditions on the Hugging Face hub and set HF_TOKEN.")
        return f"The pyannote pipeline '{self.model}' could not be loaded{why}."

    def run(self, model: Any, *, audio: Audio, speakers: int | None = None, min_speakers: int | None = None,
            max_speakers: int | None = None, progress: ProgressReport | None = None) -> BackendResult:
        audio, fixed, lo, hi = check_request(audio, speakers, min_speakers, max_speakers, MAX_DURATION_S)
        if is_silent(audio):
            return BackendResult(
                text=f"The {audio.duration:.1f} s clip is silent: nobody speaks in it, so there are no speakers.",
                data={"backend": self.name, "duration": round(audio.duration, 2), "speakers": 0, "segments": [],
                      "silent": True})
        import torch

        from audiogpt.models.speech.dsp import to_mono_rate

        x = to_mono_rate(audio, RATE)
        file = {"waveform": torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, :],
                "sample_rate": RATE, "uri": "audio"}
        kwargs: dict[str, Any] = {}
        if fixed is not None:
            kwargs["num_speakers"] = fixed
        else:
            if min_speakers is not None:
                kwargs["min_speakers"] = lo
            if max_speakers is not None:
                kwargs["max_speakers"] = hi
        if progress is not None:
            kwargs["hook"] = _Hook(progress)
        with torch.inference_mode():
            output = model(file, **kwargs)
        segments, names = annotation_segments(output)
        return diarization_answer(audio, segments, backend=self.name, tag=self.tag,
                                  extra={"model": self.model, "labels": {v: k for k, v in names.items()}})


class _Hook:
    """pyannote's progress hook protocol -> our progress report: ``(step, artifact, file, total, completed)``."""

    STEPS: ClassVar[dict[str, tuple[float, float]]] = {"segmentation": (0.0, 0.4), "speaker_counting": (0.4, 0.45), "embeddings": (0.45, 0.9),
             "discrete_diarization": (0.9, 1.0)}

    def __init__(self, report: ProgressReport) -> None:
        self.report = report

    def __call__(self, step_name: str, step_artifact: Any = None, file: Any = None, total: int | None = None,
                 completed: int | None = None) -> None:
        lo, hi = self.STEPS.get(step_name, (None, None))
        frac = None
        if lo is not None and hi is not None:
            frac = lo + (hi - lo) * (completed / total if total and completed is not None else 1.0)
        self.report(frac, step_name.replace("_", " "))
