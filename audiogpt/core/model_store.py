"""The full models on disk: what each task is configured with, where its weights are, getting them.

The bot never downloads a model while it runs (``make run`` must work on a machine with no
network), so fetching weights is an explicit act of an operator: ``audiogpt models pull`` or
``make models``. This module is the one place that maps the registry's full backends to hub
repositories and local folders, and it reads everything from the backends themselves so no side
table of model ids, licences or files can drift from what the loaders do:

- which repositories: a backend's ``hub_models()`` when it declares one, else the
  :class:`~audiogpt.models.speech.full_common.HFModel` values it holds (and those of a backend it
  wraps, e.g. the AudioLDM 2 inside image-to-audio);
- which files: a backend's ``model_files`` allow-list when it declares one, else what
  ``from_pretrained`` reads (configs, tokenizers, safetensors, else ``.bin`` weights), never the
  TensorFlow, Flax, ONNX or half-precision variant copies a repository also carries;
- the licence class: from the backend's own ``describe().licence`` sentence (or a
  ``licence_class`` attribute when the sentence is not enough);
- "does it load": the backend's own ``load()`` and ``run()`` on a one-second input.

``AUDIOGPT_MODELS_DIR`` (a plain folder, ``<dir>/<org>/<name>``) stands in for the hub cache when
it is set: ``pull`` writes there and the backends read from there (``BackendConfig.model``).
"""

from __future__ import annotations

import fnmatch
import gc
import inspect
import io
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np

from audiogpt.config import Settings
from audiogpt.models import runtime
from audiogpt.models.base import Audio, Backend, Image
from audiogpt.models.registry import Registry
from audiogpt.models.speech.full_common import HFModel, hf_cache_dir

log = logging.getLogger(__name__)

LicenceClass = Literal["commercial", "non-commercial", "check"]

# What from_pretrained (transformers and diffusers) reads: configs, tokenizers, weights.
DEFAULT_MODEL_FILES: tuple[str, ...] = ("*.json", "*.txt", "*.model", "*.tiktoken", "*.safetensors", "*.bin")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
# "model.fp16.safetensors", "diffusion_pytorch_model.non_ema.bin": copies the loaders here never ask for
_VARIANT = re.compile(r"[.-](fp16|fp32|bf16|non_ema|ema)\.(safetensors|bin)$")
_NON_COMMERCIAL = re.compile(r"\bCC[- ]BY[- ](?:[A-Z]{2}[- ])?NC\b|non[- ]?commercial|research[- /]only|"
                             r"research/non-commercial|research licence", re.IGNORECASE)
_CHECK = re.compile(r"\bdepends on\b|\bcheck\b|declares no licence", re.IGNORECASE)


class NoNetwork(RuntimeError):
    """The hub cannot be reached from here; ``str()`` is the one sentence the operator gets."""


class PullError(RuntimeError):
    """A download that reached the hub but failed (gated, unknown repo or revision); one sentence."""


def licence_class(licence: str, declared: str | None = None) -> LicenceClass:
    """Commercial use allowed, not allowed, or "check" (the weights are the operator's own or unstated).

    The licence sentence a backend reports is the one record of its terms; a non-commercial part
    anywhere in it (the weights, usually) makes the whole backend non-commercial.
    """
    if declared in ("commercial", "non-commercial", "check"):
        return declared  # type: ignore[return-value]
    if _NON_COMMERCIAL.search(licence):
        return "non-commercial"
    if not licence.strip() or _CHECK.search(licence):
        return "check"
    return "commercial"


def needed_files(files: Iterable[str], patterns: Sequence[str] = DEFAULT_MODEL_FILES) -> list[str]:
    """The files of a repository listing that the loader reads (paths as the hub lists them).

    Within one folder, safetensors win over ``.bin`` weights (from_pretrained prefers them), and
    precision variants are dropped; a ``.bin`` that is not model weights (``training_args.bin``)
    is dropped too. Pure, so the rule is tested without a hub.
    """
    chosen = [f for f in files if any(fnmatch.fnmatch(f, p) or fnmatch.fnmatch(PurePosixPath(f).name, p)
                                      for p in patterns)]
    by_dir: dict[str, list[str]] = {}
    for f in chosen:
        by_dir.setdefault(str(PurePosixPath(f).parent), []).append(f)
    out: list[str] = []
    for group in by_dir.values():
        has_safetensors = any(f.endswith(".safetensors") and not _VARIANT.search(f) for f in group)
        for f in group:
            name = PurePosixPath(f).name
            unwanted = _VARIANT.search(name) or (f.endswith(".bin") and (has_safetensors or "model" not in name))
            if f.endswith(_WEIGHT_SUFFIXES) and unwanted:
                continue
            if f.endswith(".bin.index.json") and has_safetensors:
                continue
            out.append(f)
    return sorted(out)


@dataclass(frozen=True)
class Repo:
    """One model a backend reads: a hub id (in the HF cache or ``AUDIOGPT_MODELS_DIR``) or a folder."""

    ref: str  # hub id, or the folder's path when configured as one
    revision: str | None
    cache_dir: Path  # the HF hub cache this process reads
    folder: Path | None  # a local folder standing in for the hub (configured, or models_dir/<id>)
    hub_id: str | None  # the hub id to download, None for a folder the operator made
    patterns: tuple[str, ...] = DEFAULT_MODEL_FILES

    @property
    def label(self) -> str:
        return self.hub_id or self.ref


@dataclass
class RepoState:
    """Where one repository stands on this machine."""

    id: str
    revision: str | None
    location: Literal["hub-cache", "folder"]
    path: str | None  # the snapshot or folder, when present
    present: bool
    size_bytes: int
    pullable: bool


@dataclass
class ModelRow:
    """One backend of one task as ``audiogpt models list`` shows it."""

    task: str
    backend: str
    kind: str
    model: str
    repos: list[RepoState]
    licence: str
    licence_class: LicenceClass
    size_bytes: int
    present: bool  # every repository it reads is on disk
    ready: bool  # the backend's own check passes (weights and packages)
    reason: str
    device: str
    install_hint: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PullResult:
    repo: str
    revision: str | None
    path: str
    files: int
    size_bytes: int


@dataclass
class VerifyResult:
    task: str
    backend: str
    status: Literal["ok", "failed", "skipped"]
    message: str
    load_s: float | None = None
    run_s: float | None = None
    memory_mb: float | None = None  # resident memory the load added (GPU memory on a GPU)
    outputs: list[str] = field(default_factory=list)


def _walk_models(obj: Any, seen: set[int]) -> list[HFModel]:
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    declared = getattr(obj, "hub_models", None)
    if callable(declared):
        return list(declared())
    found: list[HFModel] = []
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        if isinstance(value, HFModel):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(v for v in value.values() if isinstance(v, HFModel))
        elif isinstance(value, Backend):  # a backend it wraps (AudioLDM 2 inside image-to-audio)
            found.extend(_walk_models(value, seen))
    return found


def backend_models(backend: Backend) -> list[HFModel]:
    """The models ``backend`` loads, de-duplicated in order (see the module docstring)."""
    out: list[HFModel] = []
    for m in _walk_models(backend, set()):
        if m not in out:
            out.append(m)
    return out


class ModelStore:
    """The registry's full backends as models on disk: list, pull, verify, remove."""

    def __init__(self, registry: Registry, settings: Settings) -> None:
        self.registry = registry
        self.settings = settings
        self.models_dir = settings.models_dir.expanduser().resolve() if settings.models_dir else None
        self.default_cache = Path(settings.hf_cache_dir).expanduser() if settings.hf_cache_dir else hf_cache_dir()
        self._scans: dict[Path, Any] = {}

    # --- what is configured -------------------------------------------------------------

    def tasks(self) -> list[str]:
        return list(self.registry._build())

    def backends(self, names: Sequence[str] = (), *, lite: bool = False) -> list[Backend]:
        """Backends of the named tasks (or backend names); every task when none is named."""
        known = self.tasks()
        every = [b for t in known for b in self.registry.backends(t)]
        unknown = [n for n in names if n not in known and not any(b.name == n for b in every)]
        if unknown:
            raise KeyError(f"Unknown task or backend {', '.join(unknown)} (tasks: {', '.join(known)}).")
        picked = [b for b in every if not names or b.task in names or b.name in names]
        return [b for b in picked if lite or b.kind == "full"]

    def repos(self, backend: Backend) -> list[Repo]:
        patterns = tuple(getattr(backend, "model_files", ()) or DEFAULT_MODEL_FILES)
        out: list[Repo] = []
        for m in backend_models(backend):
            cache = Path(m.cache_dir).expanduser() if m.cache_dir else self.default_cache
            if m.is_local:
                folder = Path(m.ref).expanduser().resolve()
                hub_id = self._id_in_models_dir(folder)
                out.append(Repo(m.ref, m.revision, cache, folder, hub_id, patterns))
            else:
                copy = self.models_dir / m.ref if self.models_dir is not None else None
                out.append(Repo(m.ref, m.revision, cache, copy, m.ref, patterns))
        return out

    def _id_in_models_dir(self, folder: Path) -> str | None:
        if self.models_dir is None:
            return None
        try:
            rel = folder.relative_to(self.models_dir)
        except ValueError:
            return None
        return rel.as_posix() if len(rel.parts) == 2 else None

    # --- what is on disk ----------------------------------------------------------------

    def _scan(self, cache: Path) -> Any:
        if cache not in self._scans:
            from huggingface_hub import scan_cache_dir
            from huggingface_hub.errors import CacheNotFound

            try:
                self._scans[cache] = scan_cache_dir(cache)
            except (CacheNotFound, OSError):
                self._scans[cache] = None
        return self._scans[cache]

    def cached_revision(self, repo: Repo) -> Any:
        """The cache's ``CachedRevisionInfo`` for ``repo`` at its revision (``main`` when unset), or None."""
        if repo.hub_id is None:
            return None
        scan = self._scan(repo.cache_dir)
        if scan is None:
            return None
        want = repo.revision or "main"
        for cached in scan.repos:
            if cached.repo_type != "model" or cached.repo_id != repo.hub_id:
                continue
            for rev in cached.revisions:
                if want in rev.refs or rev.commit_hash.startswith(want):
                    return rev
        return None

    def state(self, repo: Repo) -> RepoState:
        if repo.folder is not None and (repo.folder.is_dir() or repo.hub_id is None):
            present = repo.folder.is_dir() and any(repo.folder.iterdir())
            size = sum(p.stat().st_size for p in repo.folder.rglob("*") if p.is_file()) if present else 0
            return RepoState(repo.label, repo.revision, "folder", str(repo.folder) if present else None, present, size,
                             pullable=repo.hub_id is not None)
        rev = self.cached_revision(repo)
        if rev is None:
            return RepoState(repo.label, repo.revision, "hub-cache", None, False, 0, pullable=True)
        return RepoState(repo.label, repo.revision, "hub-cache", str(rev.snapshot_path), bool(rev.files),
                         int(rev.size_on_disk), pullable=True)

    def device_of(self, backend: Backend) -> str:
        if backend.kind == "lite":
            return "cpu"
        return runtime.pick_device(str(getattr(backend, "device", None) or self.registry.config.device))

    def row(self, backend: Backend) -> ModelRow:
        info = backend.describe()
        states = [self.state(r) for r in self.repos(backend)]
        if backend.kind == "full" and states:
            present = all(s.present for s in states)
        else:  # a lite model ships in a package; a full one without hub repos is a file the operator names
            present = info.installed
        return ModelRow(
            task=backend.task, backend=backend.name, kind=backend.kind, model=info.model, repos=states,
            licence=info.licence, licence_class=licence_class(info.licence, getattr(backend, "licence_class", None)),
            size_bytes=sum(s.size_bytes for s in states), present=present, ready=info.installed,
            reason=info.reason, device=self.device_of(backend), install_hint=info.install_hint)

    def rows(self, names: Sequence[str] = (), *, lite: bool = False) -> list[ModelRow]:
        return [self.row(b) for b in self.backends(names, lite=lite)]

    # --- pull -----------------------------------------------------------------------------

    def pull_plan(self, names: Sequence[str]) -> tuple[list[Repo], list[str]]:
        """Distinct repositories to download for the named tasks, and one sentence per thing skipped."""
        repos: list[Repo] = []
        skipped: list[str] = []
        for b in self.backends(names):
            rs = self.repos(b)
            if not rs:
                skipped.append(f"{b.name} ({b.task}) reads a file you configure, nothing to download: "
                               f"{b.describe().install_hint or 'see its setting in .env.example'}.")
            for r in rs:
                if r.hub_id is None:
                    skipped.append(f"{b.name} ({b.task}) reads the folder {r.ref}, which is yours to fill.")
                elif all((r.hub_id, r.revision) != (x.hub_id, x.revision) for x in repos):
                    repos.append(r)
        return repos, skipped

    def pull(self, repo: Repo, *, progress: bool = True, token: str | None = None,
             list_files: Callable[[Repo, str | None], list[str]] | None = None,
             on_start: Callable[[list[str]], None] | None = None) -> PullResult:
        """Download the files ``repo``'s loader reads; an interrupted download resumes where it stopped.

        The repository's file list is asked first (one small request, which is also the network
        check); ``on_start`` gets the chosen files once the hub answered, so a machine with no
        network prints nothing but the one sentence. Raises :class:`NoNetwork` or
        :class:`PullError`, each with one sentence.
        """
        assert repo.hub_id is not None
        if _offline_env():
            raise NoNetwork(offline_sentence("HF_HUB_OFFLINE is set"))
        from huggingface_hub import snapshot_download

        token = token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None
        lister = list_files or _hub_files
        try:
            files = needed_files(lister(repo, token), repo.patterns)
            if not files:
                raise PullError(f"{repo.hub_id} has no file this backend's loader reads ({', '.join(repo.patterns)}).")
            if on_start is not None:
                on_start(files)
            kwargs: dict[str, Any] = {"revision": repo.revision, "allow_patterns": files, "token": token,
                                      "endpoint": os.environ.get("HF_ENDPOINT") or None}
            if repo.folder is not None:
                kwargs["local_dir"] = str(repo.folder)
            else:
                kwargs["cache_dir"] = str(repo.cache_dir)
            if not progress:
                from huggingface_hub.utils import disable_progress_bars

                disable_progress_bars()
            path = snapshot_download(repo.hub_id, **kwargs)
        except (NoNetwork, PullError):
            raise
        except Exception as exc:
            raise _classify(exc, repo) from exc
        self._scans.clear()
        size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and ".cache" not in p.parts)
        return PullResult(repo.hub_id, repo.revision, str(path), len(files), size)

    # --- verify ---------------------------------------------------------------------------

    def verify(self, backend: Backend) -> VerifyResult:
        """Load ``backend`` through its own ``load()`` and run its ``run()`` on a one-second input."""
        row = self.row(backend)
        if not row.present:
            why = f"not present here: {row.reason}" if row.reason else "not present here"
            return VerifyResult(backend.task, backend.name, "skipped", why)
        inputs, why = smoke_inputs(backend)
        rss0, gpu = _memory_mb(), _gpu_reset(row.device)
        t0 = time.perf_counter()
        try:
            model = backend.load()
        except Exception as exc:
            return VerifyResult(backend.task, backend.name, "failed", f"load failed: {_one_line(exc)}")
        load_s = time.perf_counter() - t0
        used = (_gpu_peak_mb() if gpu else None) or max(0.0, _memory_mb() - rss0)
        if why:
            del model
            gc.collect()
            return VerifyResult(backend.task, backend.name, "ok", f"loaded; not run ({why})", load_s, None, used)
        t1 = time.perf_counter()
        try:
            result = backend.run(model, **inputs)
        except Exception as exc:
            return VerifyResult(backend.task, backend.name, "failed", f"loaded, but the smoke run failed: "
                                f"{_one_line(exc)}", load_s, time.perf_counter() - t1, used)
        finally:
            del model
            gc.collect()
            _gpu_free()
        run_s = time.perf_counter() - t1
        outs = [o.name for o in result.outputs]
        text = (result.text or "").strip().replace("\n", " ")
        summary = f"loaded and ran: {text[:80]!r}" if text else "loaded and ran"
        return VerifyResult(backend.task, backend.name, "ok", summary, load_s, run_s, used, outs)

    # --- remove ---------------------------------------------------------------------------

    def removal_plan(self, names: Sequence[str], *, include_shared: bool = False) -> tuple[list[RepoState], list[str]]:
        """What ``rm`` would delete for the named tasks, and why anything is kept.

        A repository another (unnamed) task also reads is kept unless ``include_shared``; a folder
        outside ``AUDIOGPT_MODELS_DIR`` is the operator's and is never deleted.
        """
        chosen = self.backends(names)
        others = [b for b in self.backends(()) if b not in chosen]
        gone: list[RepoState] = []
        kept: list[str] = []
        for b in chosen:
            for r in self.repos(b):
                s = self.state(r)
                if not s.present or any(x.path == s.path for x in gone):
                    continue
                if s.location == "folder" and r.hub_id is None:
                    kept.append(f"{s.path} is a folder you configured; remove it yourself.")
                    continue
                users = sorted({o.task for o in others if any(self.state(x).path == s.path for x in self.repos(o))})
                if users and not include_shared:
                    kept.append(f"{s.id} is kept: {', '.join(users)} also use it (--include-shared removes it).")
                    continue
                gone.append(s)
        return gone, kept

    def remove(self, states: Sequence[RepoState]) -> int:
        """Delete the planned revisions/folders; returns the bytes freed."""
        freed = 0
        for s in states:
            if s.location == "folder" and s.path:
                shutil.rmtree(s.path)
                freed += s.size_bytes
                continue
            for cache, scan in list(self._scans.items()):
                if scan is None:
                    continue
                for cached in scan.repos:
                    for rev in cached.revisions:
                        if str(rev.snapshot_path) == s.path:
                            strategy = scan.delete_revisions(rev.commit_hash)
                            freed += strategy.expected_freed_size
                            strategy.execute()
                            _drop_empty_repo(cached.repo_path)
                            log.info("removed %s@%s from %s", cached.repo_id, rev.commit_hash, cache)
        self._scans.clear()
        return freed


# --- helpers ---------------------------------------------------------------------------------


def offline_sentence(why: str) -> str:
    return (f"There is no network to the Hugging Face hub here ({why}), so nothing was downloaded; "
            "run `audiogpt models pull` on a machine with network and copy the cache or AUDIOGPT_MODELS_DIR over.")


def _offline_env() -> bool:
    return (os.environ.get("HF_HUB_OFFLINE") or "").strip().lower() in ("1", "true", "yes", "on")


def _hub_files(repo: Repo, token: str | None) -> list[str]:
    """The repository's file list at the revision (one small request; also the network check)."""
    from huggingface_hub import HfApi

    assert repo.hub_id is not None
    info = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None).model_info(
        repo.hub_id, revision=repo.revision, token=token, timeout=15)
    return [s.rfilename for s in (info.siblings or [])]


def _classify(exc: Exception, repo: Repo) -> Exception:
    """A hub exception as :class:`NoNetwork` or :class:`PullError` with one sentence."""
    from huggingface_hub import errors

    name = repo.hub_id or repo.ref
    if isinstance(exc, errors.GatedRepoError):
        return PullError(f"{name} is gated: accept its terms at https://huggingface.co/{name} and set HF_TOKEN to "
                         "a token of that account.")
    if isinstance(exc, errors.RevisionNotFoundError):
        return PullError(f"{name} has no revision '{repo.revision}' (see AUDIOGPT_MODEL_REVISIONS).")
    if isinstance(exc, errors.RepositoryNotFoundError):
        return PullError(f"{name} does not exist on the hub, or is private and HF_TOKEN does not reach it.")
    if isinstance(exc, errors.HfHubHTTPError):
        return PullError(f"The hub refused {name} ({_one_line(exc)}).")
    if isinstance(exc, errors.OfflineModeIsEnabled):
        return NoNetwork(offline_sentence("huggingface_hub is in offline mode"))
    transport = {c.__name__ for c in type(exc).__mro__} & {"TransportError", "TimeoutException", "NetworkError"}
    if isinstance(exc, (errors.LocalEntryNotFoundError, ConnectionError)) or transport:
        return NoNetwork(offline_sentence(_network_reason(exc)))
    if isinstance(exc, OSError):
        return PullError(f"{name} could not be written ({_one_line(exc)}).")
    return PullError(f"{name} could not be downloaded ({type(exc).__name__}: {_one_line(exc)}).")


def _network_reason(exc: BaseException) -> str:
    """A few words on why the hub is unreachable; the raw message may hold several sentences."""
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    text = " ".join(f"{type(e).__name__} {e}" for e in (exc, exc.__cause__, exc.__context__) if e).lower()
    if "timeout" in text or "timed out" in text:
        why = "timed out"
    elif "refused" in text:
        why = "connection refused"
    elif "name or service" in text or "resolution" in text or "nodename" in text or "getaddrinfo" in text:
        why = "its name does not resolve"
    else:
        why = "cannot connect"
    return f"{endpoint}: {why}"


def _one_line(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:200].rstrip(".")


def _drop_empty_repo(repo_path: Path) -> None:
    """Remove a cache repo folder with no snapshot left (scan_cache_dir's strategy keeps its refs)."""
    snaps = repo_path / "snapshots"
    if not snaps.is_dir() or not any(snaps.iterdir()):
        shutil.rmtree(repo_path, ignore_errors=True)


def _png(size: int = 64) -> bytes:
    """A small gradient picture (image-to-audio, talking-head inputs) without a file on disk."""
    from PIL import Image as PILImage

    y, x = np.mgrid[0:size, 0:size]
    rgb = np.stack([x * 4 % 256, y * 4 % 256, (x + y) * 2 % 256], axis=-1).astype(np.uint8)
    buf = io.BytesIO()
    PILImage.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _tone(seconds: float = 1.0, rate: int = 16_000) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)
    return Audio(x.astype(np.float32), rate)


# A smoke value per run() keyword, by parameter name, so no task needs its own entry here.
_SMOKE: dict[str, Callable[[], Any]] = {
    "audio": _tone, "reference": _tone, "text": lambda: "Hello from the model check.", "query": lambda: "a tone",
    "lyrics": lambda: "la la la", "notes": lambda: "C4 D4 E4", "target_language": lambda: "fr",
    "image": lambda: Image(_png()), "seconds": lambda: 1.0, "seed": lambda: 0, "start": lambda: 0.4,
    "end": lambda: 0.6,
}


def smoke_inputs(backend: Backend) -> tuple[dict[str, Any], str]:
    """``run()`` keywords for a one-second check, and "" (or why it cannot be run) ."""
    try:
        params = list(inspect.signature(backend.run).parameters.values())[1:]  # after the model
    except (TypeError, ValueError):
        return {}, "its run() signature cannot be read"
    inputs: dict[str, Any] = {}
    for p in params:
        if p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL) or p.name == "progress":
            continue
        make = _SMOKE.get(p.name)
        if make is not None:
            inputs[p.name] = make()
        elif p.default is inspect.Parameter.empty:
            return {}, f"no smoke input for its '{p.name}' argument"
    return inputs, ""


def _memory_mb() -> float:
    """This process's resident memory in MB (Linux /proc, else psutil when installed, else 0)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError, AttributeError):
        pass
    try:
        import psutil

        return float(psutil.Process().memory_info().rss) / 2**20
    except Exception:
        return 0.0


def _gpu_reset(device: str) -> bool:
    if not device.startswith("cuda"):
        return False
    try:
        import torch

        torch.cuda.reset_peak_memory_stats()
        return True
    except Exception:
        return False


def _gpu_peak_mb() -> float | None:
    try:
        import torch

        return float(torch.cuda.max_memory_allocated()) / 2**20
    except Exception:
        return None


def _gpu_free() -> None:
    try:
        import sys

        torch = sys.modules.get("torch")
        if torch is not None and torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:
        pass


def open_store(settings: Settings, *, device: str | None = None) -> ModelStore:
    """The store over this process's registry (the same backends ``audiogpt tools`` lists)."""
    from audiogpt.core.backends import build_registry

    return ModelStore(build_registry(settings, device=device), settings)
